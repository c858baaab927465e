package daemon

import (
	"context"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"time"

	"github.com/pathpin/pathpin/internal/config"
	"github.com/pathpin/pathpin/internal/health"
	"github.com/pathpin/pathpin/pppoe"
	"github.com/pathpin/pathpin/uplink"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// lossWindow is how many recent probe rounds the loss figure covers.
const lossWindow = 20

// uplinkHealth is one uplink's health machine and probe figures.
type uplinkHealth struct {
	machine *health.Machine
	rtt     time.Duration
	rounds  []bool // recent rounds, newest last
}

// resetHealth starts a machine for every configured uplink, keeping the
// ones that exist.
func (d *Daemon) resetHealth() {
	d.mu.Lock()
	defer d.mu.Unlock()
	now := time.Now()
	next := map[string]*uplinkHealth{}
	for _, u := range d.cfg.Uplinks {
		h := u.Health
		if old, ok := d.health[u.Name]; ok {
			old.machine.DownAfter, old.machine.UpAfter, old.machine.Probing = h.DownAfter, h.UpAfter, len(h.Targets) > 0
			next[u.Name] = old
			continue
		}
		next[u.Name] = &uplinkHealth{machine: health.NewMachine(health.Up, now, "started", h.DownAfter, h.UpAfter, len(h.Targets) > 0)}
	}
	d.health = next
}

// downSet is every uplink that must not take new connections, and why:
// PPP not up, or health down. When health would take every uplink down,
// the last configuration is kept (better to try than to drop everything)
// while the probes go on. Call with d.mu held.
func (d *Daemon) downSet() map[string]string {
	down := map[string]string{}
	for k, v := range d.pppDown {
		down[k] = v
	}
	sick := map[string]string{}
	for name, h := range d.health {
		if st, _, reason := h.machine.State(); !st.Usable() {
			sick[name] = "health " + st.String() + ": " + reason
		}
	}
	usable := 0
	for _, u := range d.cfg.Uplinks {
		_, pd := down[u.Name]
		_, hd := sick[u.Name]
		if !pd && !hd {
			usable++
		}
	}
	if usable == 0 && len(sick) > 0 {
		d.log.Warn("every uplink is down by its probes; keeping the last configuration and probing on")
		return down
	}
	for k, v := range sick {
		down[k] = v
	}
	return down
}

// handle takes one event and reports whether an apply is needed. A
// transition out of service switches new connections away by netlink
// first and deletes that uplink's conntrack entries.
func (d *Daemon) handle(ev event) bool {
	now := time.Now()
	switch ev.kind {
	case evReapply:
		return true
	case evPPP:
		if ev.down == "" {
			delete(d.pppDown, ev.uplink)
		} else {
			d.pppDown[ev.uplink] = ev.down
		}
		return true
	}
	d.mu.Lock()
	h, ok := d.health[ev.uplink]
	if !ok {
		d.mu.Unlock()
		return false
	}
	var tr *health.Transition
	switch ev.kind {
	case evLink:
		if ev.down != "" {
			tr = h.machine.LinkDown(now, ev.down)
		} else {
			tr = h.machine.LinkUp(now, "link back")
		}
	case evProbe:
		h.rounds = append(h.rounds, ev.round.OK)
		if len(h.rounds) > lossWindow {
			h.rounds = h.rounds[1:]
		}
		if ev.round.Answered > 0 {
			h.rtt = ev.round.RTT
		}
		tr = h.machine.Probe(now, ev.round.OK, ev.round.Detail)
	}
	d.mu.Unlock()
	if tr == nil {
		// A link event changes what the kernel shows even without a
		// change of health: apply reads it afresh.
		return ev.kind == evLink
	}
	d.log.Info("uplink health changed", "uplink", ev.uplink, "from", tr.From.String(), "to", tr.To.String(), "reason", tr.Reason)
	d.runOnChange(ev.uplink, tr)
	if tr.From.Usable() && !tr.To.Usable() {
		d.switchAway(ev.uplink)
	}
	return ev.kind == evLink || tr.From.Usable() != tr.To.Usable()
}

// switchAway is the fast path for an uplink that died: its table is
// pointed at a healthy uplink by one netlink change, then its conntrack
// entries are deleted so its clients reconnect at once. The apply that
// follows rebalances iptables.
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
		h := d.health[st.Name]
		if !st.Up || !st.Routable || h == nil {
			continue
		}
		if s, _, _ := h.machine.State(); s.Usable() && (to == nil || st.Uplink.Weight > to.Uplink.Weight) {
			to = st
		}
	}
	allDown := len(d.downSet()) == len(cfg.Uplinks)
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

// runOnChange runs the configured command for a state change, in the
// background, with the event in its environment.
func (d *Daemon) runOnChange(name string, tr *health.Transition) {
	d.mu.Lock()
	u, ok := d.cfg.Uplink(name)
	d.mu.Unlock()
	if !ok || len(u.Health.OnChange) == 0 {
		return
	}
	h := u.Health
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), h.OnChangeTimeout)
		defer cancel()
		cmd := exec.CommandContext(ctx, h.OnChange[0], h.OnChange[1:]...)
		cmd.Env = append(os.Environ(), "PATHPIN_UPLINK="+name, "PATHPIN_FROM="+tr.From.String(),
			"PATHPIN_TO="+tr.To.String(), "PATHPIN_REASON="+tr.Reason, "PATHPIN_INTERFACE="+u.DeviceName())
		out, err := cmd.CombinedOutput()
		if err != nil {
			d.log.Warn("on-change command failed", "uplink", name, "err", err, "output", string(out))
		}
	}()
}

