package notify

import (
	"fmt"
	"slices"
	"strings"
	"time"
)

// holdFactor times the debounce is the longest an uplink's changes are
// held when it never goes quiet.
const holdFactor = 5

// A debouncer holds the changes of each uplink until the uplink has been
// quiet for a while, and merges them into one net change. It does not
// lock: its owner does.
type debouncer struct {
	quiet   time.Duration // how long an uplink must be quiet
	maxHold time.Duration // the longest a change is held (0: no bound)
	held    map[string]*held
}

// held is what a debouncer holds for one uplink.
type held struct {
	from    string    // the state before the first change held
	last    Event     // the last change
	first   time.Time // when the first change came
	lastAt  time.Time // when the last change came
	due     time.Time // when to release it
	changes int       // how many changes were merged
	// outage: one of the changes took the uplink out of service (down
	// or standby), so a return to where it started is still news.
	outage bool
	// public is the last new public address among the changes.
	public string
}

// outOfService reports whether an uplink in state s takes no new
// connections.
func outOfService(s string) bool { return s == "down" || s == "standby" }

// newDebouncer returns a debouncer with the given quiet period, holding
// changes for at most holdFactor times that.
func newDebouncer(quiet time.Duration) *debouncer {
	return &debouncer{quiet: quiet, maxHold: holdFactor * quiet, held: map[string]*held{}}
}

// add holds ev, a change that came at now.
func (d *debouncer) add(ev Event, now time.Time) {
	h := d.held[ev.Uplink]
	if h == nil {
		h = &held{from: ev.From, first: now}
		d.held[ev.Uplink] = h
	}
	h.last, h.lastAt = ev, now
	h.changes++
	h.outage = h.outage || outOfService(ev.To)
	if ev.PublicAddress != "" {
		h.public = ev.PublicAddress
	}
	h.due = now.Add(d.quiet)
	if limit := h.first.Add(d.maxHold); d.maxHold > 0 && h.due.After(limit) {
		h.due = limit
	}
}

// A release is what a debouncer lets go for one uplink: its net change,
// or none (send false) when the uplink is back where it started.
type release struct {
	ev      Event
	send    bool
	changes int       // how many changes were merged
	due     time.Time // when it became due
}

// release lets go of the uplinks whose quiet period has ended by now, in
// the order they became due.
func (d *debouncer) release(now time.Time) []release {
	var out []release
	for name, h := range d.held {
		if h.due.After(now) {
			continue
		}
		delete(d.held, name)
		ev := h.last
		ev.From = h.from
		ev.PublicAddress = h.public
		send := ev.news()
		if !send && h.outage && !outOfService(ev.To) {
			// Out of service and back within the quiet period: one
			// message says so, where every change would have been one.
			send = true
			ev.Reason = fmt.Sprintf("flapped: out of service and back, %d changes in %s; last: %s", h.changes, h.lastAt.Sub(h.first).Round(time.Millisecond), ev.Reason)
		}
		out = append(out, release{ev: ev, send: send, changes: h.changes, due: h.due})
	}
	slices.SortFunc(out, func(a, b release) int {
		if c := a.due.Compare(b.due); c != 0 {
			return c
		}
		return strings.Compare(a.ev.Uplink, b.ev.Uplink)
	})
	return out
}

// next returns when the first quiet period ends; false when nothing is
// held.
func (d *debouncer) next() (time.Time, bool) {
	var first time.Time
	for _, h := range d.held {
		if first.IsZero() || h.due.Before(first) {
			first = h.due
		}
	}
	return first, !first.IsZero()
}

// len is how many uplinks have changes held.
func (d *debouncer) len() int { return len(d.held) }
