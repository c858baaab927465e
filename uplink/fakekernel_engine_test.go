package uplink

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/pathpin/pathpin/internal/config"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// fakeHome is a router with a LAN and two static uplinks, plus state of
// other software that pathpin must never touch: a rule and a table.
func fakeHome(t *testing.T) (*fakeKernel, *config.Config) {
	t.Helper()
	k := newFakeKernel()
	k.addLink("lan0", "10.0.0.1/24", true)
	k.addLink("wan0", "192.168.1.2/24", true)
	k.addLink("wan1", "192.168.2.2/24", true)
	foreign := netlink.NewRule()
	foreign.Priority, foreign.Table = 100, 200
	k.rules = append(k.rules, *foreign)
	k.routes = append(k.routes, netlink.Route{Table: 200, Type: unix.RTN_UNREACHABLE, Dst: defaultDst4()})
	return k, fakeConfig(t, 1, 1, "")
}

func defaultDst4() *net.IPNet { return &net.IPNet{IP: net.IPv4zero.To4(), Mask: net.CIDRMask(0, 32)} }

func mustAddr(s string) netip.Addr { return netip.MustParseAddr(s) }

func fakeConfig(t *testing.T, a, b int, extraA string) *config.Config {
	t.Helper()
	cfg, err := config.Parse("test.yaml", []byte(fmt.Sprintf(`lan:
  interfaces: [lan0]
uplinks:
  - name: a
    interface: wan0
    gateway: 192.168.1.254
    weight: %d
%s  - name: b
    interface: wan1
    gateway: 192.168.2.254
    weight: %d
`, a, extraA, b)))
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

// engineLeases are the leases a test gives each fake engine's applies, as
// the daemon's DHCP owner does.
var engineLeases = map[*Engine]fakeLeases{}

// in is the input of an apply on e.
func in(e *Engine, cfg *config.Config, held Holds) Input {
	return Input{Config: cfg, Holds: held, Leases: engineLeases[e]}
}

func mustApply(t *testing.T, e *Engine, cfg *config.Config, held Holds) *Plan {
	t.Helper()
	p, err := e.Apply(context.Background(), in(e, cfg, held))
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestFakeApplyTwiceThenDown(t *testing.T) {
	k, cfg := fakeHome(t)
	k.sysctl["net/ipv4/conf/wan1/rp_filter"] = "1"
	before := k.dump()
	e := fakeEngine(k, t.TempDir())
	if p := mustApply(t, e, cfg, nil); p.Changes.Empty() {
		t.Fatal("the first apply changed nothing")
	}
	applied := k.dump()
	if p := mustApply(t, e, cfg, nil); !p.Changes.Empty() {
		t.Fatalf("the second apply changed something:\n%s", RenderChanges(&p.Changes))
	}
	if diff := cmp.Diff(applied, k.dump()); diff != "" {
		t.Fatalf("the second apply changed the kernel:\n%s", diff)
	}
	if _, err := e.Down(context.Background(), cfg); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(before, k.dump()); diff != "" {
		t.Fatalf("down did not restore the kernel (-before +after):\n%s", diff)
	}
}

// TestDownAfterTheDeviceVanished: a USB NIC unplugged (or a PPP link
// closed) after apply took its rp_filter setting with it; down must still
// remove everything, every time.
func TestDownAfterTheDeviceVanished(t *testing.T) {
	k, cfg := fakeHome(t)
	before := k.clone()
	e := fakeEngine(k, t.TempDir())
	mustApply(t, e, cfg, nil)
	if k.sysctl["net/ipv4/conf/wan1/rp_filter"] != "2" {
		t.Fatal("apply did not relax wan1's rp_filter")
	}
	k.removeLink("wan1")
	before.removeLink("wan1")
	for i := 0; i < 2; i++ {
		if _, err := e.Down(context.Background(), cfg); err != nil {
			t.Fatalf("down %d: %v", i+1, err)
		}
	}
	if diff := cmp.Diff(before.dump(), k.dump()); diff != "" {
		t.Fatalf("down left pathpin's state (-want +got):\n%s", diff)
	}
}

// TestUndoPutsBackAReplacedRoute: a new gateway replaces the default route
// in the uplink's table; when a later step fails, the old route is put
// back, not deleted.
func TestUndoPutsBackAReplacedRoute(t *testing.T) {
	k, cfg := fakeHome(t)
	e := fakeEngine(k, t.TempDir())
	mustApply(t, e, cfg, nil)
	before := k.dump()
	moved := fakeConfig(t, 3, 1, "")
	moved.Uplinks[0].Gateway = mustAddr("192.168.1.253")
	k.fail["Apply"] = 1
	_, err := e.Apply(context.Background(), in(e, moved, nil))
	if err == nil || !strings.Contains(err.Error(), "nothing was changed") {
		t.Fatalf("apply with a failing nftables transaction: %v", err)
	}
	if diff := cmp.Diff(before, k.dump()); diff != "" {
		t.Fatalf("the kernel differs after the undo (-before +after):\n%s", diff)
	}
}

// TestVerifyReadsWhatChanged: the read-back after a change covers the
// parts it changed; what it did not touch was read by the plan just
// before and is not read again.
func TestVerifyReadsWhatChanged(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  func(t *testing.T) *config.Config
		// plan and verify each read routes and rules once when routes
		// change (1 + 1), only the plan's read when not (1); links only
		// the plan.
		want map[string]int
	}{
		{name: "weights only: the nftables table", cfg: func(t *testing.T) *config.Config { return fakeConfig(t, 2, 1, "") },
			want: map[string]int{"links": 1, "routes": 1, "rules": 1, "nftables": 2}},
		{name: "a gateway: routes", cfg: func(t *testing.T) *config.Config {
			c := fakeConfig(t, 1, 1, "")
			c.Uplinks[0].Gateway = mustAddr("192.168.1.253")
			return c
		}, want: map[string]int{"links": 1, "routes": 2, "rules": 2, "nftables": 1}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			k, cfg := fakeHome(t)
			e := fakeEngine(k, t.TempDir())
			mustApply(t, e, cfg, nil)
			clear(k.reads)
			p := mustApply(t, e, tc.cfg(t), nil)
			if p.Changes.Empty() {
				t.Fatal("the new configuration changed nothing")
			}
			if diff := cmp.Diff(tc.want, k.reads); diff != "" {
				t.Errorf("reads of one apply (-want +got):\n%s", diff)
			}
		})
	}
}