// setSession records the PPPoE session an uplink runs on, for status.
func (d *Daemon) setSession(name string, s *pppoe.Session) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if s == nil {
		delete(d.sessions, name)
	} else {
		d.sessions[name] = s
	}
}

// watchLinks turns netlink events into health events: carrier lost or
// back on an uplink's interface (for PPPoE also the Ethernet under it, to
// which the kernel's PPPoE driver does not react), an uplink's link or
// address gone, and routes in pathpin's tables removed by someone else.
func (d *Daemon) watchLinks(ctx context.Context) {
	links := make(chan netlink.LinkUpdate, 64)
	addrs := make(chan netlink.AddrUpdate, 64)
	routes := make(chan netlink.RouteUpdate, 64)
	done := ctx.Done()
	opts := netlink.LinkSubscribeOptions{ListExisting: true, ErrorCallback: func(err error) { d.log.Warn("link events", "err", err) }}
	if err := netlink.LinkSubscribeWithOptions(links, done, opts); err != nil {
		d.log.Error("subscribing to link events; carrier loss is left to the probes", "err", err)
	}
	if err := netlink.AddrSubscribe(addrs, done); err != nil {
		d.log.Warn("subscribing to address events", "err", err)
	}
	if err := netlink.RouteSubscribe(routes, done); err != nil {
		d.log.Warn("subscribing to route events", "err", err)
	}
	carrier := map[string]bool{}
	for {
		select {
		case <-done:
			return
		case u, ok := <-links:
			if !ok {
				return
			}
			a := u.Attrs()
			up := u.Header.Type != unix.RTM_DELLINK && a.Flags&net.FlagUp != 0 && a.RawFlags&unix.IFF_LOWER_UP != 0
			was, seen := carrier[a.Name]
			carrier[a.Name] = up
			if seen && was == up || (!seen && up) {
				continue
			}
			for _, name := range d.uplinksOn(a.Name) {
				reason := ""
				if !up {
					reason = "carrier lost on " + a.Name
					if u.Header.Type == unix.RTM_DELLINK {
						reason = a.Name + " removed"
					}
				}
				d.events <- event{kind: evLink, uplink: name, down: reason}
			}
		case u, ok := <-addrs:
			if ok && !u.NewAddr && len(d.uplinksOnIndex(u.LinkIndex)) > 0 {
				d.events <- event{kind: evReapply}
			}
		case u, ok := <-routes:
			if ok && u.Type == unix.RTM_DELROUTE && d.ownsTable(u.Table) {
				d.events <- event{kind: evReapply}
			}
		}
	}
}

// uplinksOn names the uplinks whose traffic depends on link name.
func (d *Daemon) uplinksOn(link string) []string {
	d.mu.Lock()
	defer d.mu.Unlock()
	var out []string
	for _, u := range d.cfg.Uplinks {
		if u.DeviceName() == link || (u.IsPPPoE() && (u.PPPoE.Interface == link || u.PPPoE.LinkName() == link) && link != u.PPPoE.IfName) {
			out = append(out, u.Name)
		}
	}
	return out
}

func (d *Daemon) uplinksOnIndex(index int) []string {
	l, err := netlink.LinkByIndex(index)
	if err != nil {
		return nil
	}
	return d.uplinksOn(l.Attrs().Name)
}

func (d *Daemon) ownsTable(t int) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, u := range d.cfg.Uplinks {
		if u.Table == t {
			return true
		}
	}
	return false
}

// startProbes runs one probe loop per uplink that has targets.
func (d *Daemon) startProbes(ctx context.Context, wg *sync.WaitGroup) {
	d.mu.Lock()
	uplinks := append([]config.Uplink(nil), d.cfg.Uplinks...)
	d.mu.Unlock()
	for _, u := range uplinks {
		h := u.Health
		if len(h.Targets) == 0 {
			continue
		}
		var p health.Prober = health.ICMP{}
		if h.Method == "tcp" {
			p = health.TCP{Port: h.Port}
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			t := time.NewTicker(h.Interval)
			defer t.Stop()
			for {
				select {
				case <-ctx.Done():
					return
				case <-t.C:
				}
				path, ok := d.probePath(u.Name)
				if !ok {
					continue // no address yet: the link events decide
				}
				r := health.ProbeAll(ctx, p, path, h.Targets, h.Timeout, h.MinAnswers)
				select {
				case d.events <- event{kind: evProbe, uplink: u.Name, round: r}:
				case <-ctx.Done():
					return
				}
			}
		}()
	}
}

// probePath is how probes for an uplink leave, from the last apply.
func (d *Daemon) probePath(name string) (health.Path, bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, st := range d.statuses {
		if st.Name == name && st.Local.IsValid() {
			return health.Path{Device: st.Device, Source: st.Local, Mark: st.Uplink.Mark}, true
		}
	}
	return health.Path{}, false
}

// StatusSocketPath is where the daemon answers `pathpin status`.
func StatusSocketPath(runDir string) string { return filepath.Join(runDir, "status.sock") }
