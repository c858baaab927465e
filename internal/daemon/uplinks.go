package daemon

import (
	"net/netip"
	"slices"
	"time"

	"github.com/pathpin/pathpin/internal/health"
	"github.com/pathpin/pathpin/internal/status"
	"github.com/pathpin/pathpin/uplink"
)

// probeWindow is how far back status's probe loss and RTT look, and
// maxSamples bounds the rounds kept for it (quick rounds are 5 a second).
const (
	probeWindow = time.Minute
	maxSamples  = 1024
)

// sample is one decided probe round, for status.
type sample struct {
	at  time.Time
	ok  bool
	rtt time.Duration // 0: nothing answered
}

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
	// samples are the decided probe rounds of the last probeWindow,
	// oldest first; metered whether the last round was a budget's.
	samples []sample
	metered bool
	// rounds counts its decided probe rounds.
	rounds uint64
	// last is the last probe round and when it came; suspect when this
	// run of misses began (zero while the uplink answers).
	last    health.Round
	lastAt  time.Time
	suspect time.Time
	// excused are targets silent on every uplink now: their fault.
	excused []netip.Addr
	// capped is why the uplink is a standby for its data cap (empty: it
	// is not).
	capped string
	// change is the uplink's last change of state.
	change *status.Change
}

// noteChange records a change of the uplink's state.
func (s *uplinkState) noteChange(now time.Time, from, to, reason string) {
	s.change = &status.Change{At: now, From: from, To: to, Reason: reason}
}

// addSample keeps round r's outcome for status, dropping what is older
// than the window.
func (s *uplinkState) addSample(now time.Time, ok bool, rtt time.Duration) {
	s.samples = append(s.samples, sample{at: now, ok: ok, rtt: rtt})
	drop := 0
	for drop < len(s.samples) && (now.Sub(s.samples[drop].at) > probeWindow || len(s.samples)-drop > maxSamples) {
		drop++
	}
	s.samples = s.samples[drop:]
}

// probeFigures are an uplink's probe rounds over a span of time.
type probeFigures struct {
	n                   int     // rounds
	loss                float64 // share missed, 0..1
	mean, median, worst time.Duration
}

// probesSince sums up the decided rounds of the last span.
func (s *uplinkState) probesSince(now time.Time, span time.Duration) probeFigures {
	var f probeFigures
	var rtts []time.Duration
	var total time.Duration
	lost := 0
	for _, x := range s.samples {
		if now.Sub(x.at) > span {
			continue
		}
		f.n++
		if !x.ok {
			lost++
		}
		if x.rtt > 0 {
			rtts = append(rtts, x.rtt)
			total += x.rtt
		}
	}
	if f.n > 0 {
		f.loss = float64(lost) / float64(f.n)
	}
	if len(rtts) > 0 {
		slices.Sort(rtts)
		f.mean, f.median, f.worst = total/time.Duration(len(rtts)), rtts[len(rtts)/2], rtts[len(rtts)-1]
	}
	return f
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
		switch {
		case u.Cold && u.IsPPPoE():
			s.ppp = coldIdle
		case u.Cold:
			s.dhcp = coldIdle
		case u.IsPPPoE():
			s.ppp = uplink.Down(uplink.PPPDown, "PPP connecting")
		}
		next[u.Name] = s
	}
	d.uplinks = next
}

// capChanged moves uplink name to standby (weight 0) for its data cap, or
// back to its weight when a new period began, records the change and runs
// the on-change command.
func (d *Daemon) capChanged(name, reason string, now time.Time) {
	d.mu.Lock()
	s, ok := d.uplinks[name]
	if !ok || s.capped == reason {
		d.mu.Unlock()
		return
	}
	s.capped = reason
	from, to, why := "up", "standby", reason
	if reason == "" {
		from, to, why = "standby", "up", "a new data period began: back to its weight"
	}
	d.noteChange(name, s, now, from, to, why)
	d.mu.Unlock()
	d.log.Warn("uplink data cap", "uplink", name, "now", to, "reason", why)
	d.runOnChangeEvent(name, from, to, why, "")
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
	if ev.kind == evCap {
		d.mu.Unlock()
		d.capChanged(ev.uplink, ev.capReason, now)
		return true, false
	}
	if ev.kind == evColdStopped {
		d.mu.Unlock()
		d.coldStopped(ev.uplink, ev.servedBy)
		// Its connections went with its interface: delete them now.
		return true, true
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
		s.last, s.lastAt, s.metered = r, now, ev.metered
		ok, detail, decided := d.verdict(ev.uplink, s, r, now)
		if !decided {
			break
		}
		var rtt time.Duration
		if r.Answered > 0 {
			rtt = r.RTT
		}
		s.addSample(now, ok, rtt)
		s.rounds++
		tr = s.machine.Probe(now, ok, detail)
	}
	if tr != nil {
		d.noteChange(ev.uplink, s, now, tr.From.String(), tr.To.String(), tr.Reason)
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
