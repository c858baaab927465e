package uplink

import (
	"fmt"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/pathpin/pathpin/internal/atomicfile"
	"github.com/pathpin/pathpin/internal/config"
	"github.com/pathpin/pathpin/internal/golden"
	"github.com/pathpin/pathpin/internal/nft"
)

// tenPolicies uses every kind of match, tiers, weights, sticky, drop and
// the router's own traffic.
const tenPolicies = `policies:
  - name: phone
    match: {source: [10.0.0.20], protocol: udp, port: [5060, 10000-20000]}
    via: [isp1, isp0]
  - name: laptop
    match: {mac: [aa:bb:cc:dd:ee:ff]}
    via: {isp0: 2, isp1: 1}
    sticky: 30m
  - name: backups
    match: {destination: [198.51.100.0/24], port: [22]}
    via: [isp0]
    otherwise: drop
  - name: console
    match: {source: [10.0.0.30-10.0.0.39]}
    via: [{isp1: 1}, isp0]
  - name: guests
    match: {interface: [lan0], source: [10.0.0.128/25]}
    via: isp1
  - name: dns
    match: {protocol: udp, port: 53}
    via: [isp0, isp1]
  - name: icmp
    match: {protocol: icmp}
    via: [isp1]
  - name: web
    match: {port: [80, 443], source: [10.0.0.20]}
    via: [isp0]
  - name: ntp
    match: {router: true, protocol: udp, port: 123}
    via: [isp1, isp0]
  - name: router-backup
    match: {router: true, destination: [192.0.2.0/24]}
    via: [isp0]
    sticky: 1h
    otherwise: drop
`

// domainPolicies steer by domain (alone, with other fields, for the
// router) and by program, between policies that share a map.
const domainPolicies = `policies:
  - name: phone
    match: {source: [10.0.0.20]}
    via: [isp1]
  - name: stream
    match: {domains: [stream.example, video.example]}
    via: [isp1, isp0]
  - name: bank
    match: {domains: [bank.example], source: [10.0.0.0/25], protocol: tcp, port: 443}
    via: isp0
    otherwise: drop
  - name: web
    match: {port: [80, 443]}
    via: [isp0]
  - name: backup
    match: {program: backup}
    via: isp1
  - name: updates
    match: {router: true, domains: [deb.example]}
    via: isp0
programs:
  - name: backup
  - name: idle
dns: {min-ttl: 1m, max-ttl: 1h}
`

// manyPolicies is n policies, each for one LAN host, alternating uplinks.
func manyPolicies(n int) string {
	var b strings.Builder
	b.WriteString("policies:\n")
	for i := 0; i < n; i++ {
		fmt.Fprintf(&b, "  - name: host%d\n    match: {source: [10.1.%d.%d]}\n    via: [isp%d]\n", i, i/250, i%250+1, i%2)
	}
	return b.String()
}

// policyLab is lab's two uplinks with the policies in yaml.
func policyLab(t *testing.T, yaml string) (*config.Config, *Facts) {
	t.Helper()
	cfg, facts := lab(t, []int{1, 1}, nil)
	text := "lan:\n  interfaces: [lan0]\nuplinks:\n  - name: isp0\n    interface: eth0\n    gateway: 192.168.0.254\n  - name: isp1\n    interface: eth1\n    gateway: 192.168.1.254\n" + yaml
	c, err := config.Parse("test.yaml", []byte(text))
	if err != nil {
		t.Fatal(err)
	}
	_ = cfg
	return c, facts
}

// TestPolicyGoldens: the table for 0, 1, 10 and 200 policies, and for
// the ten with one uplink or both out of service.
func TestPolicyGoldens(t *testing.T) {
	tests := []struct {
		name, yaml string
		down       Holds
	}{
		{name: "policies-0"},
		{name: "policies-1", yaml: "policies:\n  - name: phone\n    match: {source: [10.0.0.20], protocol: udp, port: [5060, 10000-20000]}\n    via: [isp1, isp0]\n"},
		{name: "policies-10", yaml: tenPolicies},
		{name: "policies-10-isp0-down", yaml: tenPolicies, down: Holds{"isp0": Down(HealthDown, "x")}},
		{name: "policies-10-all-down", yaml: tenPolicies, down: Holds{"isp0": Down(HealthDown, "x"), "isp1": Down(HealthDown, "y")}},
		{name: "policies-200", yaml: manyPolicies(200)},
		{name: "balance-sticky", yaml: "balance: {sticky: 30m}\n"},
		{name: "domains-programs", yaml: domainPolicies},
		{name: "domains-programs-isp1-down", yaml: domainPolicies, down: Holds{"isp1": Down(HealthDown, "x")}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, facts := policyLab(t, tt.yaml)
			if tt.yaml != domainPolicies {
				golden.Check(t, tt.name+".nft.golden", nftDesired(cfg, facts, Statuses(cfg, facts, tt.down)).Render(true))
				return
			}
			facts.Cgroups = Cgroups{
				Programs: map[string]Cgroup{"backup": {Path: "pathpin.slice/pathpin-backup.slice", Level: 2, ID: 4242}},
				Execs: []Exec{
					{Cgroup: Cgroup{Path: "pathpin.slice/pathpin-exec-isp1-1.scope", Level: 2, ID: 5001}, Uplink: "isp1"},
					{Cgroup: Cgroup{Path: "pathpin.slice/pathpin-exec-isp1-2.scope", Level: 2, ID: 5002}, Uplink: "isp1", Fallback: true},
				},
			}
			golden.Check(t, tt.name+".nft.golden", nftDesired(cfg, facts, Statuses(cfg, facts, tt.down)).Render(true))
		})
	}
}

