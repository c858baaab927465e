package daemon

import (
	"context"
	"os"
	"os/exec"

	"github.com/pathpin/pathpin/internal/health"
)

// runOnChange runs the configured command for a state change, in the
// background, bounded by its timeout, with the event in its environment.
func (d *Daemon) runOnChange(name string, tr *health.Transition) {
	d.mu.Lock()
	u, ok := d.cfg.Uplink(name)
	d.mu.Unlock()
	if !ok || len(u.Health.OnChange) == 0 {
		return
	}
	h := u.Health
	device := u.DeviceName()
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), h.OnChangeTimeout)
		defer cancel()
		cmd := exec.CommandContext(ctx, h.OnChange[0], h.OnChange[1:]...)
		cmd.Env = append(os.Environ(), "PATHPIN_UPLINK="+name, "PATHPIN_FROM="+tr.From.String(),
			"PATHPIN_TO="+tr.To.String(), "PATHPIN_REASON="+tr.Reason, "PATHPIN_INTERFACE="+device)
		out, err := cmd.CombinedOutput()
		if err != nil {
			d.log.Warn("on-change command failed", "uplink", name, "err", err, "output", string(out))
		}
	}()
}
