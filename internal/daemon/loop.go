package daemon

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/pathpin/pathpin/hooks"
	"github.com/pathpin/pathpin/internal/config"
	"github.com/pathpin/pathpin/uplink"
)

// loop is the single applier: every kernel change happens here.
func (d *Daemon) loop(ctx context.Context, ready <-chan struct{}, reload <-chan struct{}, workers context.Context, workersDone *sync.WaitGroup) {
	var watchdog <-chan time.Time
	if iv := d.opt.Notify.WatchdogInterval(); iv > 0 {
		t := time.NewTicker(iv)
		defer t.Stop()
		watchdog = t.C
	}
	execs := time.NewTicker(execPoll)
	defer execs.Stop()
	// When a weighted uplink still coming at the start has had its
	// time, the cold standbys are looked at again.
	grace := time.After(coldGrace)
	d.settleCold(ctx)
	for {
		select {
		case <-ctx.Done():
			return
		case <-ready:
			ready = nil
			d.opt.Notify.Notify("READY=1")
			d.log.Info("ready: static uplinks applied, every PPPoE uplink has made its first attempt")
		case <-watchdog:
			d.opt.Notify.Notify("WATCHDOG=1")
		case <-grace:
			d.settleCold(ctx)
		case <-execs.C:
			// A command pathpin exec ran has ended, its children too:
			// its rule goes.
			if d.execs.stale() {
				_ = d.apply(ctx)
			}
		case <-reload:
			d.reload(workers, workersDone)
			_ = d.apply(ctx)
			// After the apply that makes the new configuration's sets.
			d.domains.reconcile(d.currentConfig())
			d.settleCold(ctx)
		case ev := <-d.events:
			d.batch(ctx, ev)
		}
	}
}

// execPoll is how often the applier looks whether a pathpin exec's group
// has emptied (its children may outlive the command).
const execPoll = 2 * time.Second

// inService reports whether uplink name is in service as of the last
// apply.
func (d *Daemon) inService(name string) bool {
	st, ok := d.statusOf(name)
	return ok && st.Up()
}

// batch takes ev and every event queued behind it. First the state is
// updated from all of them; then requests are served, and one apply makes
// the kernel match: an uplink that left service leaves the balance in that
// one transaction, and its connections are deleted once it is in.
func (d *Daemon) batch(ctx context.Context, ev event) {
	var requests, execs []event
	var dead []string
	var ppp []hooks.Event
	changed := false
	for more := true; more; {
		switch {
		case ev.kind == evVLAN:
			requests = append(requests, ev)
		case ev.kind == evExec:
			execs = append(execs, ev)
			changed = d.execs.take(d.currentConfig(), ev.exec, d.inService) || changed
		default:
			if ev.ppp != nil {
				ppp = append(ppp, *ev.ppp)
			}
			apply, left := d.handle(ev)
			changed = changed || apply
			if left {
				dead = append(dead, ev.uplink)
			}
		}
		select {
		case ev = <-d.events:
		default:
			more = false
		}
	}
	for _, r := range requests {
		// An apply only when the link changed: a DHCP task asking again
		// for its unplugged NIC every few seconds changes nothing.
		made, err := d.ensureVLAN(r.vlan)
		r.reply <- err
		changed = changed || made
	}
	var applyErr error
	if changed {
		applyErr = d.apply(ctx)
		if applyErr != nil && len(execs) > 0 {
			// An exec's rule the table would not take (a kernel without
			// nft_socket) must not fail every later apply: its command
			// is refused, and the rest applied again.
			for _, r := range execs {
				if r.exec.Kind == hooks.Exec {
					d.execs.forget(r.exec.Cgroup)
				}
			}
			_ = d.apply(ctx)
		}
		d.flushDead(dead)
		d.flushDead(d.kernel.moveBack)
		d.kernel.moveBack = nil
		d.flushOldAddresses()
	}
	d.settleCold(ctx)
	for _, r := range execs {
		r.reply <- d.execAnswer(r.exec, applyErr)
	}
	d.scripts.add(d, ppp)
}

