// Package daemon is `pathpin up`: it applies the static uplinks, brings up
// each PPPoE uplink (VLAN, discovery, pppd) concurrently, takes pppd's
// ip-up/ip-down events from the hooks, and serialises every kernel change
// through one applier.
package daemon

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/pathpin/pathpin/hooks"
	"github.com/pathpin/pathpin/internal/config"
	"github.com/pathpin/pathpin/internal/health"
	"github.com/pathpin/pathpin/internal/pppd"
	"github.com/pathpin/pathpin/pppoe"
	"github.com/pathpin/pathpin/uplink"
	"github.com/vishvananda/netlink"
)

// Options configure the daemon.
type Options struct {
	ConfigPath string
	RunDir     string // socket, hook links, pppd options, sysctl record (e.g. /run/pathpin)
	LibDir     string // PPPoE sessions, kept across reboots (e.g. /var/lib/pathpin)
	Exe        string // pathpin's own binary, which pppd runs as ip-up/ip-down
	PPPD       string // pppd's path
	Log        *slog.Logger
	Notify     Notifier
	// NewEngine builds the engine for a configuration.
	NewEngine func(cfg *config.Config) (*uplink.Engine, error)
	// Discovery timing; zero values take the pppoe package's defaults.
	DiscoveryInitialTimeout time.Duration
	DiscoveryAttempts       int
	// Redial back-off.
	Backoff pppd.Backoff
	// StatusGID, when not -1, is the group that may read the status socket.
	StatusGID int
}

// SocketPath is where the daemon listens for hook events.
func SocketPath(runDir string) string { return filepath.Join(runDir, "pathpin.sock") }

// HookDir is where the ip-up and ip-down links to pathpin live.
func HookDir(runDir string) string { return filepath.Join(runDir, "hooks") }

// eventKind says what an event reports.
type eventKind int

const (
	evPPP     eventKind = iota // PPP state: down reason, or "" for ip-up
	evLink                     // carrier or link presence changed
	evProbe                    // a probe round finished
	evReapply                  // something pathpin owns changed under it
)

// event is one input to the applier.
type event struct {
	kind   eventKind
	uplink string
	down   string // evPPP, evLink: why it is down; "" means it came up
	round  health.Round
}

// Daemon is a running `pathpin up`.
type Daemon struct {
	opt     Options
	log     *slog.Logger
	events  chan event
	mu      sync.Mutex // guards cfg, engine, statuses, health and sessions
	cfg     *config.Config
	engine  *uplink.Engine
	tasks   map[string]*task
	vlans   *vlanRecord
	pending sync.WaitGroup // PPPoE uplinks that have not made their first attempt

	pppDown map[string]string // PPP uplinks not (yet) up, and why
	// flushAfterApply holds marks whose connections are deleted again once
	// the rebalance is applied: connections marked in the moment between
	// the fast switch and the new balance would otherwise stay on a dead
	// uplink.
	flushAfterApply []uint32
	health          map[string]*uplinkHealth
	statuses        []uplink.Status // as of the last apply
	sessions        map[string]*pppoe.Session
}

// Run runs the daemon until ctx ends, then stops pppd (with PADT), removes
// everything pathpin installed and returns nil. reload receives a value
// for each SIGHUP.
func Run(ctx context.Context, opt Options, reload <-chan struct{}) error {
	if opt.Log == nil {
		opt.Log = slog.New(slog.DiscardHandler)
	}
	if opt.Backoff.Initial == 0 {
		opt.Backoff = pppd.Backoff{Initial: time.Second, Max: time.Minute, StableAfter: 2 * time.Minute}
	}
	cfg, err := config.Load(opt.ConfigPath)
	if err != nil {
		return err
	}
	engine, err := opt.NewEngine(cfg)
	if err != nil {
		return err
	}
	d := &Daemon{opt: opt, log: opt.Log, events: make(chan event, 256), cfg: cfg, engine: engine,
		tasks: map[string]*task{}, vlans: &vlanRecord{path: VLANRecordPath(opt.RunDir)},
		pppDown: map[string]string{}, health: map[string]*uplinkHealth{}, sessions: map[string]*pppoe.Session{}}
	if err := d.prepareRunDir(); err != nil {
		return err
	}
	l, err := d.listen()
	if err != nil {
		return err
	}
	go hooks.Serve(l, d.log, d.hookEvent)
	sl, err := d.listenStatus()
	if err != nil {
		l.Close()
		return err
	}
	go d.serveStatus(sl)

	d.resetHealth()
	for _, u := range cfg.Uplinks {
		if u.IsPPPoE() {
			d.pppDown[u.Name] = "PPP connecting"
		}
	}
	// The static uplinks first: they route at once.
	d.apply(ctx)
	taskCtx, stopTasks := context.WithCancel(context.Background())
	var tasksDone sync.WaitGroup
	d.startTasks(taskCtx, &tasksDone)
	go d.watchLinks(taskCtx)
	d.startProbes(taskCtx, &tasksDone)
	ready := make(chan struct{})
	go func() { d.pending.Wait(); close(ready) }()

	err = d.loop(ctx, ready, reload, taskCtx, &tasksDone)

	d.opt.Notify.Notify("STOPPING=1")
	stopTasks()
	tasksDone.Wait()
	l.Close()
	sl.Close()
	d.shutdown()
	return err
}

