package uplink

import (
	"errors"
	"fmt"
	"net"
	"net/netip"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// Netlink is the part of *netlink.Handle the engine uses.
type Netlink interface {
	LinkList() ([]netlink.Link, error)
	LinkByIndex(index int) (netlink.Link, error)
	LinkByName(name string) (netlink.Link, error)
	LinkSetMTU(link netlink.Link, mtu int) error
	AddrList(link netlink.Link, family int) ([]netlink.Addr, error)
	AddrAdd(link netlink.Link, addr *netlink.Addr) error
	AddrDel(link netlink.Link, addr *netlink.Addr) error
	RouteListFiltered(family int, filter *netlink.Route, filterMask uint64) ([]netlink.Route, error)
	RouteReplace(route *netlink.Route) error
	RouteDel(route *netlink.Route) error
	RuleList(family int) ([]netlink.Rule, error)
	RuleAdd(rule *netlink.Rule) error
	RuleDel(rule *netlink.Rule) error
}

var _ Netlink = (*netlink.Handle)(nil)

// readFacts reads links, addresses and the routes of every table: one dump
// each. The main table's connected routes of the interfaces the
// configuration names are facts; the whole route dump is kept for the read
// of pathpin's own tables.
func readFacts(nl Netlink, devices map[string]bool) (*Facts, error) {
	links, err := nl.LinkList()
	if err != nil {
		return nil, fmt.Errorf("listing links: %w", err)
	}
	addrs, err := nl.AddrList(nil, netlink.FAMILY_V4)
	if err != nil {
		return nil, fmt.Errorf("listing addresses: %w", err)
	}
	f := &Facts{Links: map[string]Link{}, index: map[string]int{}, names: map[int]string{}}
	names := f.names
	for _, l := range links {
		a := l.Attrs()
		names[a.Index] = a.Name
		f.index[a.Name] = a.Index
		if devices[a.Name] {
			f.Links[a.Name] = Link{Name: a.Name, MTU: a.MTU, Up: a.Flags&net.FlagUp != 0 && a.RawFlags&unix.IFF_LOWER_UP != 0, AdminUp: a.Flags&net.FlagUp != 0}
		}
	}
	for _, ad := range addrs {
		link, ok := f.Links[names[ad.LinkIndex]]
		if !ok {
			continue
		}
		p, ok := prefixOf(ad.IPNet)
		if !ok {
			continue
		}
		x := Addr{Prefix: p}
		if ad.Peer != nil {
			if peer, ok := netip.AddrFromSlice(ad.Peer.IP.To4()); ok && peer != p.Addr() {
				x.Peer = peer
			}
		}
		link.Addrs = append(link.Addrs, x)
		f.Links[link.Name] = link
	}
	if f.routes, err = dumpRoutes(nl); err != nil {
		return nil, err
	}
	for _, r := range f.routes {
		if r.Table != unix.RT_TABLE_MAIN || r.Scope != netlink.SCOPE_LINK || r.Type != unix.RTN_UNICAST || r.Gw != nil || !devices[names[r.LinkIndex]] {
			continue
		}
		route, ok := fromNetlinkRoute(r, names)
		if ok {
			f.Connected = append(f.Connected, route)
		}
	}
	return f, nil
}

// dumpRoutes lists the IPv4 routes of every table.
func dumpRoutes(nl Netlink) ([]netlink.Route, error) {
	rs, err := nl.RouteListFiltered(netlink.FAMILY_V4, &netlink.Route{Table: unix.RT_TABLE_UNSPEC}, netlink.RT_FILTER_TABLE)
	if err != nil {
		return nil, fmt.Errorf("listing routes: %w", err)
	}
	return rs, nil
}

func prefixOf(n *net.IPNet) (netip.Prefix, bool) {
	if n == nil {
		return netip.Prefix{}, false
	}
	a, ok := netip.AddrFromSlice(n.IP.To4())
	if !ok {
		return netip.Prefix{}, false
	}
	ones, bits := n.Mask.Size()
	if bits != 32 {
		return netip.Prefix{}, false
	}
	return netip.PrefixFrom(a, ones), true
}

func fromNetlinkRoute(r netlink.Route, names map[int]string) (Route, bool) {
	out := Route{Table: r.Table, Dst: defaultDst, Tos: uint8(r.Tos), Metric: r.Priority, Type: RouteType(r.Type),
		Dev: names[r.LinkIndex], LinkScope: r.Scope == netlink.SCOPE_LINK}
	if r.Dst != nil {
		p, ok := prefixOf(r.Dst)
		if !ok {
			return Route{}, false
		}
		out.Dst = p
	}
	if out.Type == 0 {
		out.Type = Unicast
	}
	if r.Gw != nil {
		out.Gw, _ = netip.AddrFromSlice(r.Gw.To4())
	}
	if r.Src != nil {
		out.Src, _ = netip.AddrFromSlice(r.Src.To4())
	}
	return out, true
}

func toNetlinkRoute(r Route, index map[string]int) (*netlink.Route, error) {
	nr := routeKeyOf(r)
	nr.Scope = netlink.SCOPE_UNIVERSE
	if r.Type != Unicast && r.Type != 0 {
		return nr, nil
	}
	if r.Dev != "" {
		i, ok := index[r.Dev]
		if !ok {
			return nil, fmt.Errorf("route %s: interface %s is gone", r, r.Dev)
		}
		nr.LinkIndex = i
	}
	if r.LinkScope {
		nr.Scope = netlink.SCOPE_LINK
	}
	if r.Gw.IsValid() {
		nr.Gw = r.Gw.AsSlice()
	}
	if r.Src.IsValid() {
		nr.Src = r.Src.AsSlice()
	}
	return nr, nil
}

// routeKeyOf is the request that names r the way the kernel keys it:
// table, destination, TOS, metric and type. As a delete, it removes r
// whatever its device or gateway (so also a route whose interface has
// gone, or a type pathpin never installs), and it matches any scope.
func routeKeyOf(r Route) *netlink.Route {
	t := r.Type
	if t == 0 {
		t = Unicast
	}
	return &netlink.Route{
		Table:    r.Table,
		Dst:      &net.IPNet{IP: r.Dst.Addr().AsSlice(), Mask: net.CIDRMask(r.Dst.Bits(), 32)},
		Tos:      int(r.Tos),
		Priority: r.Metric,
		Type:     int(t),
		Scope:    netlink.Scope(unix.RT_SCOPE_NOWHERE),
	}
}

// routesIn picks the routes of the given tables out of a dump.
func routesIn(all []netlink.Route, tables []int, names map[int]string) []Route {
	var out []Route
	for _, t := range tables {
		for _, r := range all {
			if r.Table != t {
				continue
			}
			if route, ok := fromNetlinkRoute(r, names); ok {
				out = append(out, route)
			}
		}
	}
	return out
}

// readRules lists the IPv4 rules in pathpin's priority band.
func readRules(nl Netlink) ([]Rule, error) {
	rs, err := nl.RuleList(netlink.FAMILY_V4)
	if err != nil {
		return nil, fmt.Errorf("listing ip rules: %w", err)
	}
	var out []Rule
	for _, r := range rs {
		if r.Priority < PrioFirst || r.Priority > PrioLast {
			continue
		}
		rule := Rule{Priority: r.Priority, Table: r.Table}
		if r.Src != nil {
			rule.Src, _ = prefixOf(r.Src)
		}
		if r.Mark != 0 {
			rule.Mark = r.Mark
		}
		if r.Mask != nil {
			rule.Mask = *r.Mask
		}
		rule.SuppressDefault = r.SuppressPrefixlen == 0
		out = append(out, rule)
	}
	return out, nil
}

func toNetlinkRule(r Rule) *netlink.Rule {
	nr := netlink.NewRule()
	nr.Family = netlink.FAMILY_V4
	nr.Priority = r.Priority
	nr.Table = r.Table
	if r.Src.IsValid() {
		nr.Src = &net.IPNet{IP: r.Src.Addr().AsSlice(), Mask: net.CIDRMask(r.Src.Bits(), 32)}
	}
	if r.Mark != 0 || r.Mask != 0 {
		nr.Mark = r.Mark
		mask := r.Mask
		nr.Mask = &mask
	}
	if r.SuppressDefault {
		nr.SuppressPrefixlen = 0
	}
	return nr
}

// ignoreExists treats "already there" as success, and "not there" on delete.
func ignoreExists(err error) error {
	if errors.Is(err, unix.EEXIST) || errors.Is(err, unix.ENOENT) || errors.Is(err, unix.ESRCH) {
		return nil
	}
	return err
}
