package uplink

import (
	"fmt"
	"math"
	"net/netip"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/pathpin/pathpin/internal/config"
	"github.com/pathpin/pathpin/internal/golden"
	"github.com/pathpin/pathpin/internal/nft"
)

// lab builds a configuration of n static uplinks (eth0..) with the given
// weights, and the facts of a router where each is up unless listed in down.
func lab(t *testing.T, weights []int, pppoe map[int]bool) (*config.Config, *Facts) {
	t.Helper()
	var y strings.Builder
	y.WriteString("lan:\n  interfaces: [lan0]\nuplinks:\n")
	facts := &Facts{Links: map[string]Link{"lan0": {Name: "lan0", Up: true, AdminUp: true, MTU: 1500, Addrs: []Addr{{Prefix: netip.MustParsePrefix("10.0.0.1/24")}}}}}
	facts.Connected = []Route{{Dst: netip.MustParsePrefix("10.0.0.0/24"), Dev: "lan0", LinkScope: true, Src: netip.MustParseAddr("10.0.0.1")}}
	for i, w := range weights {
		if pppoe[i] {
			fmt.Fprintf(&y, "  - name: dsl%d\n    weight: %d\n    pppoe:\n      interface: eth%d\n      vlan: 1000\n      username: u\n      password-file: /p\n", i, w, i)
			facts.Links[fmt.Sprintf("ppp-dsl%d", i)] = Link{Name: fmt.Sprintf("ppp-dsl%d", i), Up: true, AdminUp: true, MTU: 1492, Addrs: []Addr{{
				Prefix: netip.MustParsePrefix(fmt.Sprintf("203.0.113.%d/32", 10+i)), Peer: netip.MustParseAddr("203.0.113.1")}}}
			continue
		}
		fmt.Fprintf(&y, "  - name: isp%d\n    interface: eth%d\n    gateway: 192.168.%d.254\n    weight: %d\n", i, i, i, w)
		facts.Links[fmt.Sprintf("eth%d", i)] = Link{Name: fmt.Sprintf("eth%d", i), Up: true, AdminUp: true, MTU: 1500, Addrs: []Addr{{Prefix: netip.MustParsePrefix(fmt.Sprintf("192.168.%d.2/24", i))}}}
		facts.Connected = append(facts.Connected, Route{Dst: netip.MustParsePrefix(fmt.Sprintf("192.168.%d.0/24", i)), Dev: fmt.Sprintf("eth%d", i), LinkScope: true, Src: netip.MustParseAddr(fmt.Sprintf("192.168.%d.2", i))})
	}
	cfg, err := config.Parse("test.yaml", []byte(y.String()))
	if err != nil {
		t.Fatal(err)
	}
	return cfg, facts
}

func TestDesiredGolden(t *testing.T) {
	tests := []struct {
		name    string
		weights []int
		pppoe   map[int]bool
		down    Holds
		gone    string // a link that has disappeared
	}{
		{name: "one-uplink", weights: []int{1}},
		{name: "seed-1-1", weights: []int{1, 1}, pppoe: map[int]bool{1: true}},
		{name: "two-2-1", weights: []int{2, 1}},
		{name: "standby", weights: []int{1, 1, 0}},
		{name: "standby-takes-over", weights: []int{1, 0}, down: Holds{"isp0": Down(HealthDown, "probes failing")}},
		{name: "ppp-down", weights: []int{1, 1}, pppoe: map[int]bool{1: true}, down: Holds{"dsl1": Down(PPPDown, "ip-down")}},
		{name: "all-down", weights: []int{1, 1}, down: Holds{"isp0": Down(HealthDown, "x"), "isp1": Down(HealthDown, "y")}},
		{name: "ppp-gone", weights: []int{1, 1}, pppoe: map[int]bool{1: true}, gone: "ppp-dsl1"},
		{name: "eight-uplinks", weights: []int{1, 2, 3, 4, 5, 6, 7, 8}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, facts := lab(t, tt.weights, tt.pppoe)
			delete(facts.Links, tt.gone)
			statuses := Statuses(cfg, facts, tt.down)
			golden.Check(t, tt.name+".golden", RenderState(Desired(cfg, facts, statuses)))
			// The same state with pathpin's own nftables table, as plan
			// shows it (comments included; nft -f accepts the text).
			golden.Check(t, tt.name+".nft.golden", nftDesired(cfg, facts, statuses).Render(true))
		})
	}
}

// TestBalanceShares checks that the balance map gives every uplink its
// weight's share of the random numbers, for 1 to 8 uplinks.
func TestBalanceShares(t *testing.T) {
	for n := 1; n <= 8; n++ {
		weights := make([]int, n)
		total := 0
		for i := range weights {
			weights[i] = i%3 + 1
			total += weights[i]
		}
		cfg, facts := lab(t, weights, nil)
		table := nftDesired(cfg, facts, Statuses(cfg, facts, nil))
		var rule *nft.Rule
		for _, c := range table.Chains {
			if c.Name == "balance" {
				rule = &c.Rules[0]
			}
		}
		if rule == nil {
			t.Fatalf("%d uplinks: no balance rule", n)
		}
		// One uplink takes every connection with a plain jump.
		share, modulus := map[string]uint32{rule.Jump: 1}, uint32(1)
		if len(rule.Balance) > 0 {
			share, modulus = map[string]uint32{}, rule.Modulus
		}
		for _, slot := range rule.Balance {
			share[slot.Chain] += slot.To - slot.From + 1
		}
		for i, w := range weights {
			got := float64(share[fmt.Sprintf("to_isp%d", i)]) / float64(modulus)
			if want := float64(w) / float64(total); math.Abs(got-want) > 1e-9 {
				t.Errorf("%d uplinks: uplink %d gets %.6f, want %.6f", n, i, got, want)
			}
		}
	}
}

func TestStatuses(t *testing.T) {
	cfg, facts := lab(t, []int{1, 1, 1}, map[int]bool{2: true})
	facts.Links["eth1"] = Link{Name: "eth1", Up: false}
	delete(facts.Links, "ppp-dsl2")
	got := map[string]string{}
	for _, s := range Statuses(cfg, facts, Holds{"isp0": Down(HealthDown, "probes failing")}) {
		got[s.Name] = s.Reason.String()
	}
	want := map[string]string{
		"isp0": "probes failing",
		"isp1": "interface eth1 is down or has no carrier",
		"dsl2": "interface ppp-dsl2 does not exist",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Fatalf("(-want +got):\n%s", diff)
	}
}
