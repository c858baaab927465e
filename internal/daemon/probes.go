package daemon

import (
	"context"
	"sync"
	"time"

	"github.com/pathpin/pathpin/internal/health"
)

// probeSet is the probe loops of one configuration; a reload stops it and
// starts the next configuration's.
type probeSet struct {
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// stop ends every loop and waits for them: each gives way to its context
// even while it hands a result to the applier.
func (p *probeSet) stop() {
	if p == nil {
		return
	}
	p.cancel()
	p.wg.Wait()
}

// startProbes runs one probe loop per uplink that has targets, with the
// current configuration's targets, interval and method.
func (d *Daemon) startProbes(parent context.Context) *probeSet {
	ctx, cancel := context.WithCancel(parent)
	p := &probeSet{cancel: cancel}
	d.mu.Lock()
	uplinks := d.cfg.Uplinks
	d.mu.Unlock()
	for _, u := range uplinks {
		h := u.Health
		if len(h.Targets) == 0 {
			continue
		}
		var prober health.Prober = health.ICMP{}
		if h.Method == "tcp" {
			prober = health.TCP{Port: h.Port}
		}
		name := u.Name
		p.wg.Add(1)
		go func() {
			defer p.wg.Done()
			t := time.NewTicker(h.Interval)
			defer t.Stop()
			for {
				select {
				case <-ctx.Done():
					return
				case <-t.C:
				}
				path, ok := d.probePath(name)
				if !ok {
					continue // no address yet: the link events decide
				}
				r := health.ProbeAll(ctx, prober, path, h.Targets, h.Timeout, h.MinAnswers)
				if !d.send(ctx, event{kind: evProbe, uplink: name, round: r}) {
					return
				}
			}
		}()
	}
	return p
}

// probePath is how probes for an uplink leave, from the last apply.
func (d *Daemon) probePath(name string) (health.Path, bool) {
	st, ok := d.statusOf(name)
	if !ok || !st.Local.IsValid() {
		return health.Path{}, false
	}
	return health.Path{Device: st.Device, Source: st.Local, Mark: st.Uplink.Mark}, true
}
