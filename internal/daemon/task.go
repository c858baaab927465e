package daemon

import (
	"context"
	"fmt"
	"golang.org/x/sys/unix"
	"log/slog"
	"os"
	"reflect"
	"sync"
	"time"

	"github.com/pathpin/pathpin/internal/config"
	"github.com/pathpin/pathpin/internal/pppd"
	"github.com/pathpin/pathpin/pppoe"
	"github.com/pathpin/pathpin/vlan"
	"github.com/vishvananda/netlink"
)

// task brings one PPPoE uplink up and keeps it up.
type task struct {
	uplink config.Uplink
	cancel context.CancelFunc
	done   chan struct{}
}

// startTasks starts a task for each PPPoE uplink that has none.
func (d *Daemon) startTasks(ctx context.Context, wg *sync.WaitGroup) {
	d.mu.Lock()
	defer d.mu.Unlock()
	for i := range d.cfg.Uplinks {
		u := d.cfg.Uplinks[i]
		if !u.IsPPPoE() || d.tasks[u.Name] != nil {
			continue
		}
		tctx, cancel := context.WithCancel(ctx)
		t := &task{uplink: u, cancel: cancel, done: make(chan struct{})}
		d.tasks[u.Name] = t
		d.pending.Add(1)
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer close(t.done)
			d.runPPPoE(tctx, u)
		}()
	}
}

// reload re-reads the configuration. PPPoE uplinks whose settings changed
// (or that are gone) are stopped; new or changed ones are started.
func (d *Daemon) reload(ctx context.Context, wg *sync.WaitGroup) {
	cfg, err := config.Load(d.opt.ConfigPath)
	if err != nil {
		d.log.Error("reload: keeping the running configuration", "err", err)
		return
	}
	engine, err := d.opt.NewEngine(cfg)
	if err != nil {
		d.log.Error("reload: keeping the running configuration", "err", err)
		return
	}
	d.mu.Lock()
	d.cfg, d.engine = cfg, engine
	var stop []*task
	for name, t := range d.tasks {
		u, ok := cfg.Uplink(name)
		if !ok || !reflect.DeepEqual(*u, t.uplink) {
			stop = append(stop, t)
			delete(d.tasks, name)
		}
	}
	d.mu.Unlock()
	for _, t := range stop {
		t.cancel()
		<-t.done
		d.pppDown[t.uplink.Name] = "PPP restarting for the new configuration"
	}
	for _, u := range cfg.Uplinks {
		if _, ok := d.pppDown[u.Name]; !ok && u.IsPPPoE() && d.tasks[u.Name] == nil {
			d.pppDown[u.Name] = "PPP connecting"
		}
	}
	d.resetHealth()
	d.startTasks(ctx, wg)
	d.log.Info("configuration reloaded", "path", d.opt.ConfigPath)
}

// runPPPoE is one uplink's life: VLAN, PADT for a stale session, then
// discovery → pppd → redial, until ctx ends.
func (d *Daemon) runPPPoE(ctx context.Context, u config.Uplink) {
	log := d.log.With("uplink", u.Name)
	first := sync.OnceFunc(d.pending.Done)
	defer first()
	store := pppd.Store{Dir: d.opt.LibDir}
	backoff := d.opt.Backoff
	for attempt := 1; ; attempt++ {
		uptime, err := d.session(ctx, u, store, log, first)
		first()
		if ctx.Err() != nil {
			return
		}
		if err != nil {
			log.Error("PPPoE uplink failed", "err", err, "attempt", attempt)
			d.events <- event{kind: evPPP, uplink: u.Name, down: firstLine(err.Error())}
		}
		wait := backoff.Next(uptime)
		log.Info("redialling", "in", wait.Round(time.Millisecond))
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
	}
}

