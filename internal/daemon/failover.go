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
