// Package daemon is `pathpin up`: it applies the static uplinks, brings up
// each PPPoE uplink (VLAN, discovery, pppd) concurrently, takes pppd's
// ip-up/ip-down events from the hooks, and serialises every kernel change
// through one applier: the loop in loop.go is the only writer of kernel
// state while the daemon runs, and the state lock keeps the CLI out.
package daemon

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/pathpin/pathpin/hooks"
	"github.com/pathpin/pathpin/internal/config"
	"github.com/pathpin/pathpin/internal/conntrack"
	"github.com/pathpin/pathpin/internal/lock"
	"github.com/pathpin/pathpin/internal/notify"
	"github.com/pathpin/pathpin/internal/pppd"
	"github.com/pathpin/pathpin/internal/statedir"
	"github.com/pathpin/pathpin/uplink"
	"github.com/vishvananda/netns"
)

// Options configure the daemon.
type Options struct {
	ConfigPath string
	// MarkUsers, when set, reads the other software on the host that uses
	// packet marks and says what clashes with cfg (pathpin check's
	// findings); the daemon logs them at start and on reload.
	MarkUsers func(ctx context.Context, cfg *config.Config) ([]uplink.Finding, error)
	// StateDir holds what lives as long as the kernel state pathpin made
	// (the lock, sockets, hook links, pppd options, the sysctl and VLAN
	// records), e.g. /run/pathpin (--state-dir).
	StateDir string
	// LibDir holds what must survive a reboot (PPPoE sessions), e.g.
	// /var/lib/pathpin (--lib-dir).
	LibDir string
	Exe    string // pathpin's own binary, which pppd runs as ip-up/ip-down
	PPPD   string // pppd's path
	Log    *slog.Logger
	Notify Notifier // nil: nobody is told
	// NewEngine builds the engine for a configuration.
	NewEngine func(cfg *config.Config) (*uplink.Engine, error)
	// DiscoveryInitialTimeout is discovery's first wait; zero takes the
	// pppoe package's default.
	DiscoveryInitialTimeout time.Duration
	// Redial back-off.
	Backoff pppd.Backoff
	// PPPDir holds the host's ip-up and ip-down scripts, run after
	// pathpin's own work (default /etc/ppp).
	PPPDir string
	// HistoryStep is a history point's length (0: a minute).
	HistoryStep time.Duration
	// UsageRead is how often the data use counters are read (0: every
	// 5 s).
	UsageRead time.Duration
	// StatusGID, when above 0, is the group that may read the status
	// socket (root reads it anyway).
	StatusGID int
}

// dirs are the options' directories, whose paths statedir owns.
func (o Options) dirs() statedir.Dirs { return statedir.Dirs{State: o.StateDir, Lib: o.LibDir} }

// Daemon is a running `pathpin up`.
type Daemon struct {
	opt    Options
	log    *slog.Logger
	events chan event
	// stopped is closed when the applier stops taking events: every send
	// gives way to it.
	stopped chan struct{}

	// watchNS and watchBuffer, for tests: the namespace link events are
	// read in (nil: the daemon's own) and the sockets' receive buffer
	// (0: the kernel's default).
	watchNS     *netns.NsHandle
	watchBuffer int

	// The owners of the uplinks' kinds: each reconciles itself to a new
	// configuration and keeps its own lock.
	ppp     *pppoeOwner
	dhcpOwn *dhcpOwner

	mu       sync.Mutex // guards what other goroutines read: cfg, engine, uplinks (health), statuses
	cfg      *config.Config
	engine   *uplink.Engine
	uplinks  map[string]*uplinkState
	statuses []uplink.Status // as of the last apply
	scripts  *pppScripts

	// The health owner's probe loops and the kernel owner's state are
	// the applier goroutine's.
	health  *healthOwner
	kernel  *kernelOwner
	pending sync.WaitGroup // PPPoE uplinks that have not made their first attempt
	// flows counts conntrack entries by mark from the kernel's events,
	// for status.
	flows *conntrack.Counter
	// execs are the commands pathpin exec runs (the applier's).
	execs *execOwner
	// domains fills the domain policies' sets from DNS answers.
	domains *domainOwner
	// cold runs the cold standbys (the applier's); usage keeps the data
	// use and tells of caps.
	cold  coldOwner
	usage *usageOwner
	// hist keeps the points and changes the status socket serves.
	hist *historyOwner
	// notifier sends the webhooks (d.mu; nil: none); notifyRun is the
	// applier's handle on it.
	notifier  *notify.Notifier
	notifyRun *notifyOwner
	// public are the uplinks' public addresses (d.mu); publicKick asks
	// for them again.
	public     map[string]*publicAddr
	publicKick chan struct{}
	// marks reads the other software's packet marks at start and reload.
	marks *markScans
	// applies counts the applies and their time, for metrics (d.mu).
	applies      uint64
	applySeconds float64
}

