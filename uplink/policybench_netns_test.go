package uplink

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/pathpin/pathpin/internal/config"
	"github.com/pathpin/pathpin/internal/stats"
)

// benchPolicies is n policies for LAN hosts that are not the lab's
// client, each by one uplink, and, when last is set, one more that the
// client's traffic meets (by both uplinks, as the balance would send it).
func benchPolicies(n int, last string) string {
	var b strings.Builder
	b.WriteString("policies:\n")
	for i := 0; i < n; i++ {
		fmt.Fprintf(&b, "  - name: host%d\n    match: {source: [10.1.%d.%d], protocol: tcp, port: [443, 8000-8999]}\n    via: [%s]\n",
			i, i/250, i%250+1, []string{"ispa", "ispb"}[i%2])
	}
	b.WriteString(last)
	return b.String()
}

// clientPolicy takes the lab client's connections, by both uplinks.
const clientPolicy = "  - name: client\n    match: {source: [10.0.0.2]}\n    via: {ispa: 1, ispb: 1}\n"

// BenchmarkPolicies measures what 200 policies cost: new connections per
// second through the router with no policies, with 200 that the traffic
// does not meet, and with 200 of which it meets the last (all in the same
// rounds, the order swapped round by round; each ratio is the median of
// the rounds' own ratios); and the time the engine takes to apply a
// change of one policy among 200 against the same change of a weight with
// no policies. Targets: ≥ 0.97× and ≤ 2×.
func BenchmarkPolicies(b *testing.B) {
	l := newEngineLab(b)
	l.Router.Run("sysctl", "-qw", "net.ipv4.ip_forward=1")
	l.Client.Run("sysctl", "-qw", "net.ipv4.ip_local_port_range=1024 65535", "net.ipv4.tcp_tw_reuse=1")
	setups := []struct {
		name  string
		yaml  string
		conns []float64
	}{
		{name: "no policies"},
		{name: "200 policies, none met", yaml: benchPolicies(200, "")},
		{name: "200 policies, the last met", yaml: benchPolicies(199, clientPolicy)},
	}
	var applies []func()
	for k := range setups {
		applies = append(applies, func() { l.write(l.Config(1, 1, setups[k].yaml)); l.mustApply() })
	}
	for i := 0; i < b.N; i++ {
		for k, rates := range l.connRates(applies) {
			setups[k].conns = append(setups[k].conns, rates...)
		}
	}
	l.pathpin("down")
	none, nq1, nq3 := paired(setups[1].conns, setups[0].conns)
	met, mq1, mq3 := paired(setups[2].conns, setups[0].conns)
	b.ReportMetric(none, "200-unmet/none-conn")
	b.ReportMetric(met, "200-met/none-conn")
	b.Logf("new connections/s: no policies %.0f; 200 policies none met %.0f, %.3f× (quartiles %.3f–%.3f); 200 policies the last met %.0f, %.3f× (%.3f–%.3f); target ≥ 0.97×",
		stats.MedianFloat(setups[0].conns), stats.MedianFloat(setups[1].conns), none, nq1, nq3, stats.MedianFloat(setups[2].conns), met, mq1, mq3)

	// Apply time, in-process as the daemon applies: one policy's uplink
	// changes among 200, against a weight change with none.
	e := l.engine()
	applyTimes := func(yamls [2]string) []float64 {
		var cfgs [2]*config.Config
		for i, y := range yamls {
			c, err := config.Parse("bench.yaml", []byte(y))
			if err != nil {
				b.Fatal(err)
			}
			cfgs[i] = c
		}
		var out []float64
		for r := 0; r < 31; r++ {
			var took time.Duration
			var err error
			l.Router.Do(func() {
				start := time.Now()
				_, err = e.Apply(context.Background(), Input{Config: cfgs[r%2]})
				took = time.Since(start)
			})
			if err != nil {
				b.Fatal(err)
			}
			if r > 0 {
				out = append(out, float64(took.Microseconds())/1000)
			}
		}
		return out
	}
	changed := strings.Replace(benchPolicies(200, ""), "name: host100\n    match: {source: [10.1.0.101], protocol: tcp, port: [443, 8000-8999]}\n    via: [ispa]", "name: host100\n    match: {source: [10.1.0.101], protocol: tcp, port: [443, 8000-8999]}\n    via: [ispb]", 1)
	with := applyTimes([2]string{l.Config(1, 1, benchPolicies(200, "")), l.Config(1, 1, changed)})
	without := applyTimes([2]string{l.Config(1, 1, ""), l.Config(2, 1, "")})
	l.pathpin("down")
	ratio := stats.MedianFloat(with) / stats.MedianFloat(without)
	b.ReportMetric(ratio, "apply-200/none")
	b.Logf("applying one change: among 200 policies %.2f ms (median of 30), with none %.2f ms: %.2f× (target ≤ 2×)",
		stats.MedianFloat(with), stats.MedianFloat(without), ratio)
}

// connRates measures new connections per second through the router after
// each of applies, 15 rounds of 1,000 connections, the order swapped round
// by round (inRounds): one rate per round, by apply.
func (l *engineLab) connRates(applies []func()) [][]float64 {
	const rounds, n = 15, 1000
	out := make([][]float64, len(applies))
	inRounds(rounds, len(applies), func(k int) {
		applies[k]()
		start := time.Now()
		l.connect(n)
		out[k] = append(out[k], n/time.Since(start).Seconds())
	})
	return out
}
