// Package health decides whether an uplink can carry new connections. A
// per-uplink state machine (up → degraded → down → recovering, with
// hysteresis) is fed by link events (carrier, PPP going away) and by
// active probes sent through the uplink.
package health

import (
	"fmt"
	"time"
)

// State is an uplink's health.
type State int

// The states. Degraded still carries traffic; Recovering does not yet.
const (
	Up State = iota
	Degraded
	Down
	Recovering
)

func (s State) String() string {
	return [...]string{"up", "degraded", "down", "recovering"}[s]
}

// Usable reports whether the uplink may take new connections.
func (s State) Usable() bool { return s == Up || s == Degraded }

// Machine is one uplink's health state machine. It is not safe for
// concurrent use.
type Machine struct {
	DownAfter int // consecutive probe misses before down
	UpAfter   int // consecutive probe successes before back up
	// Probing is false when no probe targets are configured: then only
	// link events decide, and a link that comes back is up at once.
	Probing bool
	// Hold: a recovering uplink is back up only once it has answered for
	// this long (and UpAfter rounds); Never: only after Resume.
	Hold  time.Duration
	Never bool
	// resumed lets a Never uplink back up once.
	resumed bool

	state  State
	since  time.Time
	reason string
	run    int // consecutive misses (up/degraded) or successes (down/recovering)
	// linkDown is set while a link event holds the uplink down; probes
	// cannot bring it back until the link returns.
	linkDown bool
}

// NewMachine starts in state s.
func NewMachine(s State, now time.Time, reason string, downAfter, upAfter int, probing bool) *Machine {
	return &Machine{DownAfter: downAfter, UpAfter: upAfter, Probing: probing, state: s, since: now, reason: reason}
}

// State returns the current state, since when, and why.
func (m *Machine) State() (State, time.Time, string) { return m.state, m.since, m.reason }

// A Transition is a change of state.
type Transition struct {
	From, To State
	Reason   string
}

func (t Transition) String() string { return fmt.Sprintf("%s → %s (%s)", t.From, t.To, t.Reason) }

func (m *Machine) move(to State, now time.Time, reason string) *Transition {
	if to == m.state {
		return nil
	}
	t := &Transition{From: m.state, To: to, Reason: reason}
	m.state, m.since, m.reason, m.run = to, now, reason, 0
	return t
}

// LinkDown takes the uplink down at once: carrier lost, PPP gone, its
// routes removed. It returns the transition, or nil if already down.
func (m *Machine) LinkDown(now time.Time, reason string) *Transition {
	m.linkDown = true
	if m.state == Down {
		m.reason = reason
		return nil
	}
	return m.move(Down, now, reason)
}

// LinkUp reports that the link is back. With probing, the uplink must
// then pass UpAfter probes; without, it is up at once.
func (m *Machine) LinkUp(now time.Time, reason string) *Transition {
	if !m.linkDown && m.state != Down {
		return nil
	}
	m.linkDown = false
	if !m.Probing {
		return m.move(Up, now, reason)
	}
	return m.move(Recovering, now, reason)
}

// Probe feeds one probe round: ok when enough targets answered.
func (m *Machine) Probe(now time.Time, ok bool, detail string) *Transition {
	if m.linkDown {
		return nil
	}
	switch m.state {
	case Up:
		if ok {
			return nil
		}
		m.state, m.run = Degraded, 1
		m.since, m.reason = now, "probe missed: "+detail
		if m.run >= m.DownAfter {
			return m.move(Down, now, fmt.Sprintf("%d probes missed: %s", m.run, detail))
		}
		return &Transition{From: Up, To: Degraded, Reason: m.reason}
	case Degraded:
		if ok {
			return m.move(Up, now, "probes answered again")
		}
		m.run++
		if m.run >= m.DownAfter {
			return m.move(Down, now, fmt.Sprintf("%d probes missed: %s", m.run, detail))
		}
	case Down:
		if !ok {
			return nil
		}
		if m.UpAfter <= 1 && m.Hold <= 0 && !m.Never {
			return m.move(Up, now, "probes answered")
		}
		t := m.move(Recovering, now, "probes answering")
		m.run = 1
		if up := m.failback(now); up != nil {
			return up
		}
		return t
	case Recovering:
		if !ok {
			return m.move(Down, now, "probe missed while recovering: "+detail)
		}
		m.run++
		return m.failback(now)
	}
	return nil
}

// failback moves a recovering uplink back up once it has answered
// UpAfter rounds for Hold, and, with Never, been resumed; until then its
// reason says what it waits for.
func (m *Machine) failback(now time.Time) *Transition {
	if m.run < m.UpAfter {
		return nil
	}
	switch until := m.since.Add(m.Hold); {
	case m.Never && !m.resumed:
		m.reason = "probes answering; failback: never (pathpin resume brings it back)"
	case now.Before(until):
		m.reason = "probes answering; failback hold until " + until.Format("15:04:05")
	default:
		m.resumed = false
		return m.move(Up, now, fmt.Sprintf("%d probes answered, failback hold of %s passed", m.run, m.Hold))
	}
	return nil
}

// Resume lets a recovering uplink back up (failback: never) as soon as it
// has answered enough; one that answers already is up at once.
func (m *Machine) Resume(now time.Time) *Transition {
	if m.state.Usable() {
		return nil
	}
	m.resumed = true
	if m.state != Recovering || m.run < m.UpAfter {
		return nil
	}
	m.resumed = false
	return m.move(Up, now, "resumed")
}

// Decisive reports whether one more missed round would take the uplink
// down.
func (m *Machine) Decisive() bool {
	if m.linkDown {
		return false
	}
	return m.state == Up && m.DownAfter <= 1 || m.state == Degraded && m.run+1 >= m.DownAfter
}
