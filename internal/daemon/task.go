package daemon

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/pathpin/pathpin/internal/carrier"
	"github.com/pathpin/pathpin/internal/config"
	"github.com/pathpin/pathpin/internal/pppd"
	"github.com/pathpin/pathpin/pppoe"
	"github.com/pathpin/pathpin/uplink"
	"github.com/pathpin/pathpin/vlan"
)

// carrierWait bounds the wait for carrier on the PPPoE link before
// discovery: a link brought up a moment ago has none yet.
const carrierWait = 10 * time.Second

// task brings one PPPoE uplink up and keeps it up.
type task struct {
	uplink config.Uplink
	cancel context.CancelFunc
	done   chan struct{}
}

// reload re-reads the configuration, and each owner reconciles itself to
// it: PPPoE uplinks whose settings changed (or that are gone) are stopped
// and new or changed ones started, DHCP clients likewise, the health
// machines and probes start again with the new targets, and the kernel's
// owner takes the new engine (the old one's sockets are closed).
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
	restarted := d.ppp.stopChanged(cfg)
	d.health.stop()
	d.dhcpOwn.stopChanged(cfg, d.opt.dirs())
	d.mu.Lock()
	old := d.engine
	d.cfg, d.engine = cfg, engine
	d.resetUplinks()
	for _, name := range restarted {
		if s, ok := d.uplinks[name]; ok {
			s.ppp = uplink.Down(uplink.PPPDown, "PPP restarting for the new configuration")
		}
	}
	d.mu.Unlock()
	old.Close()
	d.flows.SetMask(cfg.MarkMask)
	d.ppp.start(ctx, wg, d, cfg)
	d.dhcpOwn.start(ctx, wg, d, cfg)
	d.health.start(ctx, d)
	d.startNotify(ctx, cfg)
	d.log.Info("configuration reloaded", "path", d.opt.ConfigPath)
	d.marks.ask(cfg)
}

