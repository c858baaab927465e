package daemon

import (
	"context"
	"errors"
	"log/slog"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pathpin/pathpin/hooks"
	"github.com/pathpin/pathpin/internal/config"
	"github.com/pathpin/pathpin/uplink"
	"github.com/vishvananda/netlink"
)

// brokenNetlink is a kernel that answers nothing.
type brokenNetlink struct{ uplink.Netlink }

func (brokenNetlink) LinkList() ([]netlink.Link, error) { return nil, errors.New("netlink is broken") }

type recordingNotifier struct {
	mu     sync.Mutex
	states []string
}

func (r *recordingNotifier) Notify(s string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.states = append(r.states, s)
}
func (*recordingNotifier) WatchdogInterval() time.Duration { return 0 }

func writeConfig(t *testing.T) string {
	path := filepath.Join(t.TempDir(), "pathpin.yaml")
	if err := os.WriteFile(path, []byte("lan:\n  interfaces: [lan0]\nuplinks:\n  - name: a\n    interface: wan0\n    gateway: 192.168.1.254\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestAFailedFirstApplyEndsTheDaemon: no READY=1, a non-zero exit with the
// reason, and nothing left in the state directory but the lock.
func TestAFailedFirstApplyEndsTheDaemon(t *testing.T) {
	dir := t.TempDir()
	n := &recordingNotifier{}
	err := Run(context.Background(), Options{ConfigPath: writeConfig(t), StateDir: dir, LibDir: t.TempDir(), Notify: n, Exe: "/bin/true",
		NewEngine: func(*config.Config) (*uplink.Engine, error) { return &uplink.Engine{NL: brokenNetlink{}}, nil }}, nil)
	if err == nil || !strings.Contains(err.Error(), "the first apply failed") || !strings.Contains(err.Error(), "netlink is broken") {
		t.Fatalf("Run: %v", err)
	}
	for _, s := range n.states {
		if s == "READY=1" {
			t.Fatal("READY=1 was sent although the first apply failed")
		}
	}
	left, _ := os.ReadDir(dir)
	for _, e := range left {
		if e.Name() != "lock" {
			t.Errorf("%s left in the state directory", e.Name())
		}
	}
}

// TestNoNotifierIsFine: a daemon run outside a service manager.
func TestNoNotifierIsFine(t *testing.T) {
	err := Run(context.Background(), Options{ConfigPath: writeConfig(t), StateDir: t.TempDir(), LibDir: t.TempDir(), Exe: "/bin/true",
		NewEngine: func(*config.Config) (*uplink.Engine, error) { return &uplink.Engine{NL: brokenNetlink{}}, nil }}, nil)
	if err == nil {
		t.Fatal("Run succeeded on a broken kernel")
	}
}

// TestHookEventsFromAnOldPPPDAreIgnored: a late ip-down from a pppd that
// is no longer the uplink's must not take the new session's uplink down.
func TestHookEventsFromAnOldPPPDAreIgnored(t *testing.T) {
	cfg, err := config.Parse("t.yaml", []byte("lan:\n  interfaces: [lan0]\nuplinks:\n  - name: dsl\n    pppoe:\n      interface: eth1\n      username: u\n      password-file: /p\n      ifname: ppp1\n"))
	if err != nil {
		t.Fatal(err)
	}
	d := &Daemon{cfg: cfg, log: slog.New(slog.DiscardHandler), events: make(chan event, 4), stopped: make(chan struct{}), ppp: newPPPoEOwner()}
	d.ppp.setPID("dsl", 200)
	e := hooks.Event{Kind: hooks.IPDown, Uplink: "dsl", IfName: "ppp1", Local: netip.MustParseAddr("100.64.0.10"), Remote: netip.MustParseAddr("100.64.0.1"), PID: 100}
	if err := d.hookEvent(e); err != nil {
		t.Fatal(err)
	}
	if len(d.events) != 0 {
		t.Fatal("an ip-down from an old pppd reached the applier")
	}
	e.PID = 200
	if err := d.hookEvent(e); err != nil {
		t.Fatal(err)
	}
	if ev := <-d.events; ev.kind != evPPP || ev.reason.Cause != uplink.PPPDown {
		t.Fatalf("the current pppd's ip-down became %+v", ev)
	}
}

// TestSendsGiveWayToShutdown: with the queue full and the applier gone,
// senders return instead of blocking.
func TestSendsGiveWayToShutdown(t *testing.T) {
	d := &Daemon{events: make(chan event, 1), stopped: make(chan struct{})}
	if !d.send(context.Background(), event{kind: evReapply}) {
		t.Fatal("the first send did not queue")
	}
	done := make(chan bool)
	go func() { done <- d.send(context.Background(), event{kind: evReapply}) }()
	close(d.stopped)
	select {
	case ok := <-done:
		if ok {
			t.Fatal("a send into a full queue reported success after the stop")
		}
	case <-time.After(5 * time.Second):
		t.Fatal("a send blocked the shutdown")
	}
	if err := d.ask(context.Background(), event{kind: evVLAN}); err == nil {
		t.Fatal("a request to a stopped applier succeeded")
	}
}