// TestFailedVerificationIsUndone: the kernel holds something else than
// what was asked; the apply says so and the previous state is back.
func TestFailedVerificationIsUndone(t *testing.T) {
	k, cfg := fakeHome(t)
	e := fakeEngine(k, t.TempDir())
	mustApply(t, e, cfg, nil)
	before := k.dump()
	k.afterApply = func(k *fakeKernel) {
		last := &k.nft.Chains[len(k.nft.Chains)-1]
		last.Rules = last.Rules[:len(last.Rules)-1]
		k.afterApply = nil
	}
	_, err := e.Apply(context.Background(), in(e, fakeConfig(t, 2, 1, ""), nil))
	if err == nil || !strings.Contains(err.Error(), "verification failed") || !strings.Contains(err.Error(), "nothing was changed") {
		t.Fatalf("apply against a kernel that drops a rule: %v", err)
	}
	if diff := cmp.Diff(before, k.dump()); diff != "" {
		t.Fatalf("the new state stayed after a failed verification (-before +after):\n%s", diff)
	}
}

// TestFailureAtEveryStepLeavesThePreviousState injects a failure into
// each kind of kernel change in turn, in one change that takes every kind:
// a DHCP uplink's new lease (another address, router and MTU), a setting
// someone turned back, a foreign route in pathpin's table and a stale rule
// in its band (both to delete), and the balance moving to the other uplink.
func TestFailureAtEveryStepLeavesThePreviousState(t *testing.T) {
	for _, op := range []string{"Set", "LinkSetMTU", "RuleAdd", "RuleDel", "AddrAdd", "RouteReplace", "Apply", "RouteDel", "AddrDel"} {
		t.Run(op, func(t *testing.T) {
			k, cfg, e, leases := fakeDHCPHome(t)
			leases["a"] = Lease{Addr: netip.MustParsePrefix("192.168.1.10/24"), Gateway: mustAddr("192.168.1.254"), MTU: 1400}
			mustApply(t, e, cfg, Holds{"b": Down(HealthDown, "probes")})
			leases["a"] = Lease{Addr: netip.MustParsePrefix("192.168.1.11/24"), Gateway: mustAddr("192.168.1.253"), MTU: 1450}
			k.sysctl["net/ipv4/ip_forward"] = "0"
			k.routes = append(k.routes, netlink.Route{Table: 101, Type: unix.RTN_BLACKHOLE, Dst: &net.IPNet{IP: net.IPv4(10, 99, 0, 0).To4(), Mask: net.CIDRMask(16, 32)}})
			stale := netlink.NewRule()
			stale.Priority, stale.Table = PrioMark+7, 108
			k.rules = append(k.rules, *stale)
			before := k.dump()
			k.fail[op] = 1
			_, err := e.Apply(context.Background(), in(e, cfg, Holds{"a": Down(HealthDown, "probes")}))
			if err == nil {
				t.Fatalf("the change took no %s step: the test no longer covers it", op)
			}
			if !strings.Contains(err.Error(), "nothing was changed") {
				t.Fatalf("apply: %v", err)
			}
			if diff := cmp.Diff(before, k.dump()); diff != "" {
				t.Fatalf("a failed %s left part of the change (-before +after):\n%s", op, diff)
			}
		})
	}
}

