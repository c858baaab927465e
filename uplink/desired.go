package uplink

import (
	"fmt"
	"net/netip"
	"slices"
	"strconv"

	"github.com/pathpin/pathpin/internal/config"
)

// Desired computes the state pathpin wants for the uplinks in statuses.
func Desired(cfg *config.Config, facts *Facts, statuses []Status) *State {
	s := &State{}
	lanNets := lanPrefixes(cfg, facts)
	for i := range statuses {
		st := &statuses[i]
		s.Routes = append(s.Routes, tableRoutes(st, cfg, facts, lanNets)...)
		u := st.Uplink
		s.Rules = append(s.Rules, Rule{Priority: PrioMark + i, Mark: u.Mark, Mask: cfg.MarkMask, Table: u.Table})
		if st.Routable {
			s.Rules = append(s.Rules, Rule{Priority: PrioFrom + i, Src: netip.PrefixFrom(st.Local, 32), Table: u.Table})
		}
	}
	if pref := RouterUplink(statuses); pref != nil {
		s.Rules = append(s.Rules,
			Rule{Priority: PrioMainSpecific, Table: TableMain, SuppressDefault: true},
			Rule{Priority: PrioRouterDefault, Table: pref.Uplink.Table})
	}
	s.NFT = nftDesired(cfg, facts, statuses)
	s.Sysctls = append(sysctls(statuses), leaseMTUs(cfg, facts)...)
	s.Addrs = desiredAddrs(cfg, facts)
	s.sort()
	return s
}

// RouterUplink is the uplink that carries the router's own unbound
// connections: the in-service uplink with the most weight (the first in
// the configuration on a tie), else the first in-service standby; nil when
// none is in service.
func RouterUplink(statuses []Status) *Status {
	var best *Status
	for i := range statuses {
		st := &statuses[i]
		if !st.Up() {
			continue
		}
		if best == nil || (best.Uplink.Weight == 0 && st.Uplink.Weight > 0) || st.Uplink.Weight > best.Uplink.Weight {
			best = st
		}
	}
	return best
}

// tableRoutes is an uplink's table: its default route and the connected
// routes while its interface has its address — also while it takes no new
// connections, on purpose: its probes leave by this table, and they must
// to see it recover; an unreachable default once the interface or address
// is gone, so that connections still marked for it fail fast instead of
// leaving, unnoticed, by another uplink's NAT.
//
// The table holds each route the kernel would tell apart once (by ID), in
// this order of precedence: the default route; the LAN's connected routes
// (replies to LAN clients); the uplink's own connected routes; its DHCP
// lease's routes that pass leaseRoutes; the other uplinks' connected
// routes, so that a LAN client reaches the other ISP router's subnet
// whichever uplink its connection was given. Two ISP routers on the same
// subnet each keep their own route in their own table.
func tableRoutes(st *Status, cfg *config.Config, facts *Facts, lanNets []netip.Prefix) []Route {
	t := st.Uplink.Table
	if !st.Routable {
		return []Route{{Table: t, Dst: defaultDst, Type: Unreachable}}
	}
	def := Route{Table: t, Dst: defaultDst, Type: Unicast, Dev: st.Device, Src: st.Local}
	if st.Uplink.IsPPPoE() {
		def.LinkScope = true
	} else {
		def.Gw = st.Gateway
	}
	routes := []Route{def}
	connected := func(keep func(dev string) bool) {
		for _, c := range facts.Connected {
			if keep(c.Dev) {
				c.Table = t
				routes = append(routes, c)
			}
		}
	}
	connected(func(dev string) bool { return slices.Contains(cfg.LAN.Interfaces, dev) })
	connected(func(dev string) bool { return dev == st.Device })
	if l, ok := facts.Leases[st.Name]; ok {
		var refused []string
		for _, r := range leaseRoutes(st, l, lanNets, ownAddrs(cfg, facts)) {
			if r.why != "" {
				refused = append(refused, r.why)
				continue
			}
			routes = append(routes, Route{Table: t, Dst: r.Dst, Type: Unicast, Gw: r.Gw, Dev: st.Device, Src: st.Local, LinkScope: !r.Gw.IsValid()})
		}
		st.Refused = refused
	}
	connected(func(dev string) bool { return dev != st.Device && !slices.Contains(cfg.LAN.Interfaces, dev) })
	return dedupeRoutes(routes)
}

// dedupeRoutes keeps the first route of each ID: two routes the kernel
// holds as one could never both be verified.
func dedupeRoutes(routes []Route) []Route {
	seen := make(map[routeID]bool, len(routes))
	out := routes[:0]
	for _, r := range routes {
		if !seen[r.ID()] {
			seen[r.ID()] = true
			out = append(out, r)
		}
	}
	return out
}

// lanPrefixes are the subnets of the LAN interfaces, from their connected
// routes.
func lanPrefixes(cfg *config.Config, facts *Facts) []netip.Prefix {
	var out []netip.Prefix
	for _, c := range facts.Connected {
		if slices.Contains(cfg.LAN.Interfaces, c.Dev) {
			out = append(out, c.Dst)
		}
	}
	return out
}

