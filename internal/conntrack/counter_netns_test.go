package conntrack

import (
	"context"
	"fmt"
	"log/slog"
	"testing"
	"time"

	"github.com/pathpin/pathpin/internal/netnstest"
)

// runCounter runs c in ns until the test ends.
func runCounter(t *testing.T, ns *netnstest.NS, c *Counter) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go ns.Do(func() { done <- c.Run(ctx) })
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("the counter stopped: %v", err)
		}
	})
}

// waitCounts waits until c counts want under mask, exactly: a dump that
// events overlapped is taken again 2 s, then 4 s, … later.
func waitCounts(t *testing.T, c *Counter, mask uint32, want map[uint32]int) {
	t.Helper()
	var got map[uint32]int
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		var ok bool
		if got, ok = c.Counts(mask); ok && c.isExact() && fmt.Sprint(got) == fmt.Sprint(want) {
			return
		}
	}
	t.Fatalf("the counter has %v (exact: %v), want %v", got, c.isExact(), want)
}

func TestCounterFollowsEvents(t *testing.T) {
	netnstest.RequireRoot(t)
	ns := netnstest.New(t)
	ns.AddFlows(1000, 0, 0x100) // before anyone listens: the first dump counts them
	c := NewCounter(0xff00, slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug})))
	runCounter(t, ns, c)
	waitCounts(t, c, 0xff00, map[uint32]int{0x100: 1000})

	ns.AddFlows(2000, 1000, 0x200)
	ns.AddFlows(300, 3000, 0x10200) // a bit outside the mask: another tool's
	waitCounts(t, c, 0xff00, map[uint32]int{0x100: 1000, 0x200: 2300})

	ns.Must(func() error { return DeleteMark(0x200, 0xff00) })
	waitCounts(t, c, 0xff00, map[uint32]int{0x100: 1000})

	c.SetMask(0xffffff)
	if _, ok := c.Counts(0xff00); ok {
		t.Fatal("counts under the old mask after SetMask")
	}
	ns.AddFlows(50, 4000, 0x10200)
	waitCounts(t, c, 0xffffff, map[uint32]int{0x100: 1000, 0x10200: 50})
}

// A burst larger than the socket's buffer loses events; the counter
// notices, reads the table again once the burst is over, and is exact.
func TestCounterRecoversFromOverrun(t *testing.T) {
	netnstest.RequireRoot(t)
	ns := netnstest.New(t)
	c := NewCounter(0xff00, slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug})))
	c.rcvbuf = 4096
	runCounter(t, ns, c)
	waitCounts(t, c, 0xff00, map[uint32]int{})
	ns.AddFlows(5000, 0, 0x100)
	ns.AddFlows(5000, 5000, 0x200)
	waitCounts(t, c, 0xff00, map[uint32]int{0x100: 5000, 0x200: 5000})
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(b []byte) (int, error) { w.t.Log(string(b)); return len(b), nil }
