package uplink

import (
	"fmt"
	"strings"
	"testing"

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
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, facts := policyLab(t, tt.yaml)
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
		if c.Name == steerChain("lan0") {
			return len(c.Rules)
		}
	}
	return 0
}