// runPPPoE is one uplink's life: VLAN, PADT for a stale session, then
// discovery → pppd → redial, until ctx ends.
func (d *Daemon) runPPPoE(ctx context.Context, u config.Uplink, first func()) {
	log := d.log.With("uplink", u.Name)
	store := pppd.Store{Dir: d.opt.LibDir}
	backoff := d.opt.Backoff
	for attempt := 1; ; attempt++ {
		res, err := d.session(ctx, u, store, log, first)
		first()
		if ctx.Err() != nil {
			return
		}
		reason := ""
		switch {
		case err != nil:
			reason = firstLine(err.Error())
			log.Error("PPPoE uplink failed", "err", err, "attempt", attempt)
		default:
			reason = res.Reason()
			log.Warn("PPP uplink down", "reason", reason, "uptime", res.Uptime.Round(time.Millisecond))
		}
		if !d.send(ctx, event{kind: evPPP, uplink: u.Name, reason: uplink.Down(uplink.PPPDown, reason)}) {
			return
		}
		wait := backoff.Next(res.Uptime)
		if err == nil && res.NeedsAPerson() {
			wait = backoff.Slow()
			log.Error("not redialling soon: "+reason, "in", wait.Round(time.Millisecond))
		} else {
			log.Info("redialling", "in", wait.Round(time.Millisecond))
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
	}
}

// session runs one PPPoE session to its end and returns how pppd ended.
func (d *Daemon) session(ctx context.Context, u config.Uplink, store pppd.Store, log *slog.Logger, started func()) (pppd.Result, error) {
	p := u.PPPoE
	link := p.LinkName()
	if err := d.ask(ctx, event{kind: evVLAN, uplink: u.Name, vlan: vlan.Spec{Parent: p.Interface, ID: p.VLAN, PPPMTU: p.MTU}}); err != nil {
		return pppd.Result{}, err
	}
	// Listen below says what is wrong if the wait ends without carrier.
	wctx, cancel := context.WithTimeout(ctx, carrierWait)
	_ = carrier.Wait(wctx, link, func() { log.Info("waiting for carrier before discovery", "interface", link, "up_to", carrierWait) })
	cancel()
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
		return pppd.Result{}, fmt.Errorf("reading the PPP password: %w (write it to %s, mode 0600)", err, p.PasswordFile)
	}

	conn, hw, err := pppoe.Listen(link)
	if err != nil {
		return pppd.Result{}, err
	}
	client := pppoe.NewClient(conn, link, hw, pppoe.Config{
		Service: p.Service, ACName: p.ACName, MTU: p.MTU,
		InitialTimeout: d.opt.DiscoveryInitialTimeout,
	}, log)
	sess, err := client.Session(ctx)
	conn.Close()
	if err != nil {
		return pppd.Result{}, err
	}
	d.ppp.setSession(u.Name, sess)
	if err := store.Save(u.Name, sess); err != nil {
		log.Warn("saving the session", "err", err)
	}
	plugin, sessOpt, err := pluginFor()
	if err != nil {
		return pppd.Result{}, err
	}
	opts := &pppd.Options{
		Uplink: u.Name, Session: *sess, Username: p.Username, Password: trimNewline(string(password)),
		IfName: p.IfName, MTU: min(p.MTU, int(sess.MaxPayload)),
		LCPEchoInterval: p.LCPEchoInterval, LCPEchoFailure: p.LCPEchoFailure,
		IPUpScript: filepath.Join(d.opt.dirs().HookDir(), "ip-up"), IPDownScript: filepath.Join(d.opt.dirs().HookDir(), "ip-down"),
		Env:    map[string]string{"PATHPIN_CONFIG": d.opt.ConfigPath, "PATHPIN_STATE_DIR": d.opt.StateDir},
		Plugin: plugin, SessionOption: sessOpt,
	}
	path, err := opts.Write(d.opt.StateDir)
	if err != nil {
		return pppd.Result{}, err
	}
	res, err := pppd.Run(ctx, d.opt.PPPD, path, 5*time.Second, log, func(pid int) {
		d.ppp.setPID(u.Name, pid)
		log.Info("pppd started", "pid", pid, "session", sess.String(), "ac", sess.ACName)
		started()
	})
	d.ppp.setPID(u.Name, 0)
	d.ppp.setSession(u.Name, nil)
	if err == nil && !res.EndedCleanly() {
		log.Info("pppd did not close the session; sending PADT", "status", res.Code, "session", sess.String())
		if terr := terminate(sess, log); terr != nil {
			log.Warn("PADT", "err", terr)
		}
	}
	_ = store.Clear(u.Name)
	return res, err
}

// ensureVLAN creates or checks a PPPoE uplink's VLAN link; the applier
// runs it, and records a link it created so that stopping removes it.
func (d *Daemon) ensureVLAN(spec vlan.Spec) (changed bool, err error) {
	nl, ok := d.engine.NL.(vlan.Netlink)
	if !ok {
		return false, fmt.Errorf("vlan: this engine cannot create links")
	}
	before := linkState(nl, spec.Parent) + linkState(nl, spec.Name())
	_, missing := nl.LinkByName(spec.Name())
	if _, err := vlan.Ensure(nl, spec); err != nil {
		return false, err
	}
	if missing != nil && spec.ID != 0 {
		// A link pathpin made and did not record would outlive it: none
		// without the other.
		if err := d.kernel.vlans.add(spec.Name()); err != nil {
			if del, ok := nl.(VLANDeleter); ok {
				if l, lerr := del.LinkByName(spec.Name()); lerr == nil {
					_ = del.LinkDel(l)
				}
			}
			return true, fmt.Errorf("recording the VLAN link %s it made (so that stopping removes it) failed, and it was removed again: %w", spec.Name(), err)
		}
	}
	return before != linkState(nl, spec.Parent)+linkState(nl, spec.Name()), nil
}

// linkState is what an ensured link's request can change of it: whether
// it exists, is up, and its MTU.
func linkState(nl vlan.Netlink, name string) string {
	l, err := nl.LinkByName(name)
	if err != nil {
		return name + " absent;"
	}
	a := l.Attrs()
	return fmt.Sprintf("%s up=%v mtu=%d;", name, a.Flags&net.FlagUp != 0, a.MTU)
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
