package hooks

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/pathpin/pathpin/internal/config"
	"golang.org/x/sys/unix"
)

func env(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

func TestParse(t *testing.T) {
	args := []string{"ppp1", "eth1.1000", "0", "100.64.0.10", "100.64.0.1", "plusnet"}
	e, err := Parse(IPUp, args, env(map[string]string{"IFNAME": "ppp1", "PPPD_PID": "42"}))
	if err != nil {
		t.Fatal(err)
	}
	want := Event{Kind: IPUp, Uplink: "plusnet", IfName: "ppp1", Local: netip.MustParseAddr("100.64.0.10"), Remote: netip.MustParseAddr("100.64.0.1"), PID: 42, Args: args}
	if !reflect.DeepEqual(e, want) {
		t.Fatalf("Parse = %+v, want %+v", e, want)
	}
	for name, tc := range map[string]struct {
		kind Kind
		args []string
		env  map[string]string
		want string
	}{
		"too few":        {IPUp, args[:5], nil, "pppd passes 6 arguments"},
		"bad local":      {IPUp, []string{"ppp1", "d", "0", "x", "1.1.1.1", "u"}, nil, `local address "x"`},
		"IPv6 remote":    {IPDown, []string{"ppp1", "d", "0", "1.1.1.1", "fe80::1", "u"}, nil, `remote address "fe80::1"`},
		"IFNAME differs": {IPUp, args, map[string]string{"IFNAME": "ppp9"}, "IFNAME=ppp9 disagrees"},
		"unknown kind":   {"ip-sideways", args, nil, "neither ip-up nor ip-down"},
	} {
		if _, err := Parse(tc.kind, tc.args, env(tc.env)); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: Parse error = %v, want %q", name, err, tc.want)
		}
	}
}

func TestValidate(t *testing.T) {
	cfg, err := config.Load("../examples/seed.yaml")
	if err != nil {
		t.Fatal(err)
	}
	ok := Event{Kind: IPUp, Uplink: "plusnet", IfName: "ppp1"}
	if err := ok.Validate(cfg); err != nil {
		t.Fatal(err)
	}
	for _, e := range []Event{
		{Uplink: "talktalk", IfName: "ppp1"}, // a static uplink
		{Uplink: "nobody", IfName: "ppp1"},
		{Uplink: "plusnet", IfName: "ppp7"},
	} {
		if err := e.Validate(cfg); !errors.Is(err, ErrNotOurs) {
			t.Errorf("Validate(%+v) = %v, want ErrNotOurs", e, err)
		}
	}
}

func TestSendAndServe(t *testing.T) {
	path := filepath.Join(t.TempDir(), "pathpin.sock")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	e := Event{Kind: IPDown, Uplink: "plusnet", IfName: "ppp1", Local: netip.MustParseAddr("100.64.0.10"), Remote: netip.MustParseAddr("100.64.0.1")}
	if err := Send(ctx, path, e); !errors.Is(err, ErrNoDaemon) {
		t.Fatalf("Send with no daemon = %v, want ErrNoDaemon", err)
	}
	l, err := Listen(path)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("hook socket mode %v, %v; want 0600", fi.Mode(), err)
	}
	got := make(chan Event, 2)
	go Serve(l, slog.New(slog.DiscardHandler), nil, func(e Event) error {
		got <- e
		if e.Uplink == "bad" {
			return errors.New("no such uplink")
		}
		return nil
	})
	if err := Send(ctx, path, e); err != nil {
		t.Fatal(err)
	}
	if g := <-got; !reflect.DeepEqual(g, e) {
		t.Fatalf("daemon got %+v, want %+v", g, e)
	}
	e.Uplink = "bad"
	if err := Send(ctx, path, e); err == nil || !strings.Contains(err.Error(), "no such uplink") {
		t.Fatalf("refused event: %v", err)
	}
}