func TestPlanWithoutAFirewallSaysSo(t *testing.T) {
	k, cfg := fakeHome(t)
	e := &Engine{NL: k}
	if _, err := e.Plan(context.Background(), in(e, cfg, nil)); err == nil || !strings.Contains(err.Error(), "no firewall") {
		t.Fatalf("Plan on a read-only engine: %v", err)
	}
	if _, err := e.Statuses(context.Background(), cfg); err != nil {
		t.Fatalf("Statuses on a read-only engine: %v", err)
	}
}

// TestADeadUplinkKeepsItsOwnWayOut makes the desired-state rule explicit:
// an uplink held out of service by its probes takes no new connections and
// does not carry the router's own, but its table keeps its own default
// route, because its probes leave by it and must to see it recover.
func TestADeadUplinkKeepsItsOwnWayOut(t *testing.T) {
	k, cfg := fakeHome(t)
	e := fakeEngine(k, t.TempDir())
	p := mustApply(t, e, cfg, Holds{"a": Down(HealthDown, "3 probes missed")})
	state := RenderState(p.Desired)
	for _, want := range []string{
		"table 101 default via 192.168.1.254 dev wan0 src 192.168.1.2",
		"10200:\tfrom 192.168.1.2 lookup 101",
		"10901:\tfrom all lookup 102",
		"net.ipv4.conf.wan0.rp_filter = 2",
	} {
		if !strings.Contains(state, want) {
			t.Errorf("desired state lacks %q:\n%s", want, state)
		}
	}
	// No share of the balance and no inbound pin: the dead uplink takes no
	// new connection.
	for _, gone := range []string{": jump to_a", `iifname "wan0" ct state new jump to_a`} {
		if strings.Contains(state, gone) {
			t.Errorf("the dead uplink still takes new connections (%q):\n%s", gone, state)
		}
	}
}

