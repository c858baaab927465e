package daemon

import (
	"context"

	"github.com/pathpin/pathpin/internal/carrier"
	"github.com/pathpin/pathpin/uplink"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// watchLinks turns netlink events into events for the applier: carrier
// lost or back on an uplink's interface (for PPPoE also the Ethernet under
// it, to which the kernel's PPPoE driver does not react), an uplink's link
// gone, an address added to or removed from an uplink's or the LAN's
// interface (a static uplink whose address arrives after start is routed
// at once), an MTU changed on either (the MSS clamp follows it), and routes
// in pathpin's tables removed by someone else.
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
	carrierOf := map[string]bool{}
	mtuOf := map[string]int{}
	names := map[int]string{}
	for {
		select {
		case <-done:
			return
		case u, ok := <-links:
			if !ok {
				return
			}
			a := u.Attrs()
			names[a.Index] = a.Name
			up := u.Header.Type != unix.RTM_DELLINK && carrier.Has(a)
			was, seen := carrierOf[a.Name]
			carrierOf[a.Name] = up
			mtu, known := mtuOf[a.Name]
			mtuOf[a.Name] = a.MTU
			if u.Header.Type == unix.RTM_DELLINK {
				delete(carrierOf, a.Name)
				delete(mtuOf, a.Name)
			} else if known && mtu != a.MTU && d.watches(a.Name) && !d.send(ctx, event{kind: evReapply}) {
				return
			}
			if seen && was == up || (!seen && up) {
				continue
			}
			for _, name := range d.uplinksOn(a.Name) {
				reason := uplink.Reason{}
				if !up {
					reason = uplink.Down(uplink.NoCarrier, "carrier lost on "+a.Name)
					if u.Header.Type == unix.RTM_DELLINK {
						reason = uplink.Down(uplink.NoInterface, a.Name+" removed")
					}
				}
				if !d.send(ctx, event{kind: evLink, uplink: name, reason: reason}) {
					return
				}
			}
		case u, ok := <-addrs:
			if !ok {
				return
			}
			name, known := names[u.LinkIndex]
			if !known {
				// The address event came before its link's.
				if l, err := netlink.LinkByIndex(u.LinkIndex); err == nil {
					name = l.Attrs().Name
				}
			}
			if d.watches(name) && !d.send(ctx, event{kind: evReapply}) {
				return
			}
		case u, ok := <-routes:
			if !ok {
				return
			}
			if u.Type == unix.RTM_DELROUTE && d.ownsTable(u.Table) && !d.send(ctx, event{kind: evReapply}) {
				return
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

// watches reports whether the desired state depends on link's addresses:
// an uplink's interface or a LAN interface.
func (d *Daemon) watches(link string) bool {
	if link == "" {
		return false
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, u := range d.cfg.Uplinks {
		if u.DeviceName() == link {
			return true
		}
	}
	for _, l := range d.cfg.LAN.Interfaces {
		if l == link {
			return true
		}
	}
	return false
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