// Run runs the daemon until ctx ends, then stops pppd (with PADT), removes
// everything pathpin installed and returns. reload receives a value for
// each SIGHUP. It fails at once, changing nothing, when another pathpin
// holds the state lock, and returns the reason when the first apply fails
// (the service manager restarts it).
func Run(ctx context.Context, opt Options, reload <-chan struct{}) error {
	if opt.Log == nil {
		opt.Log = slog.New(slog.DiscardHandler)
	}
	if opt.Notify == nil {
		opt.Notify = nopNotifier{}
	}
	if opt.Backoff.Initial == 0 {
		opt.Backoff = pppd.Backoff{Initial: time.Second, Max: time.Minute, StableAfter: 2 * time.Minute}
	}
	cfg, err := config.Load(opt.ConfigPath)
	if err != nil {
		return err
	}
	lk, err := lock.Acquire(ctx, opt.StateDir, lock.Daemon)
	if err != nil {
		return err
	}
	defer lk.Release()
	engine, err := opt.NewEngine(cfg)
	if err != nil {
		return err
	}
	d := &Daemon{opt: opt, log: opt.Log, events: make(chan event, 256), stopped: make(chan struct{}),
		cfg: cfg, engine: engine, uplinks: map[string]*uplinkState{}, ppp: newPPPoEOwner(), dhcpOwn: newDHCPOwner(),
		scripts: newPPPScripts(), health: &healthOwner{}, kernel: &kernelOwner{vlans: &vlanRecord{path: opt.dirs().VLANRecord()}, flush: newFlusher()},
		flows: conntrack.NewCounter(cfg.MarkMask, opt.Log), execs: newExecOwner(opt.Log), domains: newDomainOwner(opt.Log),
		cold: coldOwner{started: time.Now(), stopping: map[string]bool{}}, usage: newUsageOwner(opt.dirs().Usage(), opt.Log, opt.UsageRead),
		hist: newHistoryOwner(opt.HistoryStep), public: map[string]*publicAddr{}, publicKick: make(chan struct{}, 1), marks: newMarkScans()}
	defer func() { d.engine.Close() }()
	if err := d.prepareStateDir(); err != nil {
		return err
	}
	hl, err := hooks.Listen(opt.dirs().HookSocket())
	if err != nil {
		return err
	}
	defer hl.Close()
	go hooks.Serve(hl, d.log, hooks.RootOnly, d.hookEvent)
	sl, err := d.listenStatus()
	if err != nil {
		return err
	}
	defer sl.Close()
	go d.serveStatus(sl)

	d.resetUplinks()
	// Counters a crashed pathpin's table holds were counted up to its
	// last save.
	d.usage.baseline(cfg)
	// An uplink over its cap when pathpin stopped is a standby from the
	// first apply (no event: nothing changed).
	for _, ch := range d.usage.observe(cfg, time.Now(), false) {
		if s, ok := d.uplinks[ch.uplink]; ok {
			s.capped = ch.reason
		}
	}
	// The static uplinks first: they route at once. If this cannot work,
	// say why and stop: nothing is half-applied (the engine undoes).
	if err := d.apply(ctx); err != nil {
		d.removeRuntimeFiles()
		return fmt.Errorf("the first apply failed, so pathpin is not starting: %w", err)
	}
	d.marks.ask(cfg)
	// Once the table holds the domain sets: the reader fills them.
	d.domains.reconcile(d.cfg)
	defer d.domains.close()
	workers, stopWorkers := context.WithCancel(context.Background())
	var workersDone sync.WaitGroup
	d.cold.ctx, d.cold.wg = workers, &workersDone
	d.startNotify(workers, cfg)
	defer d.stopNotify()
	d.ppp.start(workers, &workersDone, d, d.cfg)
	d.dhcpOwn.start(workers, &workersDone, d, d.cfg)
	workersDone.Add(1)
	go func() { defer workersDone.Done(); d.scripts.run(workers, d) }()
	workersDone.Add(1)
	go func() { defer workersDone.Done(); d.watchLinks(workers) }()
	workersDone.Add(1)
	go func() { defer workersDone.Done(); d.kernel.flush.run(workers, d) }()
	workersDone.Add(1)
	go func() {
		defer workersDone.Done()
		if err := d.flows.Run(workers); err != nil {
			d.log.Warn("status counts flows with a conntrack dump per request", "err", err)
		}
	}()
	workersDone.Add(1)
	go func() { defer workersDone.Done(); d.usage.run(workers, d) }()
	workersDone.Add(1)
	go func() { defer workersDone.Done(); d.runHistory(workers) }()
	workersDone.Add(1)
	go func() { defer workersDone.Done(); d.runPublic(workers) }()
	// Not waited for at stop: a read held up by another program's
	// iptables lock ends with the context or its own timeout.
	go d.runMarkScans(workers)
	d.health.start(workers, d)
	ready := make(chan struct{})
	go func() { d.pending.Wait(); close(ready) }()

	d.loop(ctx, ready, reload, workers, &workersDone)

	close(d.stopped)
	d.opt.Notify.Notify("STOPPING=1")
	stopWorkers()
	d.health.stop()
	workersDone.Wait()
	// What the counters gained since the last read, before the table
	// goes.
	d.usage.observe(d.currentConfig(), time.Now(), true)
	return d.shutdown()
}

