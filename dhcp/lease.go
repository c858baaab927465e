package dhcp

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"time"

	"github.com/insomniacslk/dhcp/dhcpv4"
)

// Lease is what a server granted, as the ACK said it.
type Lease struct {
	// Address is yiaddr with option 1's prefix length.
	Address netip.Prefix
	// Router is option 3's first router (invalid when none).
	Router netip.Addr
	// Server is option 54, where renewals and the release go.
	Server netip.Addr
	DNS    []netip.Addr // option 6
	MTU    int          // option 26; 0 when not given
	// Routes are option 121's classless static routes. When present, the
	// router option is ignored (RFC 3442): a 0.0.0.0/0 route among them is
	// the default.
	Routes []Route
	// Obtained is when the REQUEST that got the ACK was sent: the lease's
	// times count from there (RFC 2131 4.4.1).
	Obtained time.Time
	// Duration is option 51; T1 and T2 are options 58 and 59, or half and
	// seven eighths of it.
	Duration, T1, T2 time.Duration
}

// Route is one classless static route.
type Route struct {
	Dst     netip.Prefix
	Gateway netip.Addr // 0.0.0.0: on the link
}

// Infinite is option 51's "forever".
const Infinite = time.Duration(0xffffffff) * time.Second

// RenewAt is T1, when RENEWING starts.
func (l *Lease) RenewAt() time.Time { return l.Obtained.Add(l.T1) }

// RebindAt is T2, when REBINDING starts.
func (l *Lease) RebindAt() time.Time { return l.Obtained.Add(l.T2) }

// ExpiresAt is when the lease ends.
func (l *Lease) ExpiresAt() time.Time { return l.Obtained.Add(l.Duration) }

// Gateway is the default route's next hop: option 121's default route
// when it has one, else the router option (invalid when neither).
func (l *Lease) Gateway() netip.Addr {
	if len(l.Routes) > 0 {
		for _, r := range l.Routes {
			if r.Dst.Bits() == 0 {
				return r.Gateway
			}
		}
		return netip.Addr{}
	}
	return l.Router
}

// SameBinding reports whether two leases configure the uplink the same way
// (address, next hops, routes, MTU, DNS and server); their times may
// differ, as a renewal's do.
func (l *Lease) SameBinding(o *Lease) bool {
	if l == nil || o == nil {
		return l == o
	}
	return l.Address == o.Address && l.Router == o.Router && l.Server == o.Server && l.MTU == o.MTU &&
		slices.Equal(l.DNS, o.DNS) && slices.Equal(l.Routes, o.Routes)
}

// leaseFromACK reads an ACK into a lease obtained at sent.
func leaseFromACK(ack *dhcpv4.DHCPv4, sent time.Time) (*Lease, error) {
	addr, ok := netip.AddrFromSlice(ack.YourIPAddr.To4())
	if !ok || !addr.IsGlobalUnicast() && !addr.IsPrivate() {
		return nil, fmt.Errorf("the ACK offers no usable address (%v)", ack.YourIPAddr)
	}
	bits := 32
	if m := ack.SubnetMask(); m != nil {
		ones, size := m.Size()
		if size != 32 {
			return nil, errors.New("the ACK's subnet mask is not a prefix")
		}
		bits = ones
	}
	l := &Lease{Address: netip.PrefixFrom(addr, bits), Obtained: sent}
	if rs := ack.Router(); len(rs) > 0 {
		l.Router, _ = netip.AddrFromSlice(rs[0].To4())
	}
	l.Server, _ = netip.AddrFromSlice(ack.ServerIdentifier().To4())
	for _, d := range ack.DNS() {
		if a, ok := netip.AddrFromSlice(d.To4()); ok {
			l.DNS = append(l.DNS, a)
		}
	}
	if b := ack.GetOneOption(dhcpv4.OptionInterfaceMTU); len(b) == 2 {
		if mtu := int(binary.BigEndian.Uint16(b)); mtu >= 576 {
			l.MTU = mtu
		}
	}
	for _, r := range ack.ClasslessStaticRoute() {
		dst, ok := prefixOf(r.Dest)
		if !ok {
			continue
		}
		gw, _ := netip.AddrFromSlice(r.Router.To4())
		l.Routes = append(l.Routes, Route{Dst: dst, Gateway: gw})
	}
	l.Duration = ack.IPAddressLeaseTime(0)
	if l.Duration <= 0 {
		return nil, errors.New("the ACK gives no lease time (option 51)")
	}
	// Divided before multiplied: 0xffffffff seconds (infinite) times 7
	// overflows a Duration.
	l.T1 = ack.IPAddressRenewalTime(l.Duration / 2)
	l.T2 = ack.IPAddressRebindingTime(l.Duration / 8 * 7)
	if !(0 < l.T1 && l.T1 < l.T2 && l.T2 <= l.Duration) {
		// Times that contradict each other: the RFC's defaults.
		l.T1, l.T2 = l.Duration/2, l.Duration/8*7
	}
	return l, nil
}

func prefixOf(n *net.IPNet) (netip.Prefix, bool) {
	if n == nil {
		return netip.Prefix{}, false
	}
	a, ok := netip.AddrFromSlice(n.IP.To4())
	ones, bits := n.Mask.Size()
	if !ok || bits != 32 {
		return netip.Prefix{}, false
	}
	return netip.PrefixFrom(a, ones).Masked(), true
}
