package hooks

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/netip"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pathpin/pathpin/internal/config"
)

func env(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

func TestParse(t *testing.T) {
	args := []string{"ppp1", "eth1.1000", "0", "100.64.0.10", "100.64.0.1", "plusnet"}
	e, err := Parse(IPUp, args, env(map[string]string{"IFNAME": "ppp1", "PPPD_PID": "42"}))
	if err != nil {
		t.Fatal(err)
	}
	want := Event{Kind: IPUp, Uplink: "plusnet", IfName: "ppp1", Device: "eth1.1000", Local: netip.MustParseAddr("100.64.0.10"), Remote: netip.MustParseAddr("100.64.0.1"), PID: 42}
	if e != want {
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
	l, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	got := make(chan Event, 2)
	go Serve(l, slog.New(slog.DiscardHandler), func(e Event) error {
		got <- e
		if e.Uplink == "bad" {
			return errors.New("no such uplink")
		}
		return nil
	})
	if err := Send(ctx, path, e); err != nil {
		t.Fatal(err)
	}
	if g := <-got; g != e {
		t.Fatalf("daemon got %+v, want %+v", g, e)
	}
	e.Uplink = "bad"
	if err := Send(ctx, path, e); err == nil || !strings.Contains(err.Error(), "no such uplink") {
		t.Fatalf("refused event: %v", err)
	}
}
