package netnstest

import (
	"net"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// AddFlows puts n tracked UDP flows into ns's conntrack table, as a busy
// LAN would: from 10.0.0.<2+…> (a fresh source port each, from first on)
// to the server's port 53, with the given mark, alive for ten minutes.
// They are entries created over ctnetlink, like `conntrack -I`, so that a
// table of 100,000 takes seconds to fill. The table's size limit
// (nf_conntrack_max) is the host's and is not changed.
func (ns *NS) AddFlows(n int, first int, mark uint32) {
	ns.t.Helper()
	var err error
	ns.Do(func() {
		var h *netlink.Handle
		if h, err = netlink.NewHandle(unix.NETLINK_NETFILTER); err != nil {
			return
		}
		defer h.Close()
		for i := first; i < first+n; i++ {
			src := net.IPv4(10, 0, byte(i/50000), byte(2+i/50000%200)).To4()
			port := uint16(1024 + i%50000)
			f := &netlink.ConntrackFlow{FamilyType: unix.AF_INET, Mark: mark, TimeOut: 600,
				Forward: netlink.IPTuple{SrcIP: src, DstIP: net.ParseIP(ServerAddr).To4(), Protocol: unix.IPPROTO_UDP, SrcPort: port, DstPort: 53},
				Reverse: netlink.IPTuple{SrcIP: net.ParseIP(ServerAddr).To4(), DstIP: src, Protocol: unix.IPPROTO_UDP, SrcPort: 53, DstPort: port}}
			if err = h.ConntrackCreate(netlink.ConntrackTable, unix.AF_INET, f); err != nil {
				return
			}
		}
	})
	if err != nil {
		ns.t.Fatalf("adding conntrack flows in %s: %v", ns.Name, err)
	}
}
