package health

import (
	"strings"
	"testing"
	"time"
)

// step is one scripted input: "ok", "miss", "link-down", "link-up".
func run(m *Machine, steps string) []string {
	now := time.Unix(0, 0)
	var out []string
	for _, s := range strings.Fields(steps) {
		now = now.Add(time.Second)
		var tr *Transition
		switch s {
		case "ok":
			tr = m.Probe(now, true, "")
		case "miss":
			tr = m.Probe(now, false, "no answer")
		case "link-down":
			tr = m.LinkDown(now, "carrier lost")
		case "link-up":
			tr = m.LinkUp(now, "carrier back")
		}
		st, _, _ := m.State()
		if tr != nil {
			out = append(out, st.String())
		} else {
			out = append(out, "·")
		}
	}
	return out
}

func TestMachine(t *testing.T) {
	tests := []struct {
		name    string
		start   State
		probing bool
		steps   string
		want    string
	}{
		{"silent failure after 3 misses", Up, true, "ok miss miss miss ok", "· degraded · down recovering"},
		{"one miss is not down", Up, true, "miss ok miss ok", "degraded up degraded up"},
		{"recovery needs 3 in a row", Down, true, "ok ok miss ok ok ok", "recovering · down recovering · up"},
		{"flapping stays down", Up, true, "miss miss miss ok miss ok miss ok miss", "degraded · down recovering down recovering down recovering down"},
		{"carrier loss is immediate", Up, true, "ok link-down ok ok ok", "· down · · ·"},
		{"carrier back then probes", Up, true, "link-down link-up ok ok ok", "down recovering · · up"},
		{"carrier back, probe fails", Up, true, "link-down link-up miss", "down recovering down"},
		{"without probes the link decides", Up, false, "link-down link-up", "down up"},
		{"link-up while up is nothing", Up, false, "link-up", "·"},
		{"degraded then carrier loss", Up, true, "miss link-down", "degraded down"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := NewMachine(tt.start, time.Unix(0, 0), "start", 3, 3, tt.probing)
			got := strings.Join(run(m, tt.steps), " ")
			if got != tt.want {
				t.Fatalf("%s:\n got  %s\n want %s", tt.steps, got, tt.want)
			}
		})
	}
}

func TestAllDownKeepsProbing(t *testing.T) {
	a := NewMachine(Up, time.Unix(0, 0), "", 2, 2, true)
	b := NewMachine(Up, time.Unix(0, 0), "", 2, 2, true)
	run(a, "miss miss")
	run(b, "miss miss")
	for _, m := range []*Machine{a, b} {
		if st, _, _ := m.State(); st != Down {
			t.Fatalf("state %s, want down", st)
		}
	}
	if got := strings.Join(run(a, "ok ok"), " "); got != "recovering up" {
		t.Fatalf("recovery while every uplink is down: %s", got)
	}
}

func TestReasonAndSince(t *testing.T) {
	m := NewMachine(Up, time.Unix(0, 0), "start", 1, 1, true)
	tr := m.Probe(time.Unix(5, 0), false, "1.1.1.1 timed out")
	st, since, reason := m.State()
	if tr == nil || st != Down || since != time.Unix(5, 0) || !strings.Contains(reason, "1.1.1.1 timed out") {
		t.Fatalf("%v %s %v %q", tr, st, since, reason)
	}
}

// TestFailback: a recovering uplink is back up only after UpAfter
// answered rounds and its hold; with Never only after Resume; its reason
// says what it waits for.
func TestFailback(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 14, 0, 0, 0, time.UTC)
	at := func(s int) time.Time { return t0.Add(time.Duration(s) * time.Second) }
	m := NewMachine(Up, t0, "started", 3, 3, true)
	m.Hold = 10 * time.Second
	for i := 1; i <= 3; i++ {
		m.Probe(at(i), false, "x")
	}
	if st, _, _ := m.State(); st != Down {
		t.Fatalf("after 3 misses: %s", st)
	}
	for i := 4; i <= 13; i++ {
		if tr := m.Probe(at(i), true, ""); tr != nil && tr.To == Up {
			t.Fatalf("up at %ds, within the hold that began at 4s", i)
		}
	}
	if _, _, reason := m.State(); !strings.Contains(reason, "failback hold until 14:00:14") {
		t.Errorf("reason during the hold: %q", reason)
	}
	if tr := m.Probe(at(14), true, ""); tr == nil || tr.To != Up {
		t.Fatalf("not up once the hold passed: %v", tr)
	}

	m = NewMachine(Up, t0, "started", 1, 1, true)
	m.Never = true
	m.Probe(at(1), false, "x")
	for i := 2; i < 20; i++ {
		if tr := m.Probe(at(i), true, ""); tr != nil && tr.To == Up {
			t.Fatal("failback: never came back by itself")
		}
	}
	if _, _, reason := m.State(); !strings.Contains(reason, "pathpin resume") {
		t.Errorf("reason while held out: %q", reason)
	}
	if tr := m.Resume(at(20)); tr == nil || tr.To != Up {
		t.Fatalf("resume: %v", tr)
	}
	// Resume on an uplink in service leaves nothing behind for the next
	// time it goes down.
	m.Resume(at(21))
	m.Probe(at(22), false, "x")
	if tr := m.Probe(at(23), true, ""); tr != nil && tr.To == Up {
		t.Fatal("a resume given while up let a later failback: never back")
	}
}
