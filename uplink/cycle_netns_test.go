package uplink

import (
	"context"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/pathpin/pathpin/internal/config"
)

// TestRandomStateCyclingOnTheKernel is the shorter real-kernel run of the
// random state cycling, with other software's marks present (wg-quick,
// Tailscale, Docker, kube-proxy, Cilium), which stay byte for byte as they
// were after every apply: weights, carrier, a late or lost address and
// health holds change step by step; after each step the kernel equals a
// fresh apply of that step's input (down, then apply again, compared), and
// down at random points, once the links are back as they started, leaves
// the router exactly as pathpin found it.
func TestRandomStateCyclingOnTheKernel(t *testing.T) {
	l := newEngineLab(t)
	foreign(l)
	otherMarkUsers(l)
	baseline, others := l.snapshot(), l.foreignMarks()
	e := l.engine()
	r := rand.New(rand.NewPCG(1, 2))
	type step struct {
		a, b            int
		carrierB, addrB bool
		sickA, sickB    bool
		policies        int
	}
	shape := func(s step) {
		state := "up"
		if !s.carrierB {
			state = "down"
		}
		l.ISPs[1].Run("ip", "link", "set", "cpe", state)
		l.waitCarrier("wan1", s.carrierB)
		has := strings.Contains(l.Router.Run("ip", "-4", "addr", "show", "dev", "wan1"), "192.168.2.2/24")
		switch {
		case s.addrB && !has:
			l.Router.Run("ip", "addr", "add", "192.168.2.2/24", "dev", "wan1")
		case !s.addrB && has:
			l.Router.Run("ip", "addr", "del", "192.168.2.2/24", "dev", "wan1")
		}
		if s.addrB {
			// The kernel itself drops the foreign route through wan1's
			// gateway when wan1's address goes: it is back with it.
			l.Router.Run("ip", "route", "replace", "10.9.0.0/16", "via", "192.168.2.254", "table", "200")
		}
	}
	run := func(what string, fn func(context.Context) error) {
		t.Helper()
		var err error
		l.Router.Do(func() { err = fn(context.Background()) })
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
	}
	for i := 0; i < 12; i++ {
		s := step{a: r.IntN(3), b: 1 + r.IntN(3), carrierB: r.IntN(3) > 0, addrB: r.IntN(3) > 0, sickA: r.IntN(4) == 0, sickB: r.IntN(4) == 0, policies: r.IntN(3)}
		shape(s)
		cfg, err := config.Parse("cycle.yaml", []byte(l.Config(s.a, s.b, kernelCyclePolicies[s.policies])))
		if err != nil {
			t.Fatal(err)
		}
		held := Holds{}
		if s.sickA {
			held["ispa"] = Down(HealthDown, "probes")
		}
		if s.sickB {
			held["ispb"] = Down(HealthDown, "probes")
		}
		apply := func(ctx context.Context) error { _, err := e.Apply(ctx, Input{Config: cfg, Holds: held}); return err }
		down := func(ctx context.Context) error { _, err := e.Down(ctx, cfg); return err }
		run("apply", apply)
		cycled := l.snapshot()
		if diff := cmp.Diff(others, l.foreignMarks()); diff != "" {
			t.Fatalf("step %d %+v: the other software's marks changed (-before +after):\n%s", i, s, diff)
		}
		run("down", down)
		if r.IntN(3) == 0 {
			shape(step{carrierB: true, addrB: true})
			if diff := cmp.Diff(baseline, l.snapshot()); diff != "" {
				t.Fatalf("step %d %+v: down did not return to the start (-start +after):\n%s", i, s, diff)
			}
			shape(s)
		}
		run("fresh apply", apply)
		if diff := cmp.Diff(l.snapshot(), cycled); diff != "" {
			t.Fatalf("step %d %+v: the kernel differs from a fresh apply (-fresh +cycled):\n%s", i, s, diff)
		}
	}
}

// kernelCyclePolicies are the policies a step on the kernel may have:
// none, tiers with drop and the router's own, weights with sticky.
var kernelCyclePolicies = []string{"", `policies:
  - name: phone
    match: {source: [10.0.0.20], protocol: udp, port: [5060, 10000-20000]}
    via: [ispb, ispa]
  - name: backups
    match: {destination: [198.51.100.0/24], port: [22]}
    via: [ispb]
    otherwise: drop
  - name: ntp
    match: {router: true, protocol: udp, port: 123}
    via: [ispa]
`, `policies:
  - name: laptop
    match: {source: [10.0.0.0/24]}
    via: {ispa: 2, ispb: 1}
    sticky: 30m
balance: {sticky: 10m}
`}

// waitCarrier waits until the router's link has, or has lost, carrier.
func (l *engineLab) waitCarrier(link string, want bool) {
	l.t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for strings.Contains(l.Router.Run("ip", "link", "show", "dev", link), "LOWER_UP") != want {
		if time.Now().After(deadline) {
			l.t.Fatalf("%s never reached carrier %v", link, want)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
