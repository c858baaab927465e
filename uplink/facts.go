package uplink

import (
	"net/netip"

	"github.com/vishvananda/netlink"

	"github.com/pathpin/pathpin/internal/config"
)

// Link is what the kernel shows about one interface.
type Link struct {
	Name string
	Up   bool // administratively up and with carrier (LOWER_UP)
	// AdminUp: administratively up. The kernel refuses routes through a
	// link that is not (a PPP link before pppd has finished with it).
	AdminUp bool
	MTU     int
	Addrs   []Addr
}

// Addr is one IPv4 address on a link.
type Addr struct {
	Prefix netip.Prefix // address with its prefix length
	Peer   netip.Addr   // point-to-point peer (PPP), else invalid
}

// Facts are the parts of the kernel's state the desired state depends on.
type Facts struct {
	Links map[string]Link
	// Connected are the main table's link-scope routes on LAN and uplink
	// interfaces; every uplink table carries a copy so that replies to LAN
	// clients, and traffic to an uplink's own subnet, route inside it.
	Connected []Route

	// Every link's index by name and name by index, from the same read.
	index map[string]int
	names map[int]string
	// routes are every table's routes, as read with the links.
	routes []netlink.Route
	// Leases are the DHCP uplinks' leases in force, by uplink name.
	Leases map[string]Lease
	// Cgroups are the programs' and pathpin exec's cgroups.
	Cgroups Cgroups
}

// Status is one uplink as the engine sees it.
type Status struct {
	Name   string
	Device string
	Index  int // the device's link index, as the status was read
	// Reason is why it takes no new connections; InService when it does.
	Reason Reason
	// Routable: its interface exists, is administratively up and has its
	// address (and, for PPP, pppd has said ip-up), so its table can hold
	// real routes (for probes, and for the connections still marked for
	// it) even while it takes no new connections.
	Routable bool
	Local    netip.Addr // the uplink's own address
	Gateway  netip.Addr // the static gateway, or the PPP peer
	Uplink   *config.Uplink
	// Refused are the routes of its DHCP lease that pathpin would not
	// install, each with the reason (status shows them).
	Refused []string
}

// Up reports whether the uplink takes new connections.
func (s Status) Up() bool { return s.Reason.InService() }

// Statuses decides which uplinks can carry traffic. held names uplinks
// another source (health probes, the PPP hooks) holds out of service. The
// kernel's facts come first: an uplink without its interface is down for
// that reason whatever else is said of it.
func Statuses(cfg *config.Config, facts *Facts, held Holds) []Status {
	out := make([]Status, 0, len(cfg.Uplinks))
	for i := range cfg.Uplinks {
		u := &cfg.Uplinks[i]
		st := Status{Name: u.Name, Device: u.DeviceName(), Uplink: u}
		link, ok := facts.Links[st.Device]
		st.Index = facts.index[st.Device]
		// The address is known even while the link is down, so that
		// probes can go on and tell when it recovers.
		lease, leased := facts.Leases[u.Name]
		switch {
		case u.IsPPPoE():
			for _, a := range link.Addrs {
				if a.Peer.IsValid() {
					st.Local, st.Gateway = a.Prefix.Addr(), a.Peer
					break
				}
			}
		case u.IsDHCP():
			// The lease's address is the uplink's: the apply puts it on.
			if leased {
				st.Local, st.Gateway = lease.Addr.Addr(), lease.Gateway
			}
		default:
			for _, a := range link.Addrs {
				if a.Prefix.Masked().Contains(u.Gateway) {
					st.Local = a.Prefix.Addr()
					break
				}
			}
			st.Gateway = u.Gateway
		}
		hold, isHeld := held[u.Name]
		switch {
		case isHeld && hold.Cause == PPPDown && (!ok || !st.Local.IsValid()):
			// pppd's own account (connecting, auth failed) says more than
			// the missing PPP link does.
			st.Reason = hold
		case !ok:
			st.Reason = Down(NoInterface, "interface "+st.Device+" does not exist")
		case !link.Up:
			st.Reason = Down(NoCarrier, "interface "+st.Device+" is down or has no carrier")
		case !st.Local.IsValid() && u.IsPPPoE():
			st.Reason = Down(NoAddress, "PPP interface "+st.Device+" has no address yet")
		case u.IsDHCP() && !leased:
			st.Reason = Down(NoAddress, "no DHCP lease on "+st.Device+" yet")
		case u.IsDHCP() && !st.Gateway.IsValid():
			st.Reason = Down(NoAddress, "the DHCP lease on "+st.Device+" names no router (option 3 or 121)")
		case u.IsDHCP() && (st.Gateway == lease.Addr.Addr() || !onLeaseLink(lease, st.Gateway)):
			// Input from the network: a router the kernel could not reach
			// (or the router itself) would have its default route refused.
			st.Reason = Down(NoAddress, "the DHCP lease on "+st.Device+" names a router, "+st.Gateway.String()+", that is not on its link "+lease.Addr.Masked().String())
		case !st.Local.IsValid():
			st.Reason = Down(NoAddress, "interface "+st.Device+" has no address in the gateway's subnet ("+u.Gateway.String()+")")
		case isHeld && !hold.InService():
			st.Reason = hold
		}
		pppHeld := u.IsPPPoE() && isHeld && hold.Cause == PPPDown
		// A table the kernel refused holds only its unreachable default
		// until the next change.
		refused := isHeld && hold.Cause == Refused
		st.Routable = ok && link.AdminUp && st.Local.IsValid() && !pppHeld && !refused && st.Gateway.IsValid()
		out = append(out, st)
	}
	return out
}

// onLeaseLink reports whether gw is on a lease's link: in its subnet, or in
// one of its on-link classless routes.
func onLeaseLink(l Lease, gw netip.Addr) bool {
	if l.Addr.Masked().Contains(gw) {
		return true
	}
	for _, r := range l.Routes {
		if !r.Gw.IsValid() && r.Dst.Contains(gw) {
			return true
		}
	}
	return false
}
