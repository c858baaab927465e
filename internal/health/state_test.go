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
