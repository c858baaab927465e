package uplink

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"strings"
	"testing"

	"github.com/pathpin/pathpin/internal/config"
)

// fakeLeases is the daemon's lease table in a test.
type fakeLeases = map[string]Lease

// fakeDHCPHome is the fake home with uplink a taking its address by DHCP
// on wan0, which has no address of its own.
func fakeDHCPHome(t *testing.T) (*fakeKernel, *config.Config, *Engine, fakeLeases) {
	t.Helper()
	k := newFakeKernel()
	k.addLink("lan0", "10.0.0.1/24", true)
	k.addLink("wan0", "", true)
	k.addLink("wan1", "192.168.2.2/24", true)
	cfg, err := config.Parse("test.yaml", []byte(`lan:
  interfaces: [lan0]
uplinks:
  - name: a
    interface: wan0
    dhcp: {}
  - name: b
    interface: wan1
    gateway: 192.168.2.254
`))
	if err != nil {
		t.Fatal(err)
	}
	leases := fakeLeases{}
	e := fakeEngine(k, t.TempDir())
	engineLeases[e] = leases
	return k, cfg, e, leases
}

func statusOf(p *Plan, name string) Status {
	for _, s := range p.Statuses {
		if s.Name == name {
			return s
		}
	}
	return Status{}
}

func TestFakeDHCPLeaseDrivesTheUplink(t *testing.T) {
	k, cfg, e, leases := fakeDHCPHome(t)
	before := k.dump()

	// No lease yet: the uplink is down and its table unreachable.
	p := mustApply(t, e, cfg, nil)
	if st := statusOf(p, "a"); st.Up() || st.Reason.Cause != NoAddress || !strings.Contains(st.Reason.String(), "no DHCP lease") {
		t.Fatalf("without a lease: %+v", st.Reason)
	}

	// A lease: address on wan0, the table routes by its router, the from
	// rule and SNAT use it, the MTU is the lease's.
	leases["a"] = Lease{Addr: netip.MustParsePrefix("192.168.1.10/24"), Gateway: mustAddr("192.168.1.254"), MTU: 1400,
		Routes: []LeaseRoute{{Dst: netip.MustParsePrefix("10.9.0.0/16"), Gw: mustAddr("192.168.1.1")}}}
	p = mustApply(t, e, cfg, nil)
	if st := statusOf(p, "a"); !st.Up() || st.Local.String() != "192.168.1.10" || st.Gateway.String() != "192.168.1.254" {
		t.Fatalf("with a lease: %+v", st)
	}
	dump := k.dump()
	for _, want := range []string{
		"address 192.168.1.10/24 dev wan0",
		"route table 101 default via 192.168.1.254 dev wan0 src 192.168.1.10",
		"route table 101 192.168.1.0/24 dev wan0 scope link src 192.168.1.10",
		"route table 102 192.168.1.0/24 dev wan0 scope link src 192.168.1.10",
		"route table 101 10.9.0.0/16 via 192.168.1.1 dev wan0 src 192.168.1.10",
		"rule 10200 192.168.1.10/32 0/0 101",
		`oifname "wan0" snat to 192.168.1.10`,
		"link wan0 mtu 1400",
	} {
		if !strings.Contains(dump, want) {
			t.Errorf("missing %q in:\n%s", want, dump)
		}
	}
	// A renewal with the same lease: nothing changes.
	if p := mustApply(t, e, cfg, nil); !p.Changes.Empty() {
		t.Fatalf("the same lease changed:\n%s", RenderChanges(&p.Changes))
	}

	// Another address: one apply moves everything, the old address goes.
	leases["a"] = Lease{Addr: netip.MustParsePrefix("192.168.3.20/24"), Gateway: mustAddr("192.168.3.254")}
	mustApply(t, e, cfg, nil)
	dump = k.dump()
	if strings.Contains(dump, "192.168.1.10") || !strings.Contains(dump, "address 192.168.3.20/24 dev wan0") ||
		!strings.Contains(dump, "route table 101 default via 192.168.3.254 dev wan0 src 192.168.3.20") || !strings.Contains(dump, "link wan0 mtu 1500") {
		t.Fatalf("after the address changed:\n%s", dump)
	}

	// The lease is lost: its address goes, the table is unreachable.
	delete(leases, "a")
	mustApply(t, e, cfg, nil)
	if dump := k.dump(); strings.Contains(dump, "192.168.3.20") || !strings.Contains(dump, "route table 101 unreachable default") {
		t.Fatalf("after the lease was lost:\n%s", dump)
	}

	// down puts everything back, including an address another tool added.
	leases["a"] = Lease{Addr: netip.MustParsePrefix("192.168.1.10/24"), Gateway: mustAddr("192.168.1.254"), MTU: 1400}
	mustApply(t, e, cfg, nil)
	if _, err := e.Down(context.Background(), cfg); err != nil {
		t.Fatal(err)
	}
	if after := k.dump(); after != before {
		t.Fatalf("down left the kernel differing:\nbefore:\n%s\nafter:\n%s", before, after)
	}
}

func TestFakeDHCPLeaveOthersAddresses(t *testing.T) {
	k, cfg, e, leases := fakeDHCPHome(t)
	// An address someone else put on the DHCP interface is not pathpin's.
	k.addAddr("wan0", "172.16.0.5/24", "")
	before := k.dump()
	leases["a"] = Lease{Addr: netip.MustParsePrefix("192.168.1.10/24"), Gateway: mustAddr("192.168.1.254")}
	mustApply(t, e, cfg, nil)
	if !strings.Contains(k.dump(), "address 172.16.0.5/24 dev wan0") {
		t.Fatal("another tool's address was removed")
	}
	if _, err := e.Down(context.Background(), cfg); err != nil {
		t.Fatal(err)
	}
	if after := k.dump(); after != before {
		t.Fatalf("down:\nbefore:\n%s\nafter:\n%s", before, after)
	}
}

