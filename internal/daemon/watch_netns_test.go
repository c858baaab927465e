package daemon

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pathpin/pathpin/internal/config"
	"github.com/pathpin/pathpin/internal/netnstest"
	"github.com/pathpin/pathpin/uplink"
	"github.com/vishvananda/netns"
)

// lockedBuffer is a log written by several goroutines.
type lockedBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// TestLinkWatchSurvivesAnOverflow forces the link events' socket to
// overflow (a receive buffer of 4 KiB and a burst of 600 new links): the
// netlink library then ends the subscription. The watch must subscribe
// again, ask for an apply, log it, and still report a carrier lost after
// the burst.
func TestLinkWatchSurvivesAnOverflow(t *testing.T) {
	netnstest.RequireRoot(t)
	router, isp := netnstest.New(t), netnstest.New(t)
	netnstest.Veth(t, router, "wan0", isp, "cpe")
	cfg, err := config.Parse("watch.yaml", []byte("lan:\n  interfaces: [lan0]\nuplinks:\n  - name: isp\n    interface: wan0\n    gateway: 192.168.1.254\n"))
	if err != nil {
		t.Fatal(err)
	}
	ns, err := netns.GetFromName(router.Name)
	if err != nil {
		t.Fatal(err)
	}
	defer ns.Close()
	var logged lockedBuffer
	d := &Daemon{cfg: cfg, events: make(chan event, 1<<16), stopped: make(chan struct{}),
		log: slog.New(slog.NewTextHandler(&logged, nil)), watchNS: &ns, watchBuffer: 4096}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); d.watchLinks(ctx) }()
	defer func() { cancel(); <-done }()

	// The burst: 300 veth pairs made and removed in one go.
	var batch strings.Builder
	for i := 0; i < 300; i++ {
		fmt.Fprintf(&batch, "link add b%da type veth peer name b%db\n", i, i)
	}
	for i := 0; i < 300; i++ {
		fmt.Fprintf(&batch, "link del b%da\n", i)
	}
	file := filepath.Join(t.TempDir(), "burst")
	if err := os.WriteFile(file, []byte(batch.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	resubscribed := func() bool { return strings.Contains(logged.String(), "netlink events were lost") }
	for round := 0; round < 20 && !resubscribed(); round++ {
		router.Run("ip", "-batch", file)
	}
	if !resubscribed() {
		t.Fatalf("no overflow after 20 bursts; the log:\n%s", logged.String())
	}
	// Events of the old subscriptions may still come in; what counts is
	// that a carrier lost after the burst is reported.
	isp.Run("ip", "link", "set", "cpe", "down")
	deadline := time.After(10 * time.Second)
	reapply := false
	for {
		select {
		case ev := <-d.events:
			reapply = reapply || ev.kind == evReapply
			if ev.kind == evLink && ev.uplink == "isp" && ev.reason.Cause == uplink.NoCarrier {
				if !reapply {
					t.Fatal("after the overflow no apply was asked for")
				}
				return
			}
		case <-deadline:
			t.Fatalf("the carrier lost after an overflow was never reported; the log:\n%s", logged.String())
		}
	}
}
