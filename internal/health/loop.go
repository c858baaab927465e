package health

import (
	"context"
	"time"
)

// Loop runs one uplink's probe rounds. A round starts every Interval
// while the uplink answers. When the oldest round running has not had
// enough answers Fast after it started (or twice the time the last good
// round took, if longer), the uplink is suspect: another round starts
// then, and one every Fast after, until a round passes. A silent uplink
// is so confirmed by rounds Fast apart, not Interval apart, while a
// healthy one is probed at Interval; one lost answer costs a few quick
// rounds, not a state change, as long as the next answers.
type Loop struct {
	Interval, Fast time.Duration
	// Round runs one round; it closes enough once enough targets have
	// answered.
	Round func(ctx context.Context, enough chan<- struct{}) Round
	// Emit takes each round's result, in the order the rounds started;
	// false stops the loop.
	Emit func(Round) bool
	// Kick, when not nil, starts a round at once (unless one started
	// less than Fast ago): another uplink is suspect, and whether the
	// targets answer here tells the uplink's fault from the targets'.
	Kick <-chan struct{}
	// Suspect, when not nil, is called as the uplink becomes suspect.
	Suspect func()
	// Settled, when not nil, reports whether the uplink's state is
	// decided for now (it is down): no quick rounds then, only Interval
	// ones for its recovery.
	Settled func() bool
	// Idle, when not nil, reports whether the uplink is on a probe budget
	// now (metered, carrying nothing): a round starts only IdleInterval
	// after the last, unless another uplink's suspicion asks for one or
	// this one is suspect. It is asked once an Interval.
	Idle         func() bool
	IdleInterval time.Duration
	// now is the clock (tests); time.Now when nil.
	now func() time.Time
}

// maxRunning bounds the rounds under way at once.
const maxRunning = 8

type running struct {
	start  time.Time
	enough chan struct{}
	done   chan Round
}

// Run runs rounds until ctx ends or Emit says stop.
func (l Loop) Run(ctx context.Context) {
	now := l.now
	if now == nil {
		now = time.Now
	}
	var q []running
	fast, kicked := false, false
	var lastStart time.Time
	var lastGood time.Duration
	next := now()
	timer := time.NewTimer(0)
	defer timer.Stop()
	for {
		t := now()
		budget := func() bool {
			return !fast && !kicked && l.Idle != nil && !lastStart.IsZero() && t.Sub(lastStart) < l.IdleInterval && l.Idle()
		}
		if !t.Before(next) && len(q) < maxRunning && budget() {
			// Not yet: look again in an Interval.
			next = t.Add(min(l.Interval, lastStart.Add(l.IdleInterval).Sub(t)))
		} else if !t.Before(next) && len(q) < maxRunning {
			lastStart, kicked = t, false
			r := running{start: t, enough: make(chan struct{}), done: make(chan Round, 1)}
			go func() { r.done <- l.Round(ctx, r.enough) }()
			q = append(q, r)
			if fast {
				next = t.Add(l.Fast)
			} else {
				next = t.Add(l.Interval)
			}
		}
		wake := next
		var late time.Time
		if len(q) > 0 && !fast {
			late = q[0].start.Add(max(l.Fast, 2*lastGood))
			if late.Before(wake) {
				wake = late
			}
		}
		if !timer.Stop() {
			select {
			case <-timer.C:
			default:
			}
		}
		timer.Reset(max(wake.Sub(now()), 0))
		var head <-chan Round
		var enough <-chan struct{}
		if len(q) > 0 {
			head = q[0].done
			if !fast {
				enough = q[0].enough
			}
		}
		suspect := func() {
			fast, next = true, now()
			if l.Suspect != nil {
				l.Suspect()
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-l.Kick:
			if len(q) == 0 || now().Sub(q[len(q)-1].start) >= l.Fast {
				next, kicked = now(), true
			}
		case <-enough:
			// The oldest round has its answers: not suspect.
			if d := now().Sub(q[0].start); !fast {
				lastGood = d
			}
			q[0].enough = nil
		case r := <-head:
			start := q[0].start
			q = q[1:]
			if !l.Emit(r) {
				return
			}
			settled := l.Settled != nil && l.Settled()
			switch {
			case fast && (r.OK || settled):
				fast = false
				next = start.Add(l.Interval)
			case !fast && !r.OK && !settled:
				suspect()
			}
		case <-timer.C:
			if !fast && len(q) > 0 && q[0].enough != nil && !now().Before(late) && (l.Settled == nil || !l.Settled()) {
				select {
				case <-q[0].enough:
				default:
					suspect()
				}
			}
		}
	}
}