func TestFakeDHCPFailedApplyLeavesNoAddress(t *testing.T) {
	k, cfg, e, leases := fakeDHCPHome(t)
	mustApply(t, e, cfg, nil)
	before := k.dump()
	leases["a"] = Lease{Addr: netip.MustParsePrefix("192.168.1.10/24"), Gateway: mustAddr("192.168.1.254")}
	k.fail["RuleAdd"] = 1
	if _, err := e.Apply(context.Background(), in(e, cfg, nil)); err == nil {
		t.Fatal("the apply did not fail")
	}
	// The rules come before the address: fail the route instead.
	k.fail["RouteReplace"] = 1
	if _, err := e.Apply(context.Background(), in(e, cfg, nil)); err == nil {
		t.Fatal("the apply did not fail")
	}
	if after := k.dump(); after != before {
		t.Fatalf("a failed apply left changes:\nbefore:\n%s\nafter:\n%s", before, after)
	}
	if owned, _ := e.addrRecord().load(); len(owned) != 0 {
		t.Fatalf("the address record keeps %v", owned)
	}
}

// dhcpStep is one random state of the DHCP home: the lease in force, the
// DHCP interface's link, and whether the static uplink is sick.
type dhcpStep struct {
	lease string // "", "l1", "l2" (another address, an MTU, a route), "l3" (l1's address, another gateway)
	link  string // up, nocarrier, gone
	sick  bool
}

var dhcpLeases = map[string]Lease{
	"l1": {Addr: netip.MustParsePrefix("192.168.1.10/24"), Gateway: netip.MustParseAddr("192.168.1.254")},
	"l2": {Addr: netip.MustParsePrefix("192.168.3.20/24"), Gateway: netip.MustParseAddr("192.168.3.254"), MTU: 1400,
		Routes: []LeaseRoute{{Dst: netip.MustParsePrefix("10.9.0.0/16"), Gw: netip.MustParseAddr("192.168.3.1")}}},
	"l3": {Addr: netip.MustParsePrefix("192.168.1.10/24"), Gateway: netip.MustParseAddr("192.168.1.1")},
}

// shape makes the DHCP interface's link what the step says.
func (s dhcpStep) shape(k *fakeKernel) {
	if s.link == "gone" {
		k.removeLink("wan0")
		return
	}
	if k.link("wan0") == nil {
		k.addLink("wan0", "", true)
	}
	k.setUp("wan0", s.link == "up")
}

func (s dhcpStep) leases() fakeLeases {
	if s.lease == "" {
		return fakeLeases{}
	}
	return fakeLeases{"a": dhcpLeases[s.lease]}
}

func (s dhcpStep) holds() Holds {
	if s.sick {
		return Holds{"b": Down(HealthDown, "probes")}
	}
	return nil
}

// TestRandomDHCPCycling: whatever leases come and go, with the DHCP
// interface losing carrier or unplugged, the kernel after each apply is
// what a fresh apply of that state makes, and down returns to the start.
func TestRandomDHCPCycling(t *testing.T) {
	sequences, steps := 200, 10
	if testing.Short() {
		sequences = 40
	}
	for seq := range sequences {
		r := rand.New(rand.NewPCG(uint64(seq), 12))
		random := func() dhcpStep {
			return dhcpStep{lease: []string{"", "l1", "l2", "l3"}[r.IntN(4)], link: []string{"up", "up", "nocarrier", "gone"}[r.IntN(4)], sick: r.IntN(4) == 0}
		}
		k, cfg, e, _ := fakeDHCPHome(t)
		world := func(s dhcpStep) *fakeKernel {
			w := newFakeKernel()
			w.addLink("lan0", "10.0.0.1/24", true)
			w.addLink("wan0", "", true)
			w.addLink("wan1", "192.168.2.2/24", true)
			s.shape(w)
			return w
		}
		for step := range steps {
			s := random()
			s.shape(k)
			engineLeases[e] = s.leases()
			if _, err := e.Apply(context.Background(), in(e, cfg, s.holds())); err != nil {
				t.Fatalf("sequence %d step %d %+v: apply: %v", seq, step, s, err)
			}
			if p, err := e.Plan(context.Background(), in(e, cfg, s.holds())); err != nil || !p.Changes.Empty() {
				t.Fatalf("sequence %d step %d %+v: a second apply would change:\n%v", seq, step, s, err)
			}
			cycleCheck(t, fmt.Sprintf("sequence %d step %d %+v", seq, step, s), e, cfg, s.holds(), func(bool) *fakeKernel { return world(s) }, r.IntN(4) == 0)
		}
	}
}

// TestALeaseWithAnOffLinkRouter: a /32 lease (or a hostile server) naming
// a router that is not on the lease's link takes only that uplink out of
// service, with the reason.
func TestALeaseWithAnOffLinkRouter(t *testing.T) {
	_, cfg, e, leases := fakeDHCPHome(t)
	leases["a"] = Lease{Addr: netip.MustParsePrefix("100.64.7.9/32"), Gateway: mustAddr("100.64.0.1")}
	p := mustApply(t, e, cfg, nil)
	if st := statusOf(p, "a"); st.Up() || !strings.Contains(st.Reason.String(), "not on its link") {
		t.Fatalf("a lease with an off-link router: %+v", st.Reason)
	}
	if st := statusOf(p, "b"); !st.Up() {
		t.Fatalf("b left service with a: %v", st.Reason)
	}
}
