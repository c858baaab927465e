package daemon

import "github.com/pathpin/pathpin/uplink"

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
	if ct, ok := engine.NL.(uplink.Conntrack); ok {
		n, err := uplink.FlushMark(ct, from.Uplink.Mark, cfg.MarkMask)
		if err != nil {
			d.log.Warn("deleting the dead uplink's connections", "err", err)
		}
		d.log.Info("switched new connections away", "from", dead, "to", to.Name, "connections_reset", n)
		d.flushAfterApply = append(d.flushAfterApply, from.Uplink.Mark)
	}
}

// flushDeadMarks deletes, once more, the connections of uplinks that just
// left service, now that the balance no longer gives them new ones.
func (d *Daemon) flushDeadMarks() {
	if len(d.flushAfterApply) == 0 {
		return
	}
	d.mu.Lock()
	engine, mask := d.engine, d.cfg.MarkMask
	d.mu.Unlock()
	if ct, ok := engine.NL.(uplink.Conntrack); ok {
		for _, mark := range d.flushAfterApply {
			if _, err := uplink.FlushMark(ct, mark, mask); err != nil {
				d.log.Warn("deleting the dead uplink's connections", "err", err)
			}
		}
	}
	d.flushAfterApply = nil
}