func TestStaticMTUClampsMSS(t *testing.T) {
	k, _ := fakeHome(t)
	e := fakeEngine(k, t.TempDir())
	p := mustApply(t, e, fakeConfig(t, 1, 1, "    mtu: 1492\n"), nil)
	state := RenderState(p.Desired)
	if !strings.Contains(state, `oifname "wan0" tcp flags syn / syn,rst tcp option maxseg size set 1452`) {
		t.Fatalf("mtu: 1492 on wan0 is not clamped to MSS 1452:\n%s", state)
	}
	if strings.Contains(state, `oifname "wan1" tcp flags`) {
		t.Fatalf("wan1 is as wide as the LAN, yet its MSS is clamped:\n%s", state)
	}
}

// TestMSSClamp checks when an uplink's MSS is clamped: only where a LAN
// client's MSS could be too large for it, or where mtu: says so.
func TestMSSClamp(t *testing.T) {
	tests := []struct {
		name      string
		mtu       string // the uplink's mtu: line
		lan, wan  int    // interface MTUs; 0: not known
		leaseMTU  int    // a DHCP lease's option 26
		setBefore string // an MTU pathpin set earlier and found as this
		want      int
	}{
		{name: "as wide as the LAN", lan: 1500, wan: 1500, want: noClamp},
		{name: "wider than the LAN", lan: 1500, wan: 9000, want: noClamp},
		{name: "narrower than the LAN", lan: 1500, wan: 1492, want: clampToRoute},
		{name: "a jumbo LAN", lan: 9000, wan: 1500, want: clampToRoute},
		{name: "LAN MTU not known", wan: 1500, want: clampToRoute},
		{name: "uplink MTU not known", lan: 1500, want: clampToRoute},
		{name: "mtu: set", mtu: "    mtu: 1492\n", lan: 1500, wan: 1500, want: 1452},
		{name: "the lease narrows it", lan: 1500, wan: 1500, leaseMTU: 1400, want: clampToRoute},
		{name: "the lease no longer narrows it", lan: 1500, wan: 1400, setBefore: "1500", want: noClamp},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := fakeConfig(t, 1, 1, tt.mtu)
			facts := &Facts{Links: map[string]Link{"lan0": {Name: "lan0", MTU: tt.lan}, "wan0": {Name: "wan0", MTU: tt.wan}},
				index: map[string]int{"lan0": 1, "wan0": 2}, Leases: map[string]Lease{}}
			if tt.leaseMTU > 0 {
				facts.Leases[cfg.Uplinks[0].Name] = Lease{MTU: tt.leaseMTU}
			}
			orig := map[string]string{}
			if tt.setBefore != "" {
				orig[mtuKey("wan0")] = tt.setBefore
			}
			expectMTUs(cfg, facts, orig)
			st := Status{Name: cfg.Uplinks[0].Name, Device: "wan0", Uplink: &cfg.Uplinks[0]}
			if got, _ := mssClamp(cfg, facts, st); got != tt.want {
				t.Errorf("mssClamp = %d, want %d", got, tt.want)
			}
		})
	}
}

// The random state cycling: configurations and uplink states applied one
// after another; after each step the kernel equals a fresh apply of that
// step's input, and down at any point returns to the starting state.

// cycleStep is one step's input.
type cycleStep struct {
	weights [3]int
	mtu     bool
	// links: static uplinks a (wan0) and b (wan1): "up", "nocarrier",
	// "noaddr", "gone"; the PPP uplink c (ppp-c): "up1", "up2" (another
	// address), "down" (pppd ip-down), "gone".
	links [3]string
	sick  [3]bool
	// overlap puts b on a's subnet (192.168.1.3/24, the same gateway), as
	// two ISP routers with their defaults are.
	overlap bool
	// foreign is a route someone put in a's table: "", "blackhole",
	// "prohibit", "throw", "unreachable".
	foreign string
	// lease is the DHCP uplink d's (wan3): "" none, "good", "hostile"
	// (routes it must not have), "same" (on a's subnet).
	lease string
	// protect is the protect: section: "" (the default, the LAN
	// protected), "off", "router".
	protect string
	// policies is the policies: section: "" none, "tiers", "sticky".
	policies string
}

