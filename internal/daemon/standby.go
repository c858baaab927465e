package daemon

import (
	"context"
	"sync"
	"time"

	"github.com/pathpin/pathpin/internal/config"
	"github.com/pathpin/pathpin/uplink"
)

// coldGrace is how long after pathpin starts a weighted PPPoE or DHCP
// uplink that is still making its first connection counts as coming: a
// cold standby is not dialled for the moments a primary needs to log in.
const coldGrace = 15 * time.Second

// coldIdle is a cold standby's reason while nothing needs it.
var coldIdle = uplink.Down(uplink.PPPDown, "cold standby: not dialled or leased while a weighted uplink is in service")

// coldOwner decides when the cold standbys run: only while no weighted
// uplink is in service. It is the applier's alone.
type coldOwner struct {
	started time.Time
	// ctx and wg are the workers' that cold tasks run under.
	ctx context.Context
	wg  *sync.WaitGroup
	// stopping are cold standbys hanging up or releasing now.
	stopping map[string]bool
}

// serving names a weighted uplink in service now (in the last apply and
// usable by its health), or whether one is still coming (a PPPoE or DHCP
// uplink's first connection within coldGrace of the start). Call with
// d.mu held.
func (d *Daemon) serving(now time.Time) (name string, coming bool) {
	up := map[string]bool{}
	for _, st := range d.statuses {
		up[st.Name] = st.Up()
	}
	for _, u := range d.cfg.Uplinks {
		s := d.uplinks[u.Name]
		if u.Weight == 0 || s == nil || s.capped != "" {
			continue
		}
		if st, _, _ := s.machine.State(); up[u.Name] && st.Usable() {
			return u.Name, false
		}
		first := u.IsPPPoE() && s.ppp.Cause == uplink.PPPDown || u.IsDHCP() && d.dhcpOwn.lease(u.Name) == nil
		coming = coming || first && now.Sub(d.cold.started) < coldGrace
	}
	return "", coming
}

// reconcileCold dials (or leases) the cold standbys when no weighted
// uplink is in service, and hangs them up (or releases) once one is again:
// a weighted uplink is back in service only after its failback hold. It
// reports whether an uplink's reason changed (an apply is due).
func (d *Daemon) reconcileCold() bool {
	now := time.Now()
	d.mu.Lock()
	cfg := d.cfg
	by, coming := d.serving(now)
	d.mu.Unlock()
	need := by == "" && !coming
	changed := false
	for i := range cfg.Uplinks {
		u := cfg.Uplinks[i]
		if !u.Cold || d.cold.stopping[u.Name] {
			continue
		}
		switch {
		case need && d.startCold(u):
			d.log.Warn("no weighted uplink is in service: bringing up the cold standby", "uplink", u.Name)
			d.setColdReason(u, uplink.Down(uplink.PPPDown, "cold standby: connecting (no weighted uplink in service)"), "standby", "connecting", "no weighted uplink in service")
			d.runOnChangeEvent(u.Name, "standby", "connecting", "cold standby brought up: no weighted uplink in service", "")
			changed = true
		case !need && !d.coldRuns(u):
			// Idle; say so (a reload may have made it cold).
			changed = d.idleReason(u) || changed
		case !need && by != "":
			if done := d.stopCold(u); done != nil {
				d.log.Info("a weighted uplink is in service again: taking the cold standby down", "uplink", u.Name, "in_service", by)
				d.cold.stopping[u.Name] = true
				name := u.Name
				go func() {
					<-done
					d.send(d.cold.ctx, event{kind: evColdStopped, uplink: name, servedBy: by})
				}()
			}
		}
	}
	return changed
}

// startCold starts a cold standby's task unless it runs.
func (d *Daemon) startCold(u config.Uplink) bool {
	if u.IsPPPoE() {
		return d.ppp.startOne(d.cold.ctx, d.cold.wg, d, u)
	}
	return d.dhcpOwn.startOne(d.cold.ctx, d.cold.wg, d, u)
}

// stopCold stops a cold standby's task; nil when it has none.
func (d *Daemon) stopCold(u config.Uplink) <-chan struct{} {
	if u.IsPPPoE() {
		return d.ppp.stopOne(u.Name)
	}
	return d.dhcpOwn.stopOne(u.Name)
}

// setColdReason sets a cold standby's PPP or DHCP reason and records the
// change.
func (d *Daemon) setColdReason(u config.Uplink, r uplink.Reason, from, to, why string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	s, ok := d.uplinks[u.Name]
	if !ok {
		return
	}
	if u.IsPPPoE() {
		s.ppp = r
	} else {
		s.dhcp = r
	}
	d.noteChange(u.Name, s, time.Now(), from, to, why)
}

// coldStopped takes a cold standby's end: idle again, its lease
// forgotten. by is the weighted uplink in service that let it go.
func (d *Daemon) coldStopped(name, by string) {
	delete(d.cold.stopping, name)
	u, ok := d.currentConfig().Uplink(name)
	if !ok || !u.IsPPPoE() && !u.IsDHCP() {
		return
	}
	if u.IsDHCP() {
		d.dhcpOwn.forget(name, d.opt.dirs())
	}
	if !u.Cold {
		// A reload made it a weighted uplink meanwhile: it runs now.
		d.startCold(*u)
		return
	}
	d.setColdReason(*u, coldIdle, "up", "standby", "cold standby taken down: "+by+" is in service again")
	d.runOnChangeEvent(name, "up", "standby", "cold standby taken down: "+by+" is in service again", "")
}

// coldRuns reports whether a cold standby's task runs.
func (d *Daemon) coldRuns(u config.Uplink) bool {
	if u.IsPPPoE() {
		return d.ppp.tasks[u.Name] != nil
	}
	return d.dhcpOwn.task(u.Name) != nil
}

// idleReason gives an idle cold standby its reason, and reports whether
// it had another.
func (d *Daemon) idleReason(u config.Uplink) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	s, ok := d.uplinks[u.Name]
	if !ok {
		return false
	}
	r := &s.ppp
	if u.IsDHCP() {
		r = &s.dhcp
	}
	if *r == coldIdle {
		return false
	}
	*r = coldIdle
	return true
}