// settleCold starts or stops the cold standbys the uplinks' state calls
// for, and applies when that changed a reason.
func (d *Daemon) settleCold(ctx context.Context) {
	if d.reconcileCold() {
		_ = d.apply(ctx)
	}
}

// effective is cfg as the engine applies it now: an uplink over its data
// cap is a standby (weight 0). Call with d.mu held.
func (d *Daemon) effective(cfg *config.Config) *config.Config {
	var capped []string
	for name, s := range d.uplinks {
		if s.capped != "" {
			capped = append(capped, name)
		}
	}
	if len(capped) == 0 {
		return cfg
	}
	c := *cfg
	c.Uplinks = slices.Clone(cfg.Uplinks)
	for i := range c.Uplinks {
		if slices.Contains(capped, c.Uplinks[i].Name) {
			c.Uplinks[i].Weight = 0
		}
	}
	return &c
}

// noteServiceChanges records, for each uplink whose service changed in
// an apply (in or out, or why out), that change. Call with d.mu held.
func (d *Daemon) noteServiceChanges(before, after []uplink.Status, now time.Time) {
	was := map[string]uplink.Status{}
	for _, st := range before {
		was[st.Name] = st
	}
	for _, st := range after {
		old, ok := was[st.Name]
		s := d.uplinks[st.Name]
		if s == nil || ok && old.Up() == st.Up() && old.Reason == st.Reason {
			continue
		}
		from, to, why := "down", "up", "in service"
		if ok && old.Up() {
			from = "up"
		}
		if !st.Up() {
			to, why = "down", st.Reason.String()
		}
		if from == "up" && to == "down" {
			d.countFailover(st.Name, st.Reason)
		}
		if from == to && !ok {
			continue
		}
		// The health change that caused it is in the log already.
		if c := s.change; c != nil && c.To == to && now.Sub(c.At) < 2*time.Second {
			continue
		}
		d.noteChange(st.Name, s, now, from, to, why)
	}
}

// apply makes the kernel match; a failure is logged, and the engine has
// put the previous state back (or says what it could not).
func (d *Daemon) apply(ctx context.Context) error {
	d.mu.Lock()
	cfg, engine := d.effective(d.cfg), d.engine
	held := d.holds()
	d.mu.Unlock()
	start := time.Now()
	p, err := engine.Apply(ctx, uplink.Input{Config: cfg, Holds: held, Leases: d.engineLeases(cfg), Cgroups: d.execs.cgroups(cfg)})
	d.mu.Lock()
	d.applies++
	d.applySeconds += time.Since(start).Seconds()
	d.mu.Unlock()
	d.log.Debug("apply", "changed", err == nil && !p.Changes.Empty(), "err", err)
	if err != nil {
		d.log.Error("apply failed", "err", err)
		d.opt.Notify.Notify("STATUS=apply failed: " + firstLine(err.Error()))
		return err
	}
	var parts []string
	for _, s := range p.Statuses {
		if s.Up() {
			parts = append(parts, fmt.Sprintf("%s up (%s)", s.Name, s.Local))
		} else {
			parts = append(parts, fmt.Sprintf("%s down (%s)", s.Name, s.Reason))
		}
	}
	status := strings.Join(parts, ", ")
	d.mu.Lock()
	d.noteServiceChanges(d.statuses, p.Statuses, time.Now())
	d.statuses = p.Statuses
	d.mu.Unlock()
	// The kernel tells of each route this apply deleted: those events are
	// this apply's own, handled (by the applier, after this) as no change.
	d.kernel.ownDeletes = map[string]bool{}
	for _, r := range p.Changes.DelRoutes {
		d.kernel.ownDeletes[r.Key()] = true
	}
	if !p.Changes.Empty() {
		d.log.Info("uplinks changed", "status", status)
		d.kickPublic()
	}
	d.opt.Notify.Notify("STATUS=" + status)
	return nil
}

// statusOf returns the uplink's status as of the last apply.
func (d *Daemon) statusOf(name string) (uplink.Status, bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, st := range d.statuses {
		if st.Name == name {
			return st, true
		}
	}
	return uplink.Status{}, false
}

func firstLine(s string) string {
	line, _, _ := strings.Cut(s, "\n")
	return line
}
