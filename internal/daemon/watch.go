package daemon

import (
	"context"
	"time"

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
//
// The netlink library ends a subscription on any receive error, ENOBUFS
// (the socket's buffer overflowed in a burst) included. Events are lost
// then, so watchLinks subscribes again, lists the links afresh (a carrier
// that changed meanwhile is reported as a change), asks for an apply (the
// apply reads the kernel whole) and logs it. It stops only with ctx.
func (d *Daemon) watchLinks(ctx context.Context) {
	w := &linkWatch{carrierOf: map[string]bool{}, mtuOf: map[string]int{}, names: map[int]string{}}
	wait := 100 * time.Millisecond
	for round := 0; ctx.Err() == nil; round++ {
		sub := d.subscribe(ctx)
		if round > 0 {
			d.log.Warn("netlink events were lost (the socket's buffer overflowed, or the kernel ended the subscription): subscribed again and re-reading the kernel")
			if !d.send(ctx, event{kind: evReapply}) {
				sub.close()
				return
			}
		}
		w.received = false
		ok := w.follow(ctx, d, sub)
		sub.close()
		if !ok {
			return
		}
		// A subscription that worked is taken again at once; one that
		// fails from the start is tried again less and less often.
		if w.received {
			wait = 100 * time.Millisecond
		} else {
			wait = min(2*wait, 10*time.Second)
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
	}
}

// subscription is one round of the three netlink subscriptions; closing
// it closes their sockets and drains their channels, so that none of the
// library's receivers is left blocked on a send.
type subscription struct {
	done   chan struct{}
	links  chan netlink.LinkUpdate
	addrs  chan netlink.AddrUpdate
	routes chan netlink.RouteUpdate
}

func (d *Daemon) subscribe(ctx context.Context) *subscription {
	s := &subscription{done: make(chan struct{}), links: make(chan netlink.LinkUpdate, 64),
		addrs: make(chan netlink.AddrUpdate, 64), routes: make(chan netlink.RouteUpdate, 64)}
	logErr := func(what string) func(error) {
		return func(err error) {
			if ctx.Err() == nil {
				d.log.Warn(what, "err", err)
			}
		}
	}
	ns, buf := d.watchNS, d.watchBuffer
	if err := netlink.LinkSubscribeWithOptions(s.links, s.done, netlink.LinkSubscribeOptions{Namespace: ns, ListExisting: true,
		ReceiveBufferSize: buf, ErrorCallback: logErr("link events")}); err != nil {
		d.log.Error("subscribing to link events failed; trying again", "err", err)
		close(s.links)
	}
	if err := netlink.AddrSubscribeWithOptions(s.addrs, s.done, netlink.AddrSubscribeOptions{Namespace: ns,
		ReceiveBufferSize: buf, ErrorCallback: logErr("address events")}); err != nil {
		d.log.Warn("subscribing to address events", "err", err)
		close(s.addrs)
	}
	if err := netlink.RouteSubscribeWithOptions(s.routes, s.done, netlink.RouteSubscribeOptions{Namespace: ns,
		ReceiveBufferSize: buf, ErrorCallback: logErr("route events")}); err != nil {
		d.log.Warn("subscribing to route events", "err", err)
		close(s.routes)
	}
	return s
}

func (s *subscription) close() {
	close(s.done)
	go func() {
		for range s.links {
		}
	}()
	go func() {
		for range s.addrs {
		}
	}()
	go func() {
		for range s.routes {
		}
	}()
}

// linkWatch is what watchLinks knows of the links across subscriptions.
type linkWatch struct {
	carrierOf map[string]bool
	mtuOf     map[string]int
	names     map[int]string
	// received: the current subscription delivered an event.
	received bool
}

// follow turns one subscription's events into the applier's until one of
// its channels closes (true: subscribe again) or ctx ends (false).
func (w *linkWatch) follow(ctx context.Context, d *Daemon, sub *subscription) bool {
	done := ctx.Done()
	for {
		select {
		case <-done:
			return false
		case u, ok := <-sub.links:
			if !ok {
				return true
			}
			w.received = true
			if !w.link(ctx, d, u) {
				return false
			}
		case u, ok := <-sub.addrs:
			if !ok {
				return true
			}
			name, known := w.names[u.LinkIndex]
			if !known {
				// The address event came before its link's.
				if l, err := netlink.LinkByIndex(u.LinkIndex); err == nil {
					name = l.Attrs().Name
				}
			}
			if d.watches(name) && !d.send(ctx, event{kind: evReapply}) {
				return false
			}
		case u, ok := <-sub.routes:
			if !ok {
				return true
			}
			if u.Type == unix.RTM_DELROUTE && d.ownsTable(u.Table) && !d.send(ctx, event{kind: evReapply, routeGone: uplink.NetlinkRouteKey(u.Route)}) {
				return false
			}
		}
	}
}

// link handles one link event; false: ctx ended.
func (w *linkWatch) link(ctx context.Context, d *Daemon, u netlink.LinkUpdate) bool {
	a := u.Attrs()
	w.names[a.Index] = a.Name
	up := u.Header.Type != unix.RTM_DELLINK && carrier.Has(a)
	was, seen := w.carrierOf[a.Name]
	w.carrierOf[a.Name] = up
	mtu, known := w.mtuOf[a.Name]
	w.mtuOf[a.Name] = a.MTU
	if u.Header.Type == unix.RTM_DELLINK {
		delete(w.carrierOf, a.Name)
		delete(w.mtuOf, a.Name)
	} else if known && mtu != a.MTU && d.watches(a.Name) && !d.send(ctx, event{kind: evReapply}) {
		return false
	}
	if seen && was == up || (!seen && up) {
		return true
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
			return false
		}
	}
	return true
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
