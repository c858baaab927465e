package uplink

import (
	"net/netip"
	"strings"
	"testing"

	"github.com/pathpin/pathpin/internal/nft"
)

// TestWhyDomainsAndPrograms: a domain policy matches a destination its
// set holds now and no other, is named as unsure without a destination,
// and a program's policy is always unsure (a question names no cgroup).
func TestWhyDomainsAndPrograms(t *testing.T) {
	cfg, facts := policyLab(t, `policies:
  - name: stream
    match: {domains: [stream.example]}
    via: [isp1]
  - name: backup
    match: {program: backup}
    via: isp0
programs:
  - name: backup
`)
	live := nftDesired(cfg, facts, Statuses(cfg, facts, nil))
	inSet := netip.MustParseAddr("198.51.100.7")
	sticky := func(set string) ([]nft.Entry, error) {
		if set == DomainSet("stream") {
			return []nft.Entry{{Addr: inSet}}, nil
		}
		return nil, nil
	}
	src := netip.MustParseAddr("10.0.0.2")
	for _, tt := range []struct {
		name         string
		q            Question
		policy       string
		unsureNaming string
	}{
		{"in the set", Question{Src: src, Dst: inSet}, "stream", ""},
		{"not in the set", Question{Src: src, Dst: netip.MustParseAddr("198.51.100.8")}, "", ""},
		{"no destination", Question{Src: src}, "", "stream (if the destination (in the set of stream.example) matched)"},
		{"the router's own", Question{Src: src, Dst: inSet, Router: true}, "", "backup (if the program (a command of program backup) matched)"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			a, err := Explain(cfg, live, nil, tt.q, sticky, nil)
			if err != nil {
				t.Fatal(err)
			}
			if a.Policy != tt.policy || !strings.Contains(strings.Join(a.Unsure, "; "), tt.unsureNaming) {
				t.Errorf("policy %q, unsure %q; want %q, unsure naming %q", a.Policy, a.Unsure, tt.policy, tt.unsureNaming)
			}
		})
	}
}
