package daemon

import (
	"context"

	"github.com/pathpin/pathpin/hooks"
)

// pppScripts runs Debian's ip-up and ip-down scripts, one at a time and in
// the order pppd reported the events, after the applier's own work for
// them: the hooks other packages drop into /etc/ppp/ip-up.d (time sync,
// mail queues, VPNs) keep working although pathpin is pppd's script.
type pppScripts struct {
	queue chan hooks.Event
}

func newPPPScripts() *pppScripts { return &pppScripts{queue: make(chan hooks.Event, 32)} }

// run works through the queue until ctx ends.
func (s *pppScripts) run(ctx context.Context, d *Daemon) {
	dir := d.opt.PPPDir
	if dir == "" {
		dir = hooks.DefaultPPPDir
	}
	for {
		select {
		case <-ctx.Done():
			return
		case e := <-s.queue:
			if err := hooks.RunPPPScript(ctx, dir, e, d.log); err != nil {
				d.log.Warn("the host's ppp script failed; pathpin's own work for the event is done", "uplink", e.Uplink, "err", err)
			}
		}
	}
}

// add queues the scripts of the events just applied, unless the
// configuration turns them off. It never blocks the applier.
func (s *pppScripts) add(d *Daemon, events []hooks.Event) {
	d.mu.Lock()
	enabled := d.cfg.RunPPPScripts
	d.mu.Unlock()
	if !enabled {
		return
	}
	for _, e := range events {
		select {
		case s.queue <- e:
		default:
			d.log.Warn("too many ppp events queued; the host's ppp script is skipped for this one", "uplink", e.Uplink, "event", e.Kind)
		}
	}
}
