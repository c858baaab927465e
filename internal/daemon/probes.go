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
	// kicks start a round on an uplink at once, by name.
	kicks map[string]chan struct{}
}

// kickOthers asks every uplink but name for a round now: name is suspect,
// and their answers tell its fault from its targets'.
func (p *probeSet) kickOthers(name string) {
	for other, k := range p.kicks {
		if other == name {
			continue
		}
		select {
		case k <- struct{}{}:
		default:
		}
	}
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
	p := &probeSet{cancel: cancel, kicks: map[string]chan struct{}{}}
	d.mu.Lock()
	uplinks := d.cfg.Uplinks
	d.mu.Unlock()
	for _, u := range uplinks {
		if len(u.Health.Targets) > 0 {
			p.kicks[u.Name] = make(chan struct{}, 1)
		}
	}
	for _, u := range uplinks {
		h := u.Health
		if len(h.Targets) == 0 {
			continue
		}
		var prober health.Prober = health.ICMP{}
		switch h.Method {
		case "tcp":
			prober = health.TCP{Port: h.Port}
		case "dns":
			prober = health.DNS{Name: h.DNSName}
		case "http":
			prober = health.HTTP{Port: h.Port, Path: h.HTTPPath, Status: h.HTTPStatus}
		}
		name, targets := u.Name, h.Targets
		var idle func() bool
		if h.Metered {
			idle = func() bool { return d.meteredIdle(name) }
		}
		p.wg.Add(1)
		go func() {
			defer p.wg.Done()
			health.Loop{
				Interval: h.Interval,
				Fast:     h.FastInterval,
				Round: func(ctx context.Context, enough chan<- struct{}) health.Round {
					path, ok := d.probePath(name)
					if !ok {
						// No address yet: the link events decide.
						return health.Round{OK: true, Answered: -1}
					}
					if idle != nil && idle() {
						// The budget: one target.
						return health.ProbeAll(ctx, prober, path, targets[:1], h.Timeout, 1, enough)
					}
					return health.ProbeAll(ctx, prober, path, targets, h.Timeout, h.MinAnswers, enough)
				},
				Emit: func(r health.Round) bool {
					if r.Answered < 0 {
						return ctx.Err() == nil
					}
					return d.send(ctx, event{kind: evProbe, uplink: name, round: r, metered: r.Targets < len(targets)})
				},
				Kick:         p.kicks[name],
				Suspect:      func() { p.kickOthers(name) },
				Settled:      func() bool { return d.settled(name) },
				Idle:         idle,
				IdleInterval: h.MeteredInterval,
			}.Run(ctx)
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

// settled reports whether uplink name's health is decided for now: it is
// down, or up with its silent targets excused (silent everywhere); its
// rounds then keep their normal pace.
func (d *Daemon) settled(name string) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	s, ok := d.uplinks[name]
	if !ok {
		return false
	}
	st, _, _ := s.machine.State()
	return st == health.Down || st == health.Up && len(s.excused) > 0
}

// meteredIdle reports whether metered uplink name carries nothing now: it
// is a standby (weight 0, or over its cap) while a weighted uplink is in
// service, so no new connection takes it by weight.
func (d *Daemon) meteredIdle(name string) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	u, ok := d.cfg.Uplink(name)
	s := d.uplinks[name]
	if !ok || s == nil || u.Weight > 0 && s.capped == "" {
		return false
	}
	by, _ := d.serving(time.Now())
	return by != "" && by != name
}
