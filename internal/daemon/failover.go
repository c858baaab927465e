package daemon

import (
	"github.com/pathpin/pathpin/internal/conntrack"
	"github.com/pathpin/pathpin/uplink"
)

// switchAway is the fast path for an uplink that died, taken by the
// applier before anything else queued: its table is pointed at a healthy
// uplink by one netlink change, then its conntrack entries are deleted so
// its clients reconnect at once. The apply that follows rebalances the
// firewall and gives the dead uplink's table its own route back (its
// probes need that way out to see it recover).
func (d *Daemon) switchAway(dead string) {
	d.mu.Lock()
	engine, cfg := d.engine, d.cfg
	// The healthy uplink with the most weight takes over (a standby one
	// when no weighted uplink is left).
	var from, to *uplink.Status
	for i := range d.statuses {
		st := &d.statuses[i]
		if st.Name == dead {
			from = st
			continue
		}
		s := d.uplinks[st.Name]
		if !st.Up() || !st.Routable || s == nil {
			continue
		}
		if h, _, _ := s.machine.State(); h.Usable() && (to == nil || st.Uplink.Weight > to.Uplink.Weight) {
			to = st
		}
	}
	allDown := len(d.holds()) == len(cfg.Uplinks)
	d.mu.Unlock()
	if from == nil || to == nil || allDown {
		return
	}
	if err := engine.Redirect(from, to); err != nil {
		d.log.Warn("fast switch", "err", err)
	}
	d.log.Info("switched new connections away", "from", dead, "to", to.Name)
	d.flushMark(dead, from.Uplink.Mark, cfg.MarkMask)
	d.flushAfterApply = append(d.flushAfterApply, deadMark{dead, from.Uplink.Mark})
}

// deadMark is an uplink that left service, by its mark.
type deadMark struct {
	uplink string
	mark   uint32
}

// flushMark queues the delete of an uplink's connections (the kernel
// deletes them by mark), so that their clients reconnect at once through
// a healthy uplink.
func (d *Daemon) flushMark(name string, mark, mask uint32) {
	d.flush.queue(d, flushJob{what: "uplink " + name + "'s connections", run: func() error { return conntrack.DeleteMark(mark, mask) }})
}

// flushDeadMarks deletes, once more, the connections of uplinks that just
// left service, now that the balance no longer gives them new ones.
func (d *Daemon) flushDeadMarks() {
	if len(d.flushAfterApply) == 0 {
		return
	}
	d.mu.Lock()
	mask := d.cfg.MarkMask
	d.mu.Unlock()
	for _, m := range d.flushAfterApply {
		d.flushMark(m.uplink, m.mark, mask)
	}
	d.flushAfterApply = nil
}
