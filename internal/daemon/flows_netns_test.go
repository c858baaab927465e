package daemon

import (
	"strings"
	"testing"
	"time"

	"github.com/pathpin/pathpin/internal/conntrack"
)

// waitFlowsMatchKernel waits until status counts, on both uplinks, what
// the kernel's own mark filter counts at the same moment (the daemon's
// first dump, if its probes' events overlapped it, is taken again 2 s,
// then 4 s, … later).
func (l *failoverLab) waitFlowsMatchKernel(what string) {
	l.t.Helper()
	var got [2]any
	var want [2]int
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		a, b := l.state("ispa").Flows, l.state("ispb").Flows
		want = [2]int{l.flowsOf(0x100), l.flowsOf(0x200)}
		got = [2]any{deref(a), deref(b)}
		if a != nil && b != nil && *a == want[0] && *b == want[1] {
			return
		}
	}
	l.t.Fatalf("%s: status counts %v flows on ispa and ispb, the kernel %v", what, got, want)
}

// The daemon counts flows from the kernel's conntrack events: what was
// there before it started, real connections through it, entries put in
// and deleted behind its back.
func TestStatusCountsFlowsFromEvents(t *testing.T) {
	l := prepareLab(t, 1, 1, "")
	l.Router.AddFlows(500, 0, 0x100) // before the daemon listens
	l.start()
	l.waitState("ispa", "up", 10*time.Second)
	l.waitState("ispb", "up", 10*time.Second)
	l.waitFlowsMatchKernel("at start")

	l.longLived(20)
	l.waitFlowsMatchKernel("after 20 connections")

	l.Router.AddFlows(3000, 500, 0x200)
	l.waitFlowsMatchKernel("after 3,000 more entries")

	l.Router.Must(func() error { return conntrack.DeleteMark(0x200, 0xff00) })
	l.waitFlowsMatchKernel("after ispb's entries were deleted")
	// The counts came from the counter, not from a dump per request.
	if log := l.logText(); strings.Contains(log, "a conntrack dump per request") {
		t.Fatalf("the daemon is not counting from events:\n%s", log)
	}
	if n := l.state("ispa").Flows; n == nil || *n < 500 {
		t.Fatalf("ispa's flows: %v", deref(n))
	}
}

func deref(n *int) any {
	if n == nil {
		return "none"
	}
	return *n
}
