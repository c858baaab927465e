package daemon

import (
	"net/netip"
	"slices"
	"time"

	"github.com/pathpin/pathpin/internal/health"
)

// verdict judges uplink name's probe round r by the quorum of its
// targets, leaving out the targets that are silent on every other uplink
// in service too: a target that fails everywhere at once is the target's
// fault, not the uplinks'. Call with d.mu held.
//
// The other uplinks' evidence must be fresh: rounds that came after this
// uplink became suspect (it asks them for one then). A miss that would
// take the uplink down before any has come is held back, for at most an
// interval and a timeout; decided is false for it.
func (d *Daemon) verdict(name string, s *uplinkState, r health.Round, now time.Time) (ok bool, detail string, decided bool) {
	u, found := d.cfg.Uplink(name)
	if !found {
		return r.OK, r.Detail, true
	}
	h := u.Health
	if r.OK && len(r.Silent) == 0 {
		s.suspect = time.Time{}
		d.noteExcused(name, s, nil)
		return true, "", true
	}
	if s.suspect.IsZero() {
		// The round that missed began about a timeout ago.
		s.suspect = now.Add(-h.Timeout)
	}
	others, fresh := 0, []*uplinkState(nil)
	for other, o := range d.uplinks {
		if other == name || !o.machine.Probing {
			continue
		}
		if st, _, _ := o.machine.State(); !st.Usable() {
			continue
		}
		others++
		if o.lastAt.After(s.suspect) {
			fresh = append(fresh, o)
		}
	}
	if others == 0 || len(fresh) == 0 {
		// Nothing new to compare with: the targets excused so far stay
		// excused (no other uplink says they answer), the rest count.
		ok, detail = quorum(h.Targets, h.MinAnswers, r, s.excused, now.Sub(s.suspect))
		if !ok && others > 0 && s.machine.Decisive() && now.Sub(s.suspect) < h.Interval+h.Timeout {
			// The others were asked for a round: wait for it.
			return false, "", false
		}
	} else {
		var excused []netip.Addr
		for _, t := range r.Silent {
			if !slices.ContainsFunc(fresh, func(o *uplinkState) bool { return !slices.Contains(o.last.Silent, t) }) {
				excused = append(excused, t)
			}
		}
		d.noteExcused(name, s, excused)
		ok, detail = quorum(h.Targets, h.MinAnswers, r, excused, now.Sub(s.suspect))
	}
	if ok {
		s.suspect = time.Time{}
	}
	return ok, detail, true
}

// quorum judges round r with the excused targets left out: enough of the
// others answered (every target excused: nothing against the uplink). The
// detail says which are silent, and for how long (silentFor, since the
// first round that missed began).
func quorum(targets []netip.Addr, minAnswers int, r health.Round, excused []netip.Addr, silentFor time.Duration) (ok bool, detail string) {
	var counted []netip.Addr
	for _, t := range r.Silent {
		if !slices.Contains(excused, t) {
			counted = append(counted, t)
		}
	}
	probed := len(targets)
	if r.Targets > 0 {
		// A metered budget's round probes fewer.
		probed = r.Targets
	}
	n := probed - (len(r.Silent) - len(counted))
	if n == 0 {
		return true, ""
	}
	if len(counted) > 0 {
		detail = health.SilentDetail(counted, probed, silentFor)
	}
	return r.Answered >= min(minAnswers, n), detail
}

// noteExcused records the targets excused on uplink name, and says so
// when they change.
func (d *Daemon) noteExcused(name string, s *uplinkState, excused []netip.Addr) {
	if slices.Equal(s.excused, excused) {
		return
	}
	if len(excused) > 0 {
		d.log.Warn("probe targets silent on every uplink: the targets' fault, not the uplinks'; no uplink leaves service for them (check the targets, or name others in health.targets)",
			"uplink", name, "targets", excused)
	} else if len(s.excused) > 0 {
		d.log.Info("probe targets answer again", "uplink", name, "targets", s.excused)
	}
	s.excused = excused
}