func TestServeRefusesPeersThatFailTheCheck(t *testing.T) {
	path := filepath.Join(t.TempDir(), "pathpin.sock")
	l, err := Listen(path)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	handled := make(chan Event, 1)
	nobodyButUID := func(uid uint32) PeerCheck {
		return func(c *unix.Ucred) error {
			if c.Uid != uid {
				return errors.New("refused")
			}
			return nil
		}
	}
	go Serve(l, slog.New(slog.DiscardHandler), nobodyButUID(uint32(os.Getuid())+1), func(e Event) error { handled <- e; return nil })
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := Send(ctx, path, Event{Kind: IPUp, Uplink: "plusnet"}); err == nil {
		t.Fatal("an event from a refused peer was accepted")
	}
	select {
	case e := <-handled:
		t.Fatalf("the refused peer's event reached the daemon: %+v", e)
	default:
	}
}

func TestServeBoundsWhatItReads(t *testing.T) {
	path := filepath.Join(t.TempDir(), "pathpin.sock")
	l, err := Listen(path)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	go Serve(l, slog.New(slog.DiscardHandler), nil, func(Event) error { return nil })
	c, err := net.Dial("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	// An event that never ends: the daemon stops reading at MaxMessage
	// and answers, instead of buffering without bound.
	go func() {
		_, _ = c.Write([]byte(`{"kind":"`))
		chunk := []byte(strings.Repeat("x", 64<<10))
		for i := 0; i < 2*MaxMessage/len(chunk); i++ {
			if _, err := c.Write(chunk); err != nil {
				return
			}
		}
	}()
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	var r reply
	if err := json.NewDecoder(c).Decode(&r); err != nil || r.OK {
		t.Fatalf("reply to an endless event: %+v, %v; want a refusal", r, err)
	}
}

// TestRunPPPScript: Debian's ip-up runs with pppd's arguments and
// environment, its output logged; a missing script is fine; one that hangs
// is killed.
func TestRunPPPScript(t *testing.T) {
	dir := t.TempDir()
	record := filepath.Join(dir, "record")
	script := "#!/bin/sh\necho \"$*|$IFNAME|$PPPD_PID\" > " + record + "\necho hello from ip-up\n"
	if err := os.WriteFile(filepath.Join(dir, "ip-up"), []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	var logged strings.Builder
	log := slog.New(slog.NewTextHandler(&logged, nil))
	e := Event{Kind: IPUp, Uplink: "plusnet", Args: []string{"ppp1", "eth1.1000", "0", "100.64.0.10", "100.64.0.1", "plusnet"},
		Env: []string{"PATH=/usr/bin:/bin", "IFNAME=ppp1", "PPPD_PID=42"}}
	if err := RunPPPScript(context.Background(), dir, e, log); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(record); string(b) != "ppp1 eth1.1000 0 100.64.0.10 100.64.0.1 plusnet|ppp1|42\n" {
		t.Errorf("ip-up saw %q", b)
	}
	if !strings.Contains(logged.String(), "hello from ip-up") || !strings.Contains(logged.String(), "uplink=plusnet") {
		t.Errorf("the script's output is not in the log:\n%s", logged.String())
	}
	e.Kind = IPDown
	if err := RunPPPScript(context.Background(), dir, e, log); err != nil {
		t.Errorf("a missing ip-down: %v", err)
	}
	if err := os.WriteFile(filepath.Join(dir, "ip-down"), []byte("#!/bin/sh\nsleep 60\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	start := time.Now()
	if err := RunPPPScript(ctx, dir, e, log); err == nil || time.Since(start) > 5*time.Second {
		t.Errorf("a hanging ip-down: %v after %s", err, time.Since(start))
	}
	// A hook in ip-up.d that starts a daemon holding the script's output:
	// the runner returns once the script has exited, not when the daemon
	// does.
	if err := os.WriteFile(filepath.Join(dir, "ip-down"), []byte("#!/bin/sh\nsetsid sleep 8 &\necho started a daemon\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	start = time.Now()
	if err := RunPPPScript(context.Background(), dir, e, log); err != nil || time.Since(start) > 3*time.Second {
		t.Errorf("an ip-down that leaves a daemon behind: %v after %s, want done within the grace of a second", err, time.Since(start))
	}
}
