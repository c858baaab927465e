package uplink

import (
	"fmt"
	"net"
	"net/netip"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// Conntrack is the part of *netlink.Handle that deletes conntrack entries
// by a filter of pathpin's (counting and deleting by mark are
// internal/conntrack's, without a dump into pathpin).
type Conntrack interface {
	ConntrackDeleteFilters(table netlink.ConntrackTableType, family netlink.InetFamily, filters ...netlink.CustomConntrackFilter) (uint, error)
}

var _ Conntrack = (*netlink.Handle)(nil)

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