// shutdown removes what pathpin installed, after pppd has stopped, and
// says truthfully what is left when that fails.
func (d *Daemon) shutdown() error {
	d.mu.Lock()
	cfg, engine := d.cfg, d.engine
	d.mu.Unlock()
	var errs []error
	if _, err := engine.Down(context.Background(), cfg); err != nil {
		errs = append(errs, fmt.Errorf("removing routes, rules and chains: %w", err))
	}
	if nl, ok := engine.NL.(VLANDeleter); ok {
		if err := d.kernel.vlans.removeAll(nl); err != nil {
			errs = append(errs, fmt.Errorf("removing VLANs: %w", err))
		}
	}
	d.removeRuntimeFiles()
	d.execs.close()
	if err := errors.Join(errs...); err != nil {
		d.log.Error("stopped, but pathpin's state is not fully removed; run pathpin down", "err", err)
		return fmt.Errorf("stopping: %w", err)
	}
	d.log.Info("stopped; pathpin's routes, rules, chains and VLANs are removed")
	return nil
}

func (d *Daemon) removeRuntimeFiles() {
	for _, p := range []string{d.opt.dirs().HookSocket(), d.opt.dirs().StatusSocket(), d.opt.dirs().HookDir()} {
		_ = os.RemoveAll(p)
	}
	matches, _ := filepath.Glob(d.opt.dirs().PPPOptions("*"))
	resolv, _ := filepath.Glob(d.opt.dirs().Resolv("*"))
	for _, m := range append(matches, resolv...) {
		_ = os.Remove(m)
	}
}

func (d *Daemon) prepareStateDir() error {
	dir := d.opt.dirs().HookDir()
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

// hookEvent takes an ip-up/ip-down from pppd's script. An event from a
// pppd that is not the uplink's current one (an old pppd's late ip-down)
// is acknowledged and ignored.
func (d *Daemon) hookEvent(e hooks.Event) error {
	if e.Kind == hooks.Exec || e.Kind == hooks.ExecDone {
		return d.ask(context.Background(), event{kind: evExec, exec: &e})
	}
	if e.Kind == hooks.Resume {
		if _, ok := d.currentConfig().Uplink(e.Uplink); !ok {
			return fmt.Errorf("%q names no uplink of the running configuration", e.Uplink)
		}
		d.send(context.Background(), event{kind: evResume, uplink: e.Uplink})
		return nil
	}
	d.mu.Lock()
	cfg, current := d.cfg, d.ppp.pid(e.Uplink)
	d.mu.Unlock()
	if err := e.Validate(cfg); err != nil {
		return err
	}
	if e.PID != current {
		d.log.Info("ignoring pppd "+string(e.Kind)+" from a pppd that is not the uplink's current one",
			"uplink", e.Uplink, "pppd_pid", e.PID, "current_pid", current)
		return nil
	}
	d.log.Info("pppd "+string(e.Kind), "uplink", e.Uplink, "interface", e.IfName, "local", e.Local, "peer", e.Remote)
	ev := event{kind: evPPP, uplink: e.Uplink, ppp: &e}
	if e.Kind == hooks.IPDown {
		ev.reason = uplink.Down(uplink.PPPDown, "pppd ip-down")
	}
	d.send(context.Background(), ev)
	return nil
}

// Paths in the state directory.
