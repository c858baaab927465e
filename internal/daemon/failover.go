package daemon

import (
	"github.com/pathpin/pathpin/internal/conntrack"
)

// flushDead deletes the connections of uplinks that just left service,
// once the apply that took them out of the balance is in: the kernel
// deletes them by mark, so that their clients reconnect at once through a
// healthy uplink. A failover is that one apply and this one delete; the
// delete runs in the flusher's queue, off the applier's path.
func (d *Daemon) flushDead(dead []string) {
	d.mu.Lock()
	cfg := d.cfg
	d.mu.Unlock()
	for _, name := range dead {
		u, ok := cfg.Uplink(name)
		if !ok {
			continue
		}
		mark, mask := u.Mark, cfg.MarkMask
		d.kernel.flush.queue(d, flushJob{what: "uplink " + name + "'s connections", run: func() error { return conntrack.DeleteMark(mark, mask) }})
	}
}

// noteMoveBack marks, when uplink name is back in service and its
// failback says move-back, the standby uplinks (weight 0) whose
// connections the next apply's flush deletes: their clients reconnect by
// name. The delete follows the apply that puts name back, as a
// failover's does: never a moment where new connections go neither way.
func (d *Daemon) noteMoveBack(name string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	u, ok := d.cfg.Uplink(name)
	if !ok || !u.Failback.MoveBack || u.Weight == 0 {
		return
	}
	for _, o := range d.cfg.Uplinks {
		if o.Name != name && o.Weight == 0 {
			d.kernel.moveBack = append(d.kernel.moveBack, o.Name)
		}
	}
}
