package setup

import (
	"fmt"
	"net"
	"net/netip"
	"slices"
	"sort"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// DetectStatic proposes the static uplink: the main table's default route
// when it leaves by another interface than the PPPoE line's (skip). It
// returns nil when there is none.
func DetectStatic(nl Netlink, skip []string) (*StaticUplink, error) {
	routes, err := nl.RouteListFiltered(unix.AF_INET, &netlink.Route{Table: unix.RT_TABLE_MAIN}, netlink.RT_FILTER_TABLE)
	if err != nil {
		return nil, fmt.Errorf("reading the main routing table: %w", err)
	}
	sort.SliceStable(routes, func(i, j int) bool { return routes[i].Priority < routes[j].Priority })
	for _, r := range routes {
		if r.Dst != nil && !r.Dst.IP.IsUnspecified() || r.Gw == nil {
			continue
		}
		if r.Dst != nil {
			if ones, _ := r.Dst.Mask.Size(); ones != 0 {
				continue
			}
		}
		link, err := linkByIndex(nl, r.LinkIndex)
		if err != nil {
			return nil, err
		}
		name := link.Attrs().Name
		if slices.Contains(skip, name) {
			continue
		}
		gw, _ := netip.AddrFromSlice(r.Gw.To4())
		return &StaticUplink{Name: uplinkName(name), Interface: name, Gateway: gw, Comment: "the main table's default route"}, nil
	}
	return nil, nil
}

// DetectLAN proposes the LAN: every link with a private IPv4 address that
// carries neither uplink (skip), in the kernel's order.
func DetectLAN(nl Netlink, skip []string) ([]string, error) {
	links, err := nl.LinkList()
	if err != nil {
		return nil, fmt.Errorf("listing links: %w", err)
	}
	sort.Slice(links, func(i, j int) bool { return links[i].Attrs().Index < links[j].Attrs().Index })
	var out []string
	for _, l := range links {
		name := l.Attrs().Name
		if l.Attrs().Flags&net.FlagLoopback != 0 || slices.Contains(skip, name) {
			continue
		}
		addrs, err := nl.AddrList(l, unix.AF_INET)
		if err != nil {
			return nil, fmt.Errorf("reading %s's addresses: %w", name, err)
		}
		for _, a := range addrs {
			if ip, ok := netip.AddrFromSlice(a.IP.To4()); ok && ip.IsPrivate() {
				out = append(out, name)
				break
			}
		}
	}
	return out, nil
}

func linkByIndex(nl Netlink, index int) (netlink.Link, error) {
	links, err := nl.LinkList()
	if err != nil {
		return nil, fmt.Errorf("listing links: %w", err)
	}
	for _, l := range links {
		if l.Attrs().Index == index {
			return l, nil
		}
	}
	return nil, fmt.Errorf("the default route's interface (index %d) is gone", index)
}

// uplinkName makes an uplink name (1-11 of a-z 0-9 - _) from an interface.
func uplinkName(ifname string) string {
	var b []byte
	for _, c := range []byte(ifname) {
		switch {
		case c >= 'A' && c <= 'Z':
			b = append(b, c+'a'-'A')
		case c >= 'a' && c <= 'z', c >= '0' && c <= '9', c == '-', c == '_':
			b = append(b, c)
		default:
			b = append(b, '-')
		}
	}
	if len(b) > 11 {
		b = b[:11]
	}
	if len(b) == 0 {
		return "static"
	}
	return string(b)
}
