package notify

import (
	"fmt"
	"slices"
	"testing"
	"time"
)

func TestDebouncer(t *testing.T) {
	// A step adds a change at ms, or (add nil) releases at ms and expects
	// want: "uplink from→to reason" for a message, "uplink none" for a
	// flap that came back.
	type step struct {
		ms   int
		add  *Event
		want []string
	}
	add := func(ms int, e Event) step { return step{ms: ms, add: &e} }
	at := func(ms int, want ...string) step { return step{ms: ms, want: want} }
	tests := []struct {
		name     string
		quiet    time.Duration
		maxHold  time.Duration
		steps    []step
		heldLeft int
	}{
		{name: "one change waits for the quiet period", quiet: 100 * time.Millisecond, steps: []step{
			add(0, ev("wan1", "up", "down", "r1")),
			at(99),
			at(100, "wan1 up→down r1"),
			at(1000),
		}},
		{name: "up→down→up→down is one up→down with the last reason", quiet: 100 * time.Millisecond, steps: []step{
			add(0, ev("wan1", "up", "down", "r1")),
			add(10, ev("wan1", "down", "up", "r2")),
			add(20, ev("wan1", "up", "down", "r3")),
			at(119),
			at(120, "wan1 up→down r3"),
		}},
		{name: "up→down→up is one message: it was out of service", quiet: 100 * time.Millisecond, steps: []step{
			add(0, ev("wan1", "up", "down", "r1")),
			add(50, ev("wan1", "down", "up", "r2")),
			at(149),
			at(150, "wan1 up→up flapped: out of service and back, 2 changes in 50ms; last: r2"),
			at(1000),
		}},
		{name: "a new public address is news with no change of state", quiet: 100 * time.Millisecond, steps: []step{
			add(0, Event{Uplink: "wan1", From: "up", To: "up", Reason: "public address changed", PublicAddress: "198.51.100.8"}),
			at(100, "wan1 up→up public address changed"),
		}},
		{name: "up→degraded→up is nothing: always in service", quiet: 100 * time.Millisecond, steps: []step{
			add(0, ev("wan1", "up", "degraded", "r1")),
			add(50, ev("wan1", "degraded", "up", "r2")),
			at(150, "wan1 none"),
		}},
		{name: "down→up→down is nothing: never back for long", quiet: 100 * time.Millisecond, steps: []step{
			add(0, ev("wan1", "down", "recovering", "r1")),
			add(10, ev("wan1", "recovering", "down", "r2")),
			at(110, "wan1 none"),
		}},
		{name: "up→down→standby is up→standby", quiet: 100 * time.Millisecond, steps: []step{
			add(0, ev("wan1", "up", "down", "r1")),
			add(30, ev("wan1", "down", "standby", "cap")),
			at(130, "wan1 up→standby cap"),
		}},
		{name: "each change starts the quiet period again", quiet: 100 * time.Millisecond, steps: []step{
			add(0, ev("wan1", "up", "down", "r1")),
			add(90, ev("wan1", "down", "up", "r2")),
			add(180, ev("wan1", "up", "down", "r3")),
			at(279),
			at(280, "wan1 up→down r3"),
		}},
		{name: "uplinks apart", quiet: 100 * time.Millisecond, steps: []step{
			add(0, ev("wan1", "up", "down", "a")),
			add(50, ev("wan2", "up", "down", "b1")),
			add(90, ev("wan2", "down", "up", "b2")),
			add(95, ev("wan2", "up", "down", "b3")),
			at(100, "wan1 up→down a"),
			at(194),
			at(195, "wan2 up→down b3"),
		}},
		{name: "released in the order they fell due", quiet: 100 * time.Millisecond, steps: []step{
			add(0, ev("wan2", "up", "down", "b")),
			add(10, ev("wan1", "up", "down", "a")),
			add(20, ev("wan3", "up", "down", "c")),
			at(500, "wan2 up→down b", "wan1 up→down a", "wan3 up→down c"),
		}},
		{name: "after a release a change is held afresh", quiet: 100 * time.Millisecond, steps: []step{
			add(0, ev("wan1", "up", "down", "r1")),
			at(100, "wan1 up→down r1"),
			add(150, ev("wan1", "down", "up", "r2")),
			at(249),
			at(250, "wan1 down→up r2"),
		}},
		{name: "an uplink that never goes quiet is held at most maxHold", quiet: 100 * time.Millisecond, maxHold: 300 * time.Millisecond, steps: []step{
			add(0, ev("wan1", "up", "down", "r1")),
			add(80, ev("wan1", "down", "up", "r2")),
			add(160, ev("wan1", "up", "down", "r3")),
			add(240, ev("wan1", "down", "up", "r4")),
			add(280, ev("wan1", "up", "down", "r5")),
			at(299),
			at(300, "wan1 up→down r5"),
			add(320, ev("wan1", "down", "up", "r6")),
			at(420, "wan1 down→up r6"),
		}},
		{name: "what is not yet due stays held", quiet: 100 * time.Millisecond, steps: []step{
			add(0, ev("wan1", "up", "down", "r1")),
			add(60, ev("wan2", "up", "down", "r2")),
			at(100, "wan1 up→down r1"),
		}, heldLeft: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := newDebouncer(tt.quiet)
			if tt.maxHold > 0 {
				d.maxHold = tt.maxHold
			}
			t0 := time.Unix(1700000000, 0)
			for _, s := range tt.steps {
				now := t0.Add(time.Duration(s.ms) * time.Millisecond)
				if s.add != nil {
					d.add(*s.add, now)
					continue
				}
				var got []string
				for _, r := range d.release(now) {
					if r.send {
						got = append(got, fmt.Sprintf("%s %s→%s %s", r.ev.Uplink, r.ev.From, r.ev.To, r.ev.Reason))
					} else {
						got = append(got, r.ev.Uplink+" none")
					}
				}
				if !slices.Equal(got, s.want) {
					t.Fatalf("at %dms: released %q, want %q", s.ms, got, s.want)
				}
			}
			if d.len() != tt.heldLeft {
				t.Errorf("%d uplinks still held, want %d", d.len(), tt.heldLeft)
			}
		})
	}
}

func TestDebouncerNext(t *testing.T) {
	d := newDebouncer(100 * time.Millisecond)
	if _, ok := d.next(); ok {
		t.Fatal("next says something is held in an empty debouncer")
	}
	t0 := time.Unix(1700000000, 0)
	d.add(ev("wan1", "up", "down", ""), t0.Add(50*time.Millisecond))
	d.add(ev("wan2", "up", "down", ""), t0)
	if got, ok := d.next(); !ok || !got.Equal(t0.Add(100*time.Millisecond)) {
		t.Errorf("next = %v %v, want %v", got, ok, t0.Add(100*time.Millisecond))
	}
}
