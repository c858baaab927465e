package uplink

import (
	"context"
	"fmt"
	"io"
	"math"
	"slices"
	"testing"
	"time"

	"github.com/pathpin/pathpin/internal/conntrack"
	"github.com/pathpin/pathpin/internal/netnstest"
	"github.com/pathpin/pathpin/internal/stats"
)

// BenchmarkDataPlane measures new connections per second and bulk TCP
// throughput through the router with pathpin's table, against the same
// router as a plain single-uplink NAT on nftables (one masquerade rule),
// and beside both the plain NAT with one ip rule that matches no packet:
// what the kernel charges any router that routes by policy, so that what
// pathpin's own table costs on top of that shows apart.
// Each round measures every setup back to back, in an order that swaps
// round by round; a ratio is the median over rounds of each round's own
// ratio, so a slow stretch of the machine weighs on both sides of it.
// Target ≥ 0.97×.
func BenchmarkDataPlane(b *testing.B) {
	l := newEngineLab(b)
	l.configure(1, 1)
	const bulk = 1 << 30 // a transfer of a third of a second or more
	netnstest.ServeBulk(l.Server.Listen(netnstest.ServerAddr+":81"), bulk)
	var stopCounter func()
	plain := func() {
		l.Router.Run("nft", `add table ip plain; add chain ip plain post { type nat hook postrouting priority srcnat; }; add rule ip plain post oifname "wan0" masquerade`)
	}
	unplain := func() { l.Router.Run("nft", "delete table ip plain") }
	// The kernel's own price for routing by policy, whoever routes so: the
	// same plain NAT with one ip rule that no packet matches. With a rule
	// of its own in place the kernel keeps the local and main tables apart
	// (a rule walk and two lookups where there was one) and checks every
	// forwarded packet's source with a full reverse lookup.
	noMatch := []string{"fwmark", "0xdead0000/0xffff0000", "lookup", "4242", "pref", "5000"}
	ruled := func() { plain(); l.Router.Run("ip", append([]string{"rule", "add"}, noMatch...)...) }
	unruled := func() { l.Router.Run("ip", append([]string{"rule", "del"}, noMatch...)...); unplain() }
	setups := []struct {
		name        string
		up, down    func()
		conns, mbps []float64
	}{
		{name: "pathpin", up: func() { l.mustApply() }, down: func() { l.pathpin("down") }},
		{name: "plain-nat", up: plain, down: unplain},
		// As the daemon runs it: its flow counter takes every new and
		// destroyed connection's event.
		{name: "pathpin-counting", up: func() { l.mustApply(); stopCounter = startCounter(b, l.Router) }, down: func() { stopCounter(); l.pathpin("down") }},
		{name: "plain-nat-one-rule", up: ruled, down: unruled},
		// pathpin with protect.lan off: what the LAN's protection costs.
		{name: "pathpin-unprotected", up: func() { l.write(l.Config(1, 1, "protect:\n  lan: false\n")); l.mustApply() },
			down: func() { l.pathpin("down"); l.configure(1, 1) }},
	}
	l.Router.Run("sysctl", "-qw", "net.ipv4.ip_forward=1")
	// The client's ports: 63,000 connections are made within the minute
	// their TIME_WAIT lasts.
	l.Client.Run("sysctl", "-qw", "net.ipv4.ip_local_port_range=1024 65535", "net.ipv4.tcp_tw_reuse=1")
	const rounds, n = 21, 1000
	for i := 0; i < b.N; i++ {
		inRounds(rounds, len(setups), func(k int) {
			s := &setups[k]
			s.up()
			start := time.Now()
			l.connect(n)
			s.conns = append(s.conns, n/time.Since(start).Seconds())
			c, err := l.Client.Dial(netnstest.ServerAddr+":81", 3*time.Second)
			if err != nil {
				b.Fatal(err)
			}
			start = time.Now()
			got, err := io.Copy(io.Discard, c)
			c.Close()
			if err != nil || got != bulk {
				b.Fatalf("bulk transfer: %d bytes, %v", got, err)
			}
			s.mbps = append(s.mbps, float64(got)*8/1e6/time.Since(start).Seconds())
			s.down()
		})
	}
	med := stats.MedianFloat
	cr, cq1, cq3 := paired(setups[0].conns, setups[1].conns)
	tr, tq1, tq3 := paired(setups[0].mbps, setups[1].mbps)
	ccr, _, _ := paired(setups[2].conns, setups[1].conns)
	ctr, _, _ := paired(setups[2].mbps, setups[1].mbps)
	rcr, rcq1, rcq3 := paired(setups[3].conns, setups[1].conns)
	rtr, _, _ := paired(setups[3].mbps, setups[1].mbps)
	ocr, ocq1, ocq3 := paired(setups[0].conns, setups[3].conns)
	otr, _, _ := paired(setups[0].mbps, setups[3].mbps)
	pcr, pcq1, pcq3 := paired(setups[0].conns, setups[4].conns)
	ptr, ptq1, ptq3 := paired(setups[0].mbps, setups[4].mbps)
	b.ReportMetric(pcr, "protect-on/off-conn")
	b.ReportMetric(ptr, "protect-on/off-bulk")
	b.Logf("protect.lan on vs off, same rounds: new connections/s %.3f× (quartiles %.3f–%.3f), bulk TCP %.3f× (%.3f–%.3f) (target ≥ 0.97)",
		pcr, pcq1, pcq3, ptr, ptq1, ptq3)
	b.ReportMetric(med(setups[0].conns), "pathpin-conn/s")
	b.ReportMetric(med(setups[1].conns), "plain-conn/s")
	b.ReportMetric(cr, "conn-ratio")
	b.ReportMetric(med(setups[0].mbps), "pathpin-Mbit/s")
	b.ReportMetric(med(setups[1].mbps), "plain-Mbit/s")
	b.ReportMetric(tr, "throughput-ratio")
	b.ReportMetric(ccr, "counting-conn-ratio")
	b.ReportMetric(ctr, "counting-throughput-ratio")
	b.ReportMetric(rcr, "one-rule-conn-ratio")
	b.ReportMetric(ocr, "pathpin/one-rule-conn-ratio")
	b.Logf("%d rounds of %d connections and one %d MiB transfer each: new connections/s pathpin %.0f vs plain NAT %.0f, round by round %.3f× (quartiles %.3f–%.3f); throughput pathpin %.0f vs plain NAT %.0f Mbit/s, %.3f× (%.3f–%.3f); target ≥ 0.97×",
		rounds, n, bulk>>20, med(setups[0].conns), med(setups[1].conns), cr, cq1, cq3, med(setups[0].mbps), med(setups[1].mbps), tr, tq1, tq3)
	b.Logf("with the daemon's flow counter taking conntrack events: %.0f new connections/s (%.3f× plain NAT), %.0f Mbit/s (%.3f×)",
		med(setups[2].conns), ccr, med(setups[2].mbps), ctr)
	b.Logf("the kernel's price for routing by policy, plain NAT with one ip rule that matches nothing: %.3f× plain NAT's new connections/s (quartiles %.3f–%.3f), %.3f× its throughput; pathpin against it: %.3f× (%.3f–%.3f) and %.3f×",
		rcr, rcq1, rcq3, rtr, ocr, ocq1, ocq3, otr)
}

