package publicaddr

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/pion/stun/v3"

	"github.com/pathpin/pathpin/internal/health"
)

func goodSTUN(t *testing.T, ip string) *fakeSTUN {
	return newFakeSTUN(t, func(_ int, req *stun.Message) [][]byte {
		return [][]byte{answer(t, req, stun.BindingSuccess, xorAddr(ip))}
	})
}

func closedUDPPort(t *testing.T) string {
	pc, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	return pc.LocalAddr().String()
}

// TestFinderTakesTheFirstAnswer: sources are asked in order, failures
// are skipped (a silent server only for Timeout), and none after the
// first answer is asked.
func TestFinderTakesTheFirstAnswer(t *testing.T) {
	silent := newFakeSTUN(t, func(int, *stun.Message) [][]byte { return nil })
	junk := newEcho(t, http.StatusOK, "junk")
	first := goodSTUN(t, "203.0.113.5")
	second := newEcho(t, http.StatusOK, "203.0.113.9")
	var logs bytes.Buffer
	f := &Finder{
		Sources: []Source{{KindSTUN, silent.Addr}, {KindSTUN, closedUDPPort(t)}, {KindHTTP, junk.URL},
			{KindSTUN, first.Addr}, {KindHTTP, second.URL}},
		Timeout: 200 * time.Millisecond,
		Log:     slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
	}
	start := time.Now()
	addr, src, err := f.Find(context.Background(), health.Path{})
	if err != nil {
		t.Fatal(err)
	}
	if addr != netip.MustParseAddr("203.0.113.5") || src != f.Sources[3] {
		t.Errorf("got %s from %v; want 203.0.113.5 from %v", addr, src, f.Sources[3])
	}
	if d := time.Since(start); d > time.Second {
		t.Errorf("took %v: the silent server held it past its timeout", d)
	}
	if len(junk.hits()) != 1 || len(second.hits()) != 0 {
		t.Errorf("the junk echo was asked %d times and the last source %d; want 1 and 0", len(junk.hits()), len(second.hits()))
	}
	if n := strings.Count(logs.String(), "public address source failed"); n != 3 {
		t.Errorf("%d failures logged, want 3:\n%s", n, logs.String())
	}
}

func TestFinderFallsBackToHTTP(t *testing.T) {
	e := newEcho(t, http.StatusOK, "203.0.113.9\n")
	f := &Finder{Sources: Sources([]string{closedUDPPort(t)}, []string{e.URL})}
	addr, src, err := f.Find(context.Background(), health.Path{})
	if err != nil || addr != netip.MustParseAddr("203.0.113.9") || src.Kind != KindHTTP {
		t.Errorf("got %v from %v, %v; want 203.0.113.9 from the echo", addr, src, err)
	}
}

func TestFinderReportsEveryFailure(t *testing.T) {
	bad := newEcho(t, http.StatusOK, "2001:db8::1")
	dead := closedUDPPort(t)
	f := &Finder{Sources: Sources([]string{dead}, []string{bad.URL})}
	_, _, err := f.Find(context.Background(), health.Path{Device: "lo"})
	if err == nil {
		t.Fatal("no error though no source answered")
	}
	for _, want := range []string{"no public address for lo from 2 sources", dead, bad.URL, "nothing listens", "not an IPv4 address"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("%q does not say %q", err, want)
		}
	}
	if !errors.Is(err, ErrNoAnswer) || !errors.Is(err, ErrBadAnswer) {
		t.Errorf("%v does not wrap both sources' errors", err)
	}
	if strings.Contains(err.Error(), "\n") {
		t.Errorf("%q is not one line", err)
	}
	if _, _, err := (&Finder{}).Find(context.Background(), health.Path{}); err == nil {
		t.Error("a Finder without sources found something")
	}
	if _, _, err := (&Finder{Sources: []Source{{"dns", "x"}}}).Find(context.Background(), health.Path{}); err == nil || !strings.Contains(err.Error(), "unknown kind") {
		t.Errorf("an unknown kind gave %v", err)
	}
}

func TestFinderStopsWithItsContext(t *testing.T) {
	silent := newFakeSTUN(t, func(int, *stun.Message) [][]byte { return nil })
	e := newEcho(t, http.StatusOK, "203.0.113.9")
	f := &Finder{Sources: Sources([]string{silent.Addr}, []string{e.URL})}
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	if _, _, err := f.Find(ctx, health.Path{}); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("got %v; want the context's deadline", err)
	}
	if len(e.hits()) != 0 {
		t.Error("the echo was asked after the context ended")
	}
}

func TestSourceCheck(t *testing.T) {
	good := []Source{{KindSTUN, "stun.example.net:3478"}, {KindSTUN, "198.51.100.1:19302"},
		{KindHTTP, "https://api.ipify.org"}, {KindHTTP, "http://198.51.100.1:8080/ip"}}
	bad := []Source{{KindSTUN, "stun.example.net"}, {KindSTUN, "stun.example.net:0"}, {KindSTUN, "[2001:db8::1]:3478"},
		{KindSTUN, "https://stun.example.net"}, {KindHTTP, "api.ipify.org"}, {KindHTTP, "stun:stun.example.net"},
		{KindHTTP, "https://[2001:db8::1]/"}, {"dns", "example.net"}, {"", ""}}
	for _, s := range good {
		if err := s.Check(); err != nil {
			t.Errorf("%v: %v", s, err)
		}
	}
	for _, s := range bad {
		if err := s.Check(); err == nil {
			t.Errorf("%v passed", s)
		}
	}
	got := Sources([]string{"a:1", "b:2"}, []string{"http://c"})
	want := []Source{{KindSTUN, "a:1"}, {KindSTUN, "b:2"}, {KindHTTP, "http://c"}}
	if !slices.Equal(got, want) {
		t.Errorf("Sources = %v, want %v", got, want)
	}
}
