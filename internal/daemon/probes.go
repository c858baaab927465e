package daemon

import (
	"context"
	"sync"

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
					return health.ProbeAll(ctx, prober, path, targets, h.Timeout, h.MinAnswers, enough)
				},
				Emit: func(r health.Round) bool {
					if r.Answered < 0 {
						return ctx.Err() == nil
					}
					return d.send(ctx, event{kind: evProbe, uplink: name, round: r})
				},
				Kick:    p.kicks[name],
				Suspect: func() { p.kickOthers(name) },
				Settled: func() bool { return d.settled(name) },
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