// inRounds runs setups 0..n-1 once per round, in an order that swaps
// round by round, so a slow stretch of the machine weighs on all of them.
func inRounds(rounds, n int, run func(setup int)) {
	for r := 0; r < rounds; r++ {
		for j := 0; j < n; j++ {
			k := j
			if r%2 == 1 {
				k = n - 1 - j
			}
			run(k)
		}
	}
}

// paired is the median of each round's ratio of a to b, with the
// quartiles of those ratios.
func paired(a, b []float64) (median, q1, q3 float64) {
	rs := make([]float64, len(a))
	for r := range a {
		rs[r] = a[r] / b[r]
	}
	slices.Sort(rs)
	return stats.MedianFloat(rs), rs[len(rs)/4], rs[len(rs)*3/4]
}

// BenchmarkBalance reports how far the split of 2,000 new connections
// lands from the weights (in standard deviations and percent), and the
// share of long-lived connections that keep their source address across
// two applies that change the weights.
func BenchmarkBalance(b *testing.B) {
	for i := 0; i < b.N; i++ {
		for _, w := range [][2]int{{1, 1}, {2, 1}} {
			l := newEngineLab(b)
			l.configure(w[0], w[1])
			l.mustApply()
			const n = 2000
			counts := l.connect(n)
			p := float64(w[0]) / float64(w[0]+w[1])
			got := float64(counts[l.UplinkAddrs[0]])
			z := (got - n*p) / math.Sqrt(n*p*(1-p))
			b.ReportMetric(z, fmt.Sprintf("z-%d:%d", w[0], w[1]))
			b.Logf("weights %d:%d: ispA carried %.0f of %d (expected %.0f): %+.2f sd, %+.2f%%", w[0], w[1], got, n, n*p, z, 100*(got-n*p)/(n*p))
		}
		l := newEngineLab(b)
		l.configure(1, 1)
		l.mustApply()
		var conns []*netnstest.SourceConn
		for k := 0; k < 100; k++ {
			c, err := l.Client.DialSource(netnstest.ServerAddr + ":80")
			if err != nil {
				b.Fatal(err)
			}
			defer c.Close()
			conns = append(conns, c)
		}
		l.configure(3, 1)
		l.mustApply()
		l.configure(1, 4)
		l.mustApply()
		kept := 0
		for _, c := range conns {
			if src, err := c.Ask(); err == nil && src == c.First {
				kept++
			}
		}
		b.ReportMetric(float64(kept), "sticky-%")
		b.Logf("stickiness: %d of 100 long-lived connections kept their source address across two re-weighting applies", kept)
	}
}

// startCounter runs the daemon's flow counter in ns, as `pathpin up`
// does, until the returned function is called.
func startCounter(tb testing.TB, ns *netnstest.NS) func() {
	tb.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	c := conntrack.NewCounter(0xff00, nil)
	go ns.Do(func() { done <- c.Run(ctx) })
	// Counting from its first dump on, as a daemon that has been up a
	// while is.
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(time.Millisecond) {
		if _, ok := c.Counts(0xff00); ok {
			break
		}
		if time.Now().After(deadline) {
			cancel()
			tb.Fatalf("the flow counter has not read the table after 10 s: %v", <-done)
		}
	}
	return func() {
		cancel()
		if err := <-done; err != nil {
			tb.Fatalf("the flow counter stopped: %v", err)
		}
	}
}