// cyclePolicies are the policies a cycling step may have.
var cyclePolicies = map[string]string{
	"": "",
	"tiers": `policies:
  - name: phone
    match: {source: [10.0.0.20], protocol: udp, port: [5060, 10000-20000]}
    via: [b, a]
  - name: backups
    match: {destination: [198.51.100.0/24], port: [22]}
    via: [c]
    otherwise: drop
  - name: ntp
    match: {router: true, protocol: udp, port: 123}
    via: [d, {a: 1, b: 2}]
`,
	"sticky": `policies:
  - name: laptop
    match: {mac: [aa:bb:cc:dd:ee:ff]}
    via: [{a: 2, c: 1}, d]
    sticky: 30m
balance: {sticky: 10m}
`,
}

func randomStep(r *rand.Rand) cycleStep {
	var s cycleStep
	static := []string{"up", "up", "up", "nocarrier", "noaddr", "gone"}
	ppp := []string{"up1", "up1", "up2", "down", "gone"}
	for i := range 3 {
		s.weights[i] = r.IntN(4)
		s.sick[i] = r.IntN(5) == 0
		if i < 2 {
			s.links[i] = static[r.IntN(len(static))]
		} else {
			s.links[i] = ppp[r.IntN(len(ppp))]
		}
	}
	if s.weights == [3]int{} {
		s.weights[r.IntN(3)] = 1 + r.IntN(3) // at least one weighted uplink
	}
	s.mtu = r.IntN(2) == 0
	s.overlap = r.IntN(3) == 0
	s.foreign = []string{"", "", "blackhole", "prohibit", "throw", "unreachable"}[r.IntN(6)]
	s.lease = []string{"", "good", "hostile", "same"}[r.IntN(4)]
	s.protect = []string{"", "", "off", "router"}[r.IntN(4)]
	s.policies = []string{"", "tiers", "sticky"}[r.IntN(3)]
	return s
}

