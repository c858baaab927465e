package uplink

import (
	"context"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/pathpin/pathpin/internal/config"
	"github.com/pathpin/pathpin/internal/nft"
	"github.com/pathpin/pathpin/internal/stats"
)

// domainBenchPolicies is five domain policies, alternating uplinks.
const domainBenchPolicies = `policies:
  - name: d0
    match: {domains: [d0.example]}
    via: [ispa]
  - name: d1
    match: {domains: [d1.example]}
    via: [ispb]
  - name: d2
    match: {domains: [d2.example]}
    via: [ispa]
  - name: d3
    match: {domains: [d3.example]}
    via: [ispb]
  - name: d4
    match: {domains: [d4.example]}
    via: [ispa]
`

// BenchmarkDomainPolicies measures what five domain policies holding
// 10,000 addresses in all cost the data plane: new connections per second
// through the router against no policies, in the same rounds (the order
// swapped round by round; the ratio is the median of the rounds' own).
// The lab's server is in none of the sets, so every new connection meets
// all five lookups and is balanced. The table is pathpin's own for the
// configuration, but for the two chains that queue DNS answers (they see
// only DNS answers, and the nft queue is not in every kernel); its sets
// are filled as DNS answers fill them. Target: ≥ 0.97×.
func BenchmarkDomainPolicies(b *testing.B) {
	l := newEngineLab(b)
	l.Router.Run("sysctl", "-qw", "net.ipv4.ip_forward=1")
	l.Client.Run("sysctl", "-qw", "net.ipv4.ip_local_port_range=1024 65535", "net.ipv4.tcp_tw_reuse=1")
	withDomains, err := config.Parse("bench.yaml", []byte(l.Config(1, 1, domainBenchPolicies)))
	if err != nil {
		b.Fatal(err)
	}
	e := l.engine()
	var conn *nft.Conn
	l.Router.Must(func() (err error) { conn, err = nft.Open(); return err })
	b.Cleanup(func() { conn.Close() })
	// 2,000 addresses per set, none the server's.
	var fills []nft.Fill
	for p := 0; p < 5; p++ {
		for i := 0; i < 2000; i++ {
			a := netip.AddrFrom4([4]byte{198, 18, byte(p*8 + i/250), byte(i%250 + 1)})
			fills = append(fills, nft.Fill{Set: DomainSet(fmt.Sprintf("d%d", p)), Addr: a, Timeout: time.Hour})
		}
	}
	domains := func() {
		l.Router.Must(func() error {
			p, err := e.Plan(context.Background(), Input{Config: withDomains})
			if err != nil {
				return err
			}
			t := p.Desired.NFT.Clone()
			t.Chains = slices.DeleteFunc(t.Chains, func(c nft.Chain) bool { return strings.HasPrefix(c.Name, "dns_") })
			if err := conn.Apply(t); err != nil {
				return err
			}
			for i := 0; i < len(fills); i += 1000 {
				if err := conn.FillSets(fills[i:min(i+1000, len(fills))]); err != nil {
					return err
				}
			}
			return nil
		})
		if n := strings.Count(l.Router.Run("nft", "list", "set", "ip", "pathpin", "domains_d4"), "198.18."); n == 0 {
			b.Fatal("the domain set holds no address")
		}
	}
	setups := []struct {
		name  string
		apply func()
		conns []float64
	}{
		{name: "no policies", apply: func() { l.write(l.Config(1, 1, "")); l.mustApply() }},
		{name: "5 domain policies, 10,000 addresses", apply: func() { l.write(l.Config(1, 1, "")); l.mustApply(); domains() }},
	}
	for i := 0; i < b.N; i++ {
		for k, rates := range l.connRates([]func(){setups[0].apply, setups[1].apply}) {
			setups[k].conns = append(setups[k].conns, rates...)
		}
	}
	l.pathpin("down")
	ratio, q1, q3 := paired(setups[1].conns, setups[0].conns)
	b.ReportMetric(ratio, "domains/none-conn")
	b.Logf("new connections/s: no policies %.0f; 5 domain policies with 10,000 addresses %.0f, %.3f× (quartiles %.3f–%.3f); target ≥ 0.97×",
		stats.MedianFloat(setups[0].conns), stats.MedianFloat(setups[1].conns), ratio, q1, q3)
}
