package daemon

import (
	"context"
	"os"

	"github.com/pathpin/pathpin/internal/health"
	"github.com/pathpin/pathpin/internal/runcmd"
)

// runOnChange runs the configured command for a health transition.
func (d *Daemon) runOnChange(name string, tr *health.Transition) {
	d.runOnChangeEvent(name, tr.From.String(), tr.To.String(), tr.Reason)
}

// runOnChangeEvent runs the configured command for a state change, in the
// background, bounded by its timeout, with the event in its environment
// and each line of its output logged. A daemon it leaves behind holding
// its output is not waited for.
func (d *Daemon) runOnChangeEvent(name, from, to, reason string) {
	d.mu.Lock()
	u, ok := d.cfg.Uplink(name)
	d.mu.Unlock()
	if !ok || len(u.Health.OnChange) == 0 {
		return
	}
	h := u.Health
	device := u.DeviceName()
	env := append(os.Environ(), "PATHPIN_UPLINK="+name, "PATHPIN_FROM="+from,
		"PATHPIN_TO="+to, "PATHPIN_REASON="+reason, "PATHPIN_INTERFACE="+device)
	go func() {
		err := runcmd.Run(context.Background(), runcmd.Command{Path: h.OnChange[0], Args: h.OnChange[1:], Env: env, Timeout: h.OnChangeTimeout,
			Line: func(line string) { d.log.Info("on-change: "+line, "uplink", name) }})
		if err != nil {
			d.log.Warn("on-change command failed", "uplink", name, "err", err)
		}
	}()
}
