package daemon

import (
	"net/netip"
	"time"

	"github.com/pathpin/pathpin/internal/health"
	"github.com/pathpin/pathpin/uplink"
)

// lossWindow is how many recent probe rounds the loss figure covers.
const lossWindow = 20

// uplinkState is the daemon's own view of one uplink, beside what the
// kernel shows: whether PPP is up, and its health.
type uplinkState struct {
	// ppp is InService for a static uplink, and for a PPP uplink between
	// its ip-up and its ip-down (or pppd's exit); otherwise why not.
	ppp uplink.Reason
	// dhcp is InService unless a DHCP uplink's link went down: then its
	// lease is checked with the server (INIT-REBOOT) before it takes new
	// connections again.
	dhcp    uplink.Reason
	machine *health.Machine
	rtt     time.Duration
	rounds  []bool // recent probe rounds, newest last
	// last is the last probe round and when it came; suspect when this
	// run of misses began (zero while the uplink answers).
	last    health.Round
	lastAt  time.Time
	suspect time.Time
	// excused are targets silent on every uplink now: their fault.
	excused []netip.Addr
}

// resetUplinks makes a state for every configured uplink, keeping those
// that exist (with the new health settings). Call with d.mu held, or
// before anything else runs.
func (d *Daemon) resetUplinks() {
	now := time.Now()
	next := map[string]*uplinkState{}
	for _, u := range d.cfg.Uplinks {
		h := u.Health
		if old, ok := d.uplinks[u.Name]; ok {
			old.machine.DownAfter, old.machine.UpAfter, old.machine.Probing = h.DownAfter, h.UpAfter, len(h.Targets) > 0
			old.machine.Hold, old.machine.Never = u.Failback.Hold, u.Failback.Never
			// A reload lets an uplink held out (failback: never) back.
			old.machine.Resume(now)
			if !u.IsPPPoE() {
				old.ppp = uplink.Reason{}
			}
			next[u.Name] = old
			continue
		}
		s := &uplinkState{machine: health.NewMachine(health.Up, now, "started", h.DownAfter, h.UpAfter, len(h.Targets) > 0)}
		s.machine.Hold, s.machine.Never = u.Failback.Hold, u.Failback.Never
		if u.IsPPPoE() {
			s.ppp = uplink.Down(uplink.PPPDown, "PPP connecting")
		}
		next[u.Name] = s
	}
	d.uplinks = next
}

// holds is every uplink that must not take new connections, and why: PPP
// not up, or health down. When health would take every uplink down, the
// last configuration is kept (better to try than to drop everything)
// while the probes go on. Call with d.mu held.
func (d *Daemon) holds() uplink.Holds {
	held := uplink.Holds{}
	sick := uplink.Holds{}
	for name, s := range d.uplinks {
		if !s.ppp.InService() {
			held[name] = s.ppp
		} else if !s.dhcp.InService() {
			held[name] = s.dhcp
		}
		if st, _, reason := s.machine.State(); !st.Usable() {
			sick[name] = uplink.Down(uplink.HealthDown, "health "+st.String()+": "+reason)
		}
	}
	usable := 0
	for _, u := range d.cfg.Uplinks {
		_, pd := held[u.Name]
		_, hd := sick[u.Name]
		if !pd && !hd {
			usable++
		}
	}
	if usable == 0 && len(sick) > 0 {
		d.log.Warn("every uplink is down by its probes; keeping the last configuration and probing on")
		return held
	}
	for k, v := range sick {
		if _, ok := held[k]; !ok {
			held[k] = v
		}
	}
	return held
}

// handle takes one event into the daemon's view. It reports whether an
// apply is needed, and whether the uplink just left service (so the fast
// switch moves new connections off it before anything else).
func (d *Daemon) handle(ev event) (apply, left bool) {
	now := time.Now()
	d.mu.Lock()
	s, ok := d.uplinks[ev.uplink]
	if ev.kind == evReapply {
		d.mu.Unlock()
		// A route pathpin's own last apply deleted is no change to undo.
		if ev.routeGone != "" && d.kernel.ownDeletes[ev.routeGone] {
			delete(d.kernel.ownDeletes, ev.routeGone)
			d.log.Debug("a route pathpin deleted itself is gone", "route", ev.routeGone)
			return false, false
		}
		return true, false
	}
	if !ok {
		d.mu.Unlock()
		return false, false
	}
	if ev.kind == evPPP {
		s.ppp = ev.reason
		d.mu.Unlock()
		return true, false
	}
	if ev.kind == evDHCP && ev.dhcpFrom != nil && d.dhcpOwn.task(ev.uplink) != ev.dhcpFrom {
		d.mu.Unlock()
		return false, false
	}
	if ev.kind == evDHCP {
		var files func()
		apply, left, files = d.handleDHCP(ev.uplink, ev.dhcp)
		d.mu.Unlock()
		// The resolv file is written (and synced) outside the lock that
		// status requests and the tasks take.
		files()
		return apply, left
	}
	if u, ok := d.cfg.Uplink(ev.uplink); ok && u.IsDHCP() && ev.kind == evLink {
		switch {
		case ev.reason.InService():
			d.dhcpLinkUp(ev.uplink)
		case d.dhcpOwn.lease(ev.uplink) != nil:
			s.dhcp = uplink.Down(uplink.NoAddress, "the link went down: the DHCP lease is checked with the server when it is back")
		}
	}
	var tr *health.Transition
	switch ev.kind {
	case evLink:
		if !ev.reason.InService() {
			tr = s.machine.LinkDown(now, ev.reason.String())
		} else {
			tr = s.machine.LinkUp(now, "link back")
		}
	case evResume:
		tr = s.machine.Resume(now)
	case evProbe:
		r := ev.round
		s.last, s.lastAt = r, now
		if r.Answered > 0 {
			s.rtt = r.RTT
		}
		ok, detail, decided := d.verdict(ev.uplink, s, r, now)
		if !decided {
			break
		}
		s.rounds = append(s.rounds, ok)
		if len(s.rounds) > lossWindow {
			s.rounds = s.rounds[1:]
		}
		tr = s.machine.Probe(now, ok, detail)
	}
	d.mu.Unlock()
	if tr == nil {
		// A link event changes what the kernel shows even without a
		// change of health: apply reads it afresh.
		return ev.kind == evLink, false
	}
	d.log.Info("uplink health changed", "uplink", ev.uplink, "from", tr.From.String(), "to", tr.To.String(), "reason", tr.Reason)
	d.runOnChange(ev.uplink, tr)
	left = tr.From.Usable() && !tr.To.Usable()
	if !tr.From.Usable() && tr.To.Usable() {
		d.noteMoveBack(ev.uplink)
	}
	return ev.kind == evLink || tr.From.Usable() != tr.To.Usable(), left
}
