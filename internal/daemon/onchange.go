package daemon

import (
	"context"
	"os"
	"reflect"
	"time"

	"github.com/pathpin/pathpin/internal/config"
	"github.com/pathpin/pathpin/internal/health"
	"github.com/pathpin/pathpin/internal/notify"
	"github.com/pathpin/pathpin/internal/runcmd"
)

// runOnChange runs the configured command for a health transition.
func (d *Daemon) runOnChange(name string, tr *health.Transition) {
	d.runOnChangeEvent(name, tr.From.String(), tr.To.String(), tr.Reason, "")
}

// runOnChangeEvent tells of a state change: the webhooks (debounced, in
// the background) and the configured command, run in the background,
// bounded by its timeout, with the event in its environment and each line
// of its output logged. A daemon it leaves behind holding its output is
// not waited for.
// public, when set, is the uplink's new public address.
func (d *Daemon) runOnChangeEvent(name, from, to, reason, public string) {
	ev := notify.Event{Uplink: name, From: from, To: to, Reason: reason, At: time.Now(), PublicAddress: public}
	d.mu.Lock()
	u, ok := d.cfg.Uplink(name)
	n := d.notifier
	d.mu.Unlock()
	n.Send(ev)
	if !ok || len(u.Health.OnChange) == 0 {
		return
	}
	h := u.Health
	env := append(append(os.Environ(), ev.Env()...), "PATHPIN_INTERFACE="+u.DeviceName())
	go func() {
		err := runcmd.Run(context.Background(), runcmd.Command{Path: h.OnChange[0], Args: h.OnChange[1:], Env: env, Timeout: h.OnChangeTimeout,
			Line: func(line string) { d.log.Info("on-change: "+line, "uplink", name) }})
		if err != nil {
			d.log.Warn("on-change command failed", "uplink", name, "err", err)
		}
	}()
}

// notifyOwner runs the webhooks of one configuration; a reload that
// changes them starts the next.
type notifyOwner struct {
	hooks  []notify.Hook
	cancel context.CancelFunc
	done   chan struct{}
}

// startNotify runs cfg's webhooks (none: nothing), replacing those of the
// last configuration when they differ. Call from the applier.
func (d *Daemon) startNotify(parent context.Context, cfg *config.Config) {
	if d.notifyRun != nil && reflect.DeepEqual(d.notifyRun.hooks, cfg.Notify) {
		return
	}
	d.stopNotify()
	if len(cfg.Notify) == 0 {
		return
	}
	n, err := notify.New(cfg.Notify, d.log.With("part", "notify"), nil)
	if err != nil {
		d.log.Error("webhooks are not sent: fix notify: in the configuration and reload", "err", err)
		return
	}
	ctx, cancel := context.WithCancel(parent)
	run := &notifyOwner{hooks: cfg.Notify, cancel: cancel, done: make(chan struct{})}
	go func() { defer close(run.done); _ = n.Run(ctx) }()
	d.mu.Lock()
	d.notifier = n
	d.mu.Unlock()
	d.notifyRun = run
}

// stopNotify stops the webhooks, if any, and waits for them.
func (d *Daemon) stopNotify() {
	if d.notifyRun == nil {
		return
	}
	d.mu.Lock()
	d.notifier = nil
	d.mu.Unlock()
	d.notifyRun.cancel()
	<-d.notifyRun.done
	d.notifyRun = nil
}