// ownAddrs are the router's own addresses on the interfaces pathpin
// watches (uplinks and LAN), as they will be once the apply is in: on a
// DHCP uplink's interface, its lease's address, not what is there now.
func ownAddrs(cfg *config.Config, facts *Facts) []netip.Addr {
	var out []netip.Addr
	for _, l := range facts.Links {
		if slices.ContainsFunc(cfg.Uplinks, func(u config.Uplink) bool { return u.IsDHCP() && u.Interface == l.Name }) {
			continue
		}
		for _, a := range l.Addrs {
			out = append(out, a.Prefix.Addr())
		}
	}
	for _, l := range facts.Leases {
		out = append(out, l.Addr.Addr())
	}
	return out
}

// checkedRoute is a lease's route with why it is refused ("" when not).
type checkedRoute struct {
	LeaseRoute
	why string
}

// maxLeaseRoutes bounds the routes one lease may put in its table.
const maxLeaseRoutes = 64

// leaseRoutes vets a DHCP lease's classless static routes (option 121): a
// lease is input from the network, and a route it cannot have would make
// every apply fail, or hijack traffic that is not the uplink's. Refused: a
// destination overlapping the LAN's subnet or holding one of the router's
// own addresses, a router that is not on the lease's link (or is the
// router itself), and routes past the first maxLeaseRoutes.
func leaseRoutes(st *Status, l Lease, lanNets []netip.Prefix, own []netip.Addr) []checkedRoute {
	out := make([]checkedRoute, 0, len(l.Routes))
	for i, r := range l.Routes {
		c := checkedRoute{LeaseRoute: r}
		name := "option 121 route " + r.Dst.String()
		if r.Gw.IsValid() {
			name += " via " + r.Gw.String()
		}
		refuse := func(format string, args ...any) {
			c.why = fmt.Sprintf("%s from %s's DHCP lease refused: %s", name, st.Name, fmt.Sprintf(format, args...))
		}
		switch {
		case i >= maxLeaseRoutes:
			refuse("a lease may give at most %d routes", maxLeaseRoutes)
		case slices.ContainsFunc(lanNets, r.Dst.Overlaps):
			lan := lanNets[slices.IndexFunc(lanNets, r.Dst.Overlaps)]
			refuse("it overlaps the LAN's subnet %s", lan)
		case slices.ContainsFunc(own, r.Dst.Contains):
			refuse("it holds the router's own address %s", own[slices.IndexFunc(own, r.Dst.Contains)])
		case r.Gw.IsValid() && !l.Addr.Masked().Contains(r.Gw):
			refuse("the router %s is not on the lease's link %s", r.Gw, l.Addr.Masked())
		case r.Gw.IsValid() && slices.Contains(own, r.Gw):
			refuse("the router %s is the router's own address", r.Gw)
		}
		out = append(out, c)
	}
	return out
}

var defaultDst = netip.MustParsePrefix("0.0.0.0/0")

type pick struct {
	status        Status
	weight, total int
}

// balance shares new connections among the uplinks that are up, by
// weight. Standby uplinks (weight 0) share equally, and only while no
// weighted uplink is up.
func balance(statuses []Status) []pick {
	var active []pick
	for _, st := range statuses {
		if st.Up() && st.Uplink.Weight > 0 {
			active = append(active, pick{status: st, weight: st.Uplink.Weight})
		}
	}
	if len(active) == 0 {
		for _, st := range statuses {
			if st.Up() {
				active = append(active, pick{status: st, weight: 1})
			}
		}
	}
	total := 0
	for _, p := range active {
		total += p.weight
	}
	for i := range active {
		active[i].total = total
	}
	return active
}

// leaseMTUs set each DHCP interface's MTU to its lease's (option 26); the
// MSS clamp follows it (it clamps to the route's MTU).
func leaseMTUs(cfg *config.Config, facts *Facts) []Sysctl {
	var out []Sysctl
	for _, u := range cfg.Uplinks {
		if l, ok := facts.Leases[u.Name]; ok && l.MTU > 0 && facts.index[u.Interface] != 0 {
			out = append(out, Sysctl{Key: mtuKey(u.Interface), Value: strconv.Itoa(l.MTU), Why: "the MTU " + u.Name + "'s DHCP lease gives its interface (option 26)"})
		}
	}
	return out
}

// sysctls are the kernel settings forwarding through uplinks needs.
func sysctls(statuses []Status) []Sysctl {
	out := []Sysctl{{Key: "net/ipv4/ip_forward", Value: "1", Why: "route LAN clients' packets to the uplinks"}}
	for _, st := range statuses {
		// Routable, not only in service: a dead uplink's probe replies
		// must pass the filter for it to be seen recovering.
		if st.Routable {
			out = append(out, Sysctl{Key: "net/ipv4/conf/" + st.Device + "/rp_filter", Value: "2",
				Why: "loose reverse-path filter: with one routing table per uplink, strict mode drops valid replies"})
		}
	}
	return out
}