// TestPolicyMapsStayFew: 200 policies that do not overlap are one lookup;
// each policy that overlaps an earlier one starts another map, so first
// match still wins.
func TestPolicyMapsStayFew(t *testing.T) {
	cfg, facts := policyLab(t, manyPolicies(200))
	if n := steerLookups(nftDesired(cfg, facts, Statuses(cfg, facts, nil))); n != 1 {
		t.Errorf("200 disjoint policies make %d lookups, want 1", n)
	}
	cfg, facts = policyLab(t, tenPolicies)
	// phone|laptop (overlap: any MAC) laptop,backups,console,guests|dns...
	if n := steerLookups(nftDesired(cfg, facts, Statuses(cfg, facts, nil))); n < 2 || n > 8 {
		t.Errorf("the ten policies make %d lookups on lan0", n)
	}
}

func steerLookups(t *nft.Table) int {
	for _, c := range t.Chains {
		if c.Name == steerChain(lanSteer("lan0")) {
			return len(c.Rules)
		}
	}
	return 0
}

// TestStickyRecordKeepsSetsNotYetMade: the sources kept while pathpin was
// stopped go back into the sets an apply makes, each with the time it has
// left (at most its set's timeout); a set the apply does not make yet (its
// uplink still dialling) stays in the record for a later apply.
func TestStickyRecordKeepsSetsNotYetMade(t *testing.T) {
	e := &Engine{StateDir: t.TempDir()}
	a, b := netip.MustParseAddr("10.0.0.70"), netip.MustParseAddr("10.0.0.71")
	rec := stickyRecord{Saved: time.Now().Add(-time.Minute), Sets: map[string][]stickyItem{
		"sticky_p.isp0": {{Addr: a, Expires: 20 * time.Minute}, {Addr: b, Expires: 30 * time.Second}},
		"sticky_p.isp1": {{Addr: b, Expires: 2 * time.Hour}},
	}}
	if err := atomicfile.WriteJSON(e.stickyPath(), rec, 0o600); err != nil {
		t.Fatal(err)
	}
	want := &nft.Table{Sets: []nft.Set{{Name: "sticky_p.isp0", Timeout: 10 * time.Minute}}}
	out, taken := e.withSavedSticky(want, &nft.Table{})
	got := out.Sets[0].Entries
	if len(got) != 1 || got[0].Addr != a || got[0].Expires != 10*time.Minute {
		t.Errorf("restored %v; want only %s (the other expired), capped at the set's 10m", got, a)
	}
	if len(want.Sets[0].Entries) != 0 {
		t.Error("the table asked for was changed")
	}
	taken()
	var left stickyRecord
	if found, err := atomicfile.ReadJSON(e.stickyPath(), &left); !found || err != nil || len(left.Sets) != 1 || len(left.Sets["sticky_p.isp1"]) != 1 {
		t.Fatalf("the record kept %+v (%v, %v); want only the set not made yet", left, found, err)
	}
	// The set made later takes its sources, and the record goes.
	want = &nft.Table{Sets: []nft.Set{{Name: "sticky_p.isp1", Timeout: 3 * time.Hour}}}
	out, taken = e.withSavedSticky(want, &nft.Table{})
	if got := out.Sets[0].Entries; len(got) != 1 || got[0].Addr != b || got[0].Expires > 2*time.Hour || got[0].Expires < 118*time.Minute {
		t.Errorf("later restored %v", got)
	}
	taken()
	if found, _ := atomicfile.ReadJSON(e.stickyPath(), &left); found {
		t.Error("the record stays with nothing left in it")
	}
}

// TestStickyRecordAcrossStops: stopping again before a waiting set was
// made keeps its sources with the live sets'; a record from the future
// (the clock went back) brings nothing back.
func TestStickyRecordAcrossStops(t *testing.T) {
	k := newFakeKernel()
	e := &Engine{StateDir: t.TempDir(), Tables: k}
	a, b := netip.MustParseAddr("10.0.0.70"), netip.MustParseAddr("10.0.0.71")
	rec := stickyRecord{Saved: time.Now(), Sets: map[string][]stickyItem{"sticky_p.ppp0": {{Addr: a, Expires: time.Hour}}}}
	if err := atomicfile.WriteJSON(e.stickyPath(), rec, 0o600); err != nil {
		t.Fatal(err)
	}
	live := &nft.Table{Sets: []nft.Set{{Name: "sticky_p.isp0", Timeout: time.Hour, Entries: []nft.Entry{{Addr: b, Expires: time.Minute}}}}}
	k.nft = live
	if err := e.saveSticky(live); err != nil {
		t.Fatal(err)
	}
	left, _ := e.savedLeft(time.Now())
	if len(left["sticky_p.ppp0"]) != 1 || len(left["sticky_p.isp0"]) != 1 {
		t.Fatalf("after a second stop the record holds %v; want the waiting set and the live one", left)
	}
	rec.Saved = time.Now().Add(time.Hour)
	if err := atomicfile.WriteJSON(e.stickyPath(), rec, 0o600); err != nil {
		t.Fatal(err)
	}
	if left, _ := e.savedLeft(time.Now()); len(left) != 0 {
		t.Errorf("a record from the future brought back %v", left)
	}
}
