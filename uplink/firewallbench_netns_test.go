package uplink

import (
	"context"
	"testing"
	"time"

	"github.com/pathpin/pathpin/internal/config"
	"github.com/pathpin/pathpin/internal/nft"
	"github.com/pathpin/pathpin/internal/stats"
)

// BenchmarkUplinkUpApply times what a PPP ip-up asks of the engine: the
// second uplink comes into service (its table, its rule, its balance share
// and NAT), side by side for pathpin's nftables table and the floor: the same
// kernel change as one nftables batch plus netlink, with no read at all.
// Warm is the daemon's long-lived engine; stale the same after another
// program changed the ruleset; cold a fresh engine (new sockets, nothing
// read yet), beside the floor on fresh sockets too. Target: nftables ≤ 2×
// the floor, cold and warm.
func BenchmarkUplinkUpApply(b *testing.B) {
	type way struct {
		name string
		lab  *engineLab
		run  func() error
		// prepare runs untimed before each run.
		prepare func()
	}
	held := Holds{"ispb": Down(PPPDown, "pppd ip-down")}
	ln := newEngineLab(b)
	ln.configure(1, 1)
	cfgN, err := config.Load(ln.cfgPath)
	if err != nil {
		b.Fatal(err)
	}
	newN := ln.engine
	warmN := newN()
	apply := func(l *engineLab, e *Engine, cfg *config.Config, h Holds) (err error) {
		l.Router.Do(func() { _, err = e.Apply(context.Background(), Input{Config: cfg, Holds: h}) })
		return err
	}
	// The floor's input: what the engine would write, computed untimed.
	var floorPlan *Plan
	ln.Router.Do(func() {
		if err := apply(ln, warmN, cfgN, held); err != nil {
			b.Fatal(err)
		}
		var err error
		if floorPlan, err = warmN.Plan(context.Background(), Input{Config: cfgN}); err != nil {
			b.Fatal(err)
		}
	})
	// The floor: the routes, rules and table the engine would write, with
	// no read at all.
	floor := func(e *Engine) (err error) {
		ln.Router.Do(func() {
			for _, r := range floorPlan.Changes.AddRoutes {
				nr, _ := toNetlinkRoute(r, floorPlan.snap.Facts.index)
				if err = e.NL.RouteReplace(nr); err != nil {
					return
				}
			}
			for _, r := range floorPlan.Changes.AddRules {
				if err = e.NL.RuleAdd(toNetlinkRule(r)); err != nil {
					return
				}
			}
			err = e.Tables.Apply(floorPlan.Desired.NFT)
		})
		return err
	}
	var cold, coldFloor *Engine
	// other commits a transaction of its own (a scratch table, made and
	// deleted), as another program would.
	var other *nft.Conn
	ln.Router.Do(func() {
		var err error
		if other, err = nft.Open(); err != nil {
			b.Fatal(err)
		}
	})
	defer other.Close()
	ways := []way{
		{name: "nftables-warm", lab: ln, run: func() error { return apply(ln, warmN, cfgN, nil) }},
		// Stale: the daemon's engine after another program committed an
		// nftables transaction, so its last read cannot be trusted and the
		// table is read whole.
		{name: "nftables-stale", lab: ln, prepare: func() {
			var err error
			ln.Router.Do(func() { err = other.Check(&nft.Table{}) })
			if err != nil {
				b.Fatal(err)
			}
		}, run: func() error { return apply(ln, warmN, cfgN, nil) }},
		// Cold: an engine that has read nothing yet: new sockets, no
		// generation and no rule decoded.
		{name: "nftables-cold", lab: ln, prepare: func() {
			if cold != nil {
				cold.Close()
			}
			cold = newN()
		}, run: func() error { return apply(ln, cold, cfgN, nil) }},
		{name: "floor-warm", lab: ln, run: func() error { return floor(warmN) }},
		// The floor on sockets opened just before, as the cold engine's.
		{name: "floor-cold", lab: ln, prepare: func() {
			if coldFloor != nil {
				coldFloor.Close()
			}
			coldFloor = newN()
		}, run: func() error { return floor(coldFloor) }},
	}
	reset := func(w way) {
		if err := apply(w.lab, warmN, cfgN, held); err != nil {
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
	med := map[string]time.Duration{}
	for k, w := range ways {
		med[w.name] = stats.Median(times[k])
		b.ReportMetric(stats.Ms(med[w.name]), w.name+"-ms")
	}
	ratio := func(way, floor string) float64 {
		r := stats.Ratio(med[way], med[floor])
		b.ReportMetric(r, way+"/"+floor)
		return r
	}
	b.Logf("an uplink coming into service (ip-up), median of %d: nftables warm %s, stale %s, cold %s; floor (one nftables batch + netlink, no reads) warm %s, cold %s",
		rounds, med["nftables-warm"], med["nftables-stale"], med["nftables-cold"], med["floor-warm"], med["floor-cold"])
	b.Logf("nftables/floor: warm %.2f, stale %.2f, cold %.2f (target ≤ 2)",
		ratio("nftables-warm", "floor-warm"), ratio("nftables-stale", "floor-warm"), ratio("nftables-cold", "floor-cold"))
}