// loop is the single applier: every kernel change happens here.
func (d *Daemon) loop(ctx context.Context, ready <-chan struct{}, reload <-chan struct{}, taskCtx context.Context, tasksDone *sync.WaitGroup) error {
	var watchdog <-chan time.Time
	if iv := d.opt.Notify.WatchdogInterval(); iv > 0 {
		t := time.NewTicker(iv)
		defer t.Stop()
		watchdog = t.C
	}
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-ready:
			ready = nil
			d.opt.Notify.Notify("READY=1")
			d.log.Info("ready: static uplinks applied, every PPPoE uplink has made its first attempt")
		case <-watchdog:
			d.opt.Notify.Notify("WATCHDOG=1")
		case <-reload:
			d.reload(taskCtx, tasksDone)
			d.apply(ctx)
		case ev := <-d.events:
			// Take every queued event before applying once; an uplink that
			// died is switched away from first.
			changed := false
			for more := true; more; {
				changed = d.handle(ev) || changed
				select {
				case ev = <-d.events:
				default:
					more = false
				}
			}
			if changed {
				d.apply(ctx)
				d.flushDeadMarks()
			}
		}
	}
}

// apply makes the kernel match; a failure is logged and the previous
// state stays (the engine undoes a half-done change).
func (d *Daemon) apply(ctx context.Context) {
	d.mu.Lock()
	cfg, engine := d.cfg, d.engine
	down := d.downSet()
	d.mu.Unlock()
	p, err := engine.Apply(ctx, cfg, down)
	if err != nil {
		d.log.Error("apply failed; the previous state stays", "err", err)
		d.opt.Notify.Notify("STATUS=apply failed: " + firstLine(err.Error()))
		return
	}
	var parts []string
	for _, s := range p.Statuses {
		if s.Up {
			parts = append(parts, fmt.Sprintf("%s up (%s)", s.Name, s.Local))
		} else {
			parts = append(parts, fmt.Sprintf("%s down (%s)", s.Name, s.Reason))
		}
	}
	status := strings.Join(parts, ", ")
	d.mu.Lock()
	d.statuses = p.Statuses
	d.mu.Unlock()
	if !p.Changes.Empty() {
		d.log.Info("uplinks changed", "status", status)
	}
	d.opt.Notify.Notify("STATUS=" + status)
}

// hookEvent takes an ip-up/ip-down from pppd's script.
func (d *Daemon) hookEvent(e hooks.Event) error {
	d.mu.Lock()
	cfg := d.cfg
	d.mu.Unlock()
	if err := e.Validate(cfg); err != nil {
		return err
	}
	d.log.Info("pppd "+string(e.Kind), "uplink", e.Uplink, "interface", e.IfName, "local", e.Local, "peer", e.Remote)
	if e.Kind == hooks.IPUp {
		d.events <- event{kind: evPPP, uplink: e.Uplink}
	} else {
		d.events <- event{kind: evPPP, uplink: e.Uplink, down: "pppd ip-down"}
	}
	return nil
}

func (d *Daemon) prepareRunDir() error {
	dir := HookDir(d.opt.RunDir)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("creating %s: %w", dir, err)
	}
	for _, name := range []string{"ip-up", "ip-down"} {
		link := filepath.Join(dir, name)
		_ = os.Remove(link)
		if err := os.Symlink(d.opt.Exe, link); err != nil {
			return fmt.Errorf("linking %s to pathpin: %w", link, err)
		}
	}
	return nil
}

func (d *Daemon) listen() (net.Listener, error) {
	path := SocketPath(d.opt.RunDir)
	if err := hooks.Send(context.Background(), path, hooks.Event{}); !errors.Is(err, hooks.ErrNoDaemon) {
		return nil, fmt.Errorf("another pathpin is already running (it answers on %s); stop it first", path)
	}
	_ = os.Remove(path)
	l, err := net.Listen("unix", path)
	if err != nil {
		return nil, fmt.Errorf("listening on %s: %w", path, err)
	}
	return l, nil
}

// shutdown removes what pathpin installed and its runtime files.
func (d *Daemon) shutdown() {
	d.mu.Lock()
	cfg, engine := d.cfg, d.engine
	d.mu.Unlock()
	if _, err := engine.Down(context.Background(), cfg); err != nil {
		d.log.Error("removing pathpin's state", "err", err)
	}
	if nl, ok := engine.NL.(VLANDeleter); ok {
		if err := d.vlans.removeAll(nl); err != nil {
			d.log.Error("removing VLANs", "err", err)
		}
	}
	for _, p := range []string{SocketPath(d.opt.RunDir), StatusSocketPath(d.opt.RunDir), HookDir(d.opt.RunDir)} {
		_ = os.RemoveAll(p)
	}
	matches, _ := filepath.Glob(filepath.Join(d.opt.RunDir, "ppp-*.options"))
	for _, m := range matches {
		_ = os.Remove(m)
	}
	d.log.Info("stopped; pathpin's routes, rules, chains and VLANs are removed")
}

func firstLine(s string) string {
	line, _, _ := strings.Cut(s, "\n")
	return line
}

// VLANDeleter is the part of *netlink.Handle that removes links.
type VLANDeleter interface {
	LinkByName(name string) (netlink.Link, error)
	LinkDel(link netlink.Link) error
}