func (s cycleStep) config(t *testing.T) *config.Config {
	mtu := ""
	if s.mtu {
		mtu = "    mtu: 1480\n"
	}
	gwB := "192.168.2.254"
	if s.overlap {
		gwB = "192.168.1.254"
	}
	cfg, err := config.Parse("cycle.yaml", []byte(fmt.Sprintf(`lan:
  interfaces: [lan0]
uplinks:
  - name: a
    interface: wan0
    gateway: 192.168.1.254
    weight: %d
%s  - name: b
    interface: wan1
    gateway: %s
    weight: %d
  - name: c
    weight: %d
    pppoe:
      interface: wan2
      username: u
      password-file: /p
      ifname: ppp-c
  - name: d
    interface: wan3
    dhcp: {}
%s`, s.weights[0], mtu, gwB, s.weights[1], s.weights[2], map[string]string{
		"":       "",
		"off":    "protect:\n  lan: false\n",
		"router": "protect:\n  router: true\n  allow-in: [tcp/22 on a, udp/51820]\n",
	}[s.protect]+cyclePolicies[s.policies])))
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

// leases are the DHCP uplink's lease of the step.
func (s cycleStep) leases() fakeLeases {
	p, gw := netip.MustParsePrefix, mustAddr
	switch s.lease {
	case "good":
		return fakeLeases{"d": {Addr: p("172.20.0.10/24"), Gateway: gw("172.20.0.1"), MTU: 1400,
			Routes: []LeaseRoute{{Dst: p("198.18.0.0/15"), Gw: gw("172.20.0.1")}}}}
	case "hostile":
		return fakeLeases{"d": {Addr: p("172.20.0.10/24"), Gateway: gw("172.20.0.1"), Routes: []LeaseRoute{
			{Dst: p("10.0.0.0/24"), Gw: gw("172.20.0.1")},     // the LAN's subnet
			{Dst: p("192.168.1.0/24"), Gw: gw("172.20.0.1")},  // holds a's address
			{Dst: p("198.51.100.0/24"), Gw: gw("10.20.30.1")}, // off the link
			{Dst: p("198.18.0.0/15"), Gw: gw("172.20.0.10")},  // the router itself
			{Dst: p("203.0.113.0/24")},                        // on the link: fine
		}}}
	case "same":
		return fakeLeases{"d": {Addr: p("192.168.1.50/24"), Gateway: gw("192.168.1.254")}}
	}
	return fakeLeases{}
}

func (s cycleStep) holds() Holds {
	h := Holds{}
	for i, name := range []string{"a", "b", "c"} {
		if s.sick[i] {
			h[name] = Down(HealthDown, "probes")
		}
	}
	if s.links[2] == "down" || s.links[2] == "gone" {
		h["c"] = Down(PPPDown, "pppd ip-down")
	}
	return h
}

// shape makes k's links what the step says, and puts the step's foreign
// route in a's table.
func (s cycleStep) shape(k *fakeKernel) {
	cidrB := "192.168.2.2/24"
	if s.overlap {
		cidrB = "192.168.1.3/24"
	}
	for i, spec := range []struct{ name, cidr string }{{"wan0", "192.168.1.2/24"}, {"wan1", cidrB}} {
		state := s.links[i]
		if state == "gone" {
			k.removeLink(spec.name)
			continue
		}
		if k.link(spec.name) == nil {
			k.addLink(spec.name, "", true)
		}
		k.setUp(spec.name, state != "nocarrier")
		l := k.link(spec.name)
		l.addrs = nil
		k.routes = slices.DeleteFunc(k.routes, func(r netlink.Route) bool { return r.Table == unix.RT_TABLE_MAIN && r.LinkIndex == l.attrs.Index })
		if state != "noaddr" {
			k.addAddr(spec.name, spec.cidr, "")
		}
	}
	switch s.links[2] {
	case "gone":
		k.removeLink("ppp-c")
	default:
		if k.link("ppp-c") == nil {
			k.addLink("ppp-c", "", true)
		}
		l := k.link("ppp-c")
		l.addrs = nil
		local := map[string]string{"up1": "100.64.0.10/32", "up2": "100.64.0.20/32", "down": "100.64.0.10/32"}[s.links[2]]
		k.addAddr("ppp-c", local, "100.64.0.1")
	}
	if t, ok := map[string]int{"blackhole": unix.RTN_BLACKHOLE, "prohibit": unix.RTN_PROHIBIT, "throw": unix.RTN_THROW, "unreachable": unix.RTN_UNREACHABLE}[s.foreign]; ok {
		k.routes = append(k.routes, netlink.Route{Table: 101, Type: t, Dst: &net.IPNet{IP: net.IPv4(10, 99, 0, 0).To4(), Mask: net.CIDRMask(16, 32)}})
	}
}

// world is a kernel in the step's shape that pathpin never touched;
// withForeign puts the step's foreign route in a's table too.
func (s cycleStep) world(withForeign bool) *fakeKernel {
	k := newFakeKernel()
	k.addLink("lan0", "10.0.0.1/24", true)
	k.addLink("wan2", "", true)
	k.addLink("wan3", "", true)
	if !withForeign {
		s.foreign = ""
	}
	s.shape(k)
	return k
}

func TestRandomStateCycling(t *testing.T) {
	sequences, steps := 250, 10
	if testing.Short() {
		sequences = 50
	}
	for seq := range sequences {
		r := rand.New(rand.NewPCG(uint64(seq), 7))
		first := randomStep(r)
		k := first.world(true)
		e := fakeEngine(k, t.TempDir())
		for step := range steps {
			s := first
			if step > 0 {
				s = randomStep(r)
				s.shape(k)
			}
			cfg := s.config(t)
			engineLeases[e] = s.leases()
			if _, err := e.Apply(context.Background(), in(e, cfg, s.holds())); err != nil {
				t.Fatalf("sequence %d step %d %+v: apply: %v", seq, step, s, err)
			}
			cycleCheck(t, fmt.Sprintf("sequence %d step %d %+v", seq, step, s), e, cfg, s.holds(), s.world, r.IntN(4) == 0)
		}
	}
}

// cycleCheck is what random state cycling checks after each apply of e:
// its kernel is what a fresh apply of the same state to world makes, and,
// with down, pathpin's down on a copy of it returns to world.
func cycleCheck(t *testing.T, where string, e *Engine, cfg *config.Config, held Holds, world func(withForeign bool) *fakeKernel, down bool) {
	t.Helper()
	k := e.NL.(*fakeKernel)
	fresh := world(true)
	fe := fakeEngine(fresh, t.TempDir())
	engineLeases[fe] = engineLeases[e]
	if _, err := fe.Apply(context.Background(), in(fe, cfg, held)); err != nil {
		t.Fatalf("%s: fresh apply: %v", where, err)
	}
	if diff := cmp.Diff(fresh.dump(), k.dump()); diff != "" {
		t.Fatalf("%s: the kernel differs from a fresh apply (-fresh +cycled):\n%s", where, diff)
	}
	if !down {
		return
	}
	downDir := t.TempDir()
	copyRecord(t, e.StateDir, downDir)
	c := k.clone()
	if _, err := fakeEngine(c, downDir).Down(context.Background(), cfg); err != nil {
		t.Fatalf("%s: down: %v", where, err)
	}
	// A foreign route in pathpin's table is gone for good: pathpin owns
	// the table.
	if diff := cmp.Diff(world(false).dump(), c.dump()); diff != "" {
		t.Fatalf("%s: down did not return to the start (-start +after down):\n%s", where, diff)
	}
}

// copyRecord copies the engine's records (settings found, addresses
// added) from one state directory to another.
func copyRecord(t *testing.T, from, to string) {
	t.Helper()
	for _, name := range []string{"sysctl.json", "addresses.json"} {
		b, err := os.ReadFile(filepath.Join(from, name))
		if err != nil {
			continue
		}
		if err := os.WriteFile(filepath.Join(to, name), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// refusingKernel refuses every route for one table, as the kernel does a
// route through a link that went down in the middle of the apply.
type refusingKernel struct {
	*fakeKernel
	table int
}

func (k refusingKernel) RouteReplace(r *netlink.Route) error {
	if r.Table == k.table && r.Type != unix.RTN_UNREACHABLE {
		return unix.ENETUNREACH
	}
	return k.fakeKernel.RouteReplace(r)
}

// TestOneRefusedUplinkDoesNotHoldTheOthersBack: the kernel refuses uplink
// b's routes; b leaves service with the kernel's reason and its table
// holds only an unreachable default, while a is applied.
func TestOneRefusedUplinkDoesNotHoldTheOthersBack(t *testing.T) {
	k, cfg := fakeHome(t)
	e := fakeEngine(k, t.TempDir())
	e.NL = refusingKernel{fakeKernel: k, table: 102}
	p, err := e.Apply(context.Background(), in(e, cfg, nil))
	if err != nil {
		t.Fatalf("one uplink's refused routes failed the whole apply: %v", err)
	}
	b := statusOf(p, "b")
	if b.Up() || b.Reason.Cause != Refused || !strings.Contains(b.Reason.String(), "network is unreachable") {
		t.Fatalf("b: %+v", b.Reason)
	}
	dump := k.dump()
	for _, want := range []string{"route table 101 default via 192.168.1.254 dev wan0", "route table 102 unreachable default"} {
		if !strings.Contains(dump, want) {
			t.Errorf("the kernel lacks %q:\n%s", want, dump)
		}
	}
	if a := statusOf(p, "a"); !a.Up() {
		t.Errorf("a is not in service: %v", a.Reason)
	}
}
