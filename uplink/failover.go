package uplink

import (
	"fmt"
	"net"
	"net/netip"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// Redirect is the fast path when an uplink dies: one netlink route change
// points its table's default route at a healthy uplink, so new
// connections already marked for the dead one leave by the healthy one
// (and are NATed there, by interface) before iptables is rebalanced.
func (e *Engine) Redirect(dead *Status, to *Status) error {
	r := Route{Table: dead.Uplink.Table, Dst: defaultDst, Dev: to.Device, Src: to.Local}
	if to.Uplink.IsPPPoE() {
		r.LinkScope = true
	} else {
		r.Gw = to.Gateway
	}
	nr, err := toNetlinkRoute(r, map[string]int{to.Device: to.Index})
	if err != nil {
		return err
	}
	if err := e.NL.RouteReplace(nr); err != nil {
		return fmt.Errorf("redirecting %s's table to %s: %w", dead.Name, to.Name, err)
	}
	return nil
}

// Conntrack is the part of *netlink.Handle that reads and deletes
// conntrack entries.
type Conntrack interface {
	ConntrackTableList(table netlink.ConntrackTableType, family netlink.InetFamily) ([]*netlink.ConntrackFlow, error)
	ConntrackDeleteFilters(table netlink.ConntrackTableType, family netlink.InetFamily, filters ...netlink.CustomConntrackFilter) (uint, error)
}

var _ Conntrack = (*netlink.Handle)(nil)

// markFilter matches connections whose mark, under mask, is mark.
type markFilter struct{ mark, mask uint32 }

func (f markFilter) MatchConntrackFlow(flow *netlink.ConntrackFlow) bool {
	return flow.Mark&f.mask == f.mark
}

// FlushMark deletes the conntrack entries of one uplink's connections and
// no others, so their clients reconnect at once through a healthy uplink.
func FlushMark(ct Conntrack, mark, mask uint32) (uint, error) {
	n, err := ct.ConntrackDeleteFilters(netlink.ConntrackTable, unix.AF_INET, markFilter{mark: mark, mask: mask})
	if err != nil {
		return n, fmt.Errorf("deleting conntrack entries with mark %#x/%#x: %w", mark, mask, err)
	}
	return n, nil
}

// FlowsByMark counts conntrack entries per mark (under mask).
func FlowsByMark(ct Conntrack, mask uint32) (map[uint32]int, error) {
	flows, err := ct.ConntrackTableList(netlink.ConntrackTable, unix.AF_INET)
	if err != nil {
		return nil, fmt.Errorf("listing conntrack: %w", err)
	}
	out := map[uint32]int{}
	for _, f := range flows {
		out[f.Mark&mask]++
	}
	return out, nil
}

// addrFilter matches connections whose replies come back to addr: those
// NATed to it, and the router's own from it.
type addrFilter struct{ addr net.IP }

func (f addrFilter) MatchConntrackFlow(flow *netlink.ConntrackFlow) bool {
	return flow.Reverse.DstIP.Equal(f.addr)
}

// FlushAddress deletes the conntrack entries of connections that use an
// address an uplink no longer has (its DHCP lease moved): they cannot
// survive, and their clients reconnect at once by the new one.
func FlushAddress(ct Conntrack, addr netip.Addr) (uint, error) {
	n, err := ct.ConntrackDeleteFilters(netlink.ConntrackTable, unix.AF_INET, addrFilter{addr: addr.AsSlice()})
	if err != nil {
		return n, fmt.Errorf("deleting conntrack entries of %s: %w", addr, err)
	}
	return n, nil
}