// session runs one PPPoE session to its end and returns how long pppd ran.
func (d *Daemon) session(ctx context.Context, u config.Uplink, store pppd.Store, log *slog.Logger, started func()) (time.Duration, error) {
	p := u.PPPoE
	h, err := netlink.NewHandle(unix.NETLINK_ROUTE)
	if err != nil {
		return 0, fmt.Errorf("opening netlink: %w", err)
	}
	defer h.Close()
	link := p.LinkName()
	_, missing := h.LinkByName(link)
	if _, err := vlan.Ensure(h, vlan.Spec{Parent: p.Interface, ID: p.VLAN, PPPMTU: p.MTU}); err != nil {
		return 0, err
	}
	if missing != nil && p.VLAN != 0 { // pathpin creates it now
		if err := d.vlans.add(link); err != nil {
			log.Warn("recording the VLAN", "err", err)
		}
	}
	// A session left by a crash or power cut: close it before a new login.
	if stale, err := store.Load(u.Name); err != nil {
		log.Warn("reading the last session", "err", err)
	} else if stale != nil {
		log.Info("sending PADT for a stale session left by an earlier run", "session", stale.String(), "interface", stale.Interface)
		if err := terminate(stale, log); err != nil {
			log.Warn("stale session PADT", "err", err)
		}
		_ = store.Clear(u.Name)
	}
	password, err := os.ReadFile(p.PasswordFile)
	if err != nil {
		return 0, fmt.Errorf("reading the PPP password: %w (write it to %s, mode 0600)", err, p.PasswordFile)
	}

	conn, hw, err := pppoe.Listen(link)
	if err != nil {
		return 0, err
	}
	client := pppoe.NewClient(conn, link, hw, pppoe.Config{
		Service: p.Service, ACName: p.ACName, MTU: p.MTU,
		InitialTimeout: d.opt.DiscoveryInitialTimeout, Attempts: d.opt.DiscoveryAttempts,
	}, log)
	sess, err := client.Session(ctx)
	conn.Close()
	if err != nil {
		return 0, err
	}
	d.setSession(u.Name, sess)
	if err := store.Save(u.Name, sess); err != nil {
		log.Warn("saving the session", "err", err)
	}
	plugin, sessOpt, err := pluginFor()
	if err != nil {
		return 0, err
	}
	opts := &pppd.Options{
		Uplink: u.Name, Session: *sess, Username: p.Username, Password: trimNewline(string(password)),
		IfName: p.IfName, MTU: min(p.MTU, int(sess.MaxPayload)),
		LCPEchoInterval: p.LCPEchoInterval, LCPEchoFailure: p.LCPEchoFailure,
		IPUpScript: HookDir(d.opt.RunDir) + "/ip-up", IPDownScript: HookDir(d.opt.RunDir) + "/ip-down",
		Env:    map[string]string{"PATHPIN_CONFIG": d.opt.ConfigPath, "PATHPIN_RUN_DIR": d.opt.RunDir},
		Plugin: plugin, SessionOption: sessOpt,
	}
	path, err := opts.Write(d.opt.RunDir)
	if err != nil {
		return 0, err
	}
	res, err := pppd.Run(ctx, d.opt.PPPD, path, 5*time.Second, log, func(pid int) {
		log.Info("pppd started", "pid", pid, "session", sess.String(), "ac", sess.ACName)
		started()
	})
	d.setSession(u.Name, nil)
	d.events <- event{kind: evPPP, uplink: u.Name, down: fmt.Sprintf("pppd exited (status %d)", res.Code)}
	if err == nil && !res.EndedCleanly() {
		log.Info("pppd did not close the session; sending PADT", "status", res.Code, "session", sess.String())
		if terr := terminate(sess, log); terr != nil {
			log.Warn("PADT", "err", terr)
		}
	}
	_ = store.Clear(u.Name)
	return res.Uptime, err
}

// terminate sends a PADT for s on its interface.
func terminate(s *pppoe.Session, log *slog.Logger) error {
	conn, hw, err := pppoe.Listen(s.Interface)
	if err != nil {
		return err
	}
	defer conn.Close()
	return pppoe.NewClient(conn, s.Interface, hw, pppoe.Config{}, log).Terminate(*s, "pathpin: session closed")
}

var pluginOnce = sync.OnceValues(func() ([2]string, error) {
	dir, err := pppd.PluginDir()
	if err != nil {
		return [2]string{}, err
	}
	p, o, err := pppd.DetectPlugin(dir)
	return [2]string{p, o}, err
})

func pluginFor() (string, string, error) {
	v, err := pluginOnce()
	return v[0], v[1], err
}

func trimNewline(s string) string {
	for len(s) > 0 && (s[len(s)-1] == '\n' || s[len(s)-1] == '\r') {
		s = s[:len(s)-1]
	}
	return s
}
