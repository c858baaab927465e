package uplink

import (
	"context"
	"testing"
	"time"

	"github.com/pathpin/pathpin/internal/config"
	"github.com/pathpin/pathpin/internal/stats"
)

// BenchmarkUplinkUpApply times what a PPP ip-up asks of the engine: the
// second uplink comes into service (its table, its rule, its balance share
// and NAT), side by side for pathpin's nftables table, the iptables
// backend (iptables-nft: save, restore, save), and the floor: the same
// kernel change as one nftables batch plus netlink, with no read at all.
// Warm is the daemon's long-lived engine; cold a fresh one (new sockets,
// nothing cached). Target: nftables ≤ 2× the floor, cold and warm.
func BenchmarkUplinkUpApply(b *testing.B) {
	type way struct {
		name string
		lab  *engineLab
		run  func() error
		// prepare runs untimed before each run.
		prepare func()
	}
	held := Holds{"ispb": Down(PPPDown, "pppd ip-down")}
	setup := func(backend string) (*engineLab, *config.Config, func() *Engine) {
		l := newEngineLab(b, backend)
		l.configure(1, 1)
		cfg, err := config.Load(l.cfgPath)
		if err != nil {
			b.Fatal(err)
		}
		return l, cfg, func() *Engine { return l.engine(backend) }
	}
	ln, cfgN, newN := setup("nftables")
	li, cfgI, newI := setup("nft")
	warmN, warmI := newN(), newI()
	apply := func(l *engineLab, e *Engine, cfg *config.Config, h Holds) (err error) {
		l.Router.Do(func() { _, err = e.Apply(context.Background(), cfg, h) })
		return err
	}
	// The floor's input: what the engine would write, computed untimed.
	var floorPlan *Plan
	ln.Router.Do(func() {
		if err := apply(ln, warmN, cfgN, held); err != nil {
			b.Fatal(err)
		}
		var err error
		if floorPlan, err = warmN.Plan(context.Background(), cfgN, nil); err != nil {
			b.Fatal(err)
		}
	})
	var cold *Engine
	ways := []way{
		{name: "nftables-warm", lab: ln, run: func() error { return apply(ln, warmN, cfgN, nil) }},
		// Cold: an engine that has read nothing yet (nftables keeps no
		// cache, so only its sockets are new).
		{name: "nftables-cold", lab: ln, prepare: func() {
			if cold != nil {
				cold.Close()
			}
			cold = newN()
		}, run: func() error { return apply(ln, cold, cfgN, nil) }},
		{name: "iptables-warm", lab: li, run: func() error { return apply(li, warmI, cfgI, nil) }},
		{name: "iptables-cold", lab: li, prepare: func() { warmI = newI() }, run: func() error { return apply(li, warmI, cfgI, nil) }},
		{name: "floor", lab: ln, run: func() (err error) {
			ln.Router.Do(func() {
				for _, r := range floorPlan.Changes.AddRoutes {
					nr, _ := toNetlinkRoute(r, floorPlan.index)
					if err = warmN.NL.RouteReplace(nr); err != nil {
						return
					}
				}
				for _, r := range floorPlan.Changes.AddRules {
					if err = warmN.NL.RuleAdd(toNetlinkRule(r)); err != nil {
						return
					}
				}
				err = warmN.Backend.Tables.Apply(floorPlan.Desired.NFT)
			})
			return err
		}},
	}
	reset := func(w way) {
		e, cfg := warmN, cfgN
		if w.lab == li {
			e, cfg = warmI, cfgI
		}
		if err := apply(w.lab, e, cfg, held); err != nil {
			b.Fatal(err)
		}
	}
	const rounds = 25
	times := make([][]time.Duration, len(ways))
	for i := 0; i < b.N; i++ {
		for r := 0; r < rounds; r++ {
			for k, w := range ways {
				reset(w)
				if w.prepare != nil {
					w.prepare()
				}
				start := time.Now()
				if err := w.run(); err != nil {
					b.Fatalf("%s: %v", w.name, err)
				}
				times[k] = append(times[k], time.Since(start))
			}
		}
	}
	med := func(k int) time.Duration { return stats.Median(times[k]) }
	for k, w := range ways {
		b.ReportMetric(stats.Ms(med(k)), w.name+"-ms")
	}
	floor := med(4)
	b.ReportMetric(stats.Ratio(med(0), floor), "nftables-warm/floor")
	b.ReportMetric(stats.Ratio(med(1), floor), "nftables-cold/floor")
	b.ReportMetric(stats.Ratio(med(2), floor), "iptables-warm/floor")
	b.Logf("an uplink coming into service (ip-up), median of %d: nftables warm %s, cold %s; iptables warm %s, cold %s; floor (one nftables batch + netlink, no reads) %s; nftables/floor warm %.2f, cold %.2f (target ≤ 2); iptables/floor warm %.2f, cold %.2f",
		rounds, med(0), med(1), med(2), med(3), floor, stats.Ratio(med(0), floor), stats.Ratio(med(1), floor), stats.Ratio(med(2), floor), stats.Ratio(med(3), floor))
}
