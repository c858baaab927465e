package config

import (
	"bytes"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"time"

	"github.com/pathpin/pathpin/internal/ipv4"
)

// Policy steers the new connections its match selects by chosen uplinks;
// policies are tried in file order and the first match wins. Connections
// no policy matches are balanced by weight.
type Policy struct {
	Name  string
	Match Match
	// Tiers are tried in order: the first with an uplink in service takes
	// the connection, shared by weight among its members in service.
	Tiers [][]Member
	// Sticky keeps every new connection of one source on the uplink its
	// first was given, until the source has made none for this long.
	Sticky time.Duration
	// Drop: when no tier has an uplink in service, the connection is
	// dropped (never leaks by another line); otherwise it is balanced.
	Drop bool
	// Line is where the policy starts in the file.
	Line int
}

// Member is one uplink of a tier and its share.
type Member struct {
	Uplink string
	Weight int
}

// Match selects connections; every field given must match, an empty field
// matches anything. Values of one field never overlap.
type Match struct {
	// Interfaces are LAN interfaces the connection arrives on.
	Interfaces []string
	MACs       []net.HardwareAddr
	Sources    []AddrRange
	Dests      []AddrRange
	// Protos are IP protocol numbers (6 tcp, 17 udp, 1 icmp).
	Protos []uint8
	Ports  []PortRange
	// Router: the policy is for the router's own connections (and only
	// for them); otherwise for connections from the LAN.
	Router bool
	// Domains: destinations the DNS answers for these names (and their
	// subdomains) gave, lower-case, without the final dot.
	Domains []string
	// Program: the router's own connections made by the programs of this
	// programs: entry (its cgroup); implies Router.
	Program string
}

// AddrRange is an inclusive range of IPv4 addresses.
type AddrRange struct{ From, To netip.Addr }

// PortRange is an inclusive range of ports.
type PortRange struct{ From, To uint16 }

// Balance is how connections no policy matches are shared.
type Balance struct {
	// Sticky keeps a source's new connections on one uplink, as a policy's
	// sticky does.
	Sticky time.Duration
}

func (r AddrRange) String() string {
	if r.From == r.To {
		return r.From.String()
	}
	if p, ok := ipv4.Prefix(r.From, r.To); ok {
		return p.String()
	}
	return r.From.String() + "-" + r.To.String()
}

func (r PortRange) String() string {
	if r.From == r.To {
		return fmt.Sprint(r.From)
	}
	return fmt.Sprintf("%d-%d", r.From, r.To)
}

// Contains reports whether every connection m matches, o matches too: each
// field of o is empty or holds every value of m's.
func (o *Match) Contains(m *Match) bool {
	return o.Router == m.Router &&
		within(m.Interfaces, o.Interfaces, func(a, b string) bool { return a == b }) &&
		within(m.MACs, o.MACs, sameMAC) &&
		within(m.Sources, o.Sources, AddrRange.inside) &&
		within(m.Dests, o.Dests, AddrRange.inside) &&
		within(m.Protos, o.Protos, func(a, b uint8) bool { return a == b }) &&
		within(m.Ports, o.Ports, PortRange.inside) &&
		within(m.Domains, o.Domains, InDomain) &&
		(o.Program == "" || o.Program == m.Program)
}

// Overlaps reports whether some connection matches both m and o.
func (o *Match) Overlaps(m *Match) bool {
	return o.Router == m.Router &&
		meets(m.Interfaces, o.Interfaces, func(a, b string) bool { return a == b }) &&
		meets(m.MACs, o.MACs, sameMAC) &&
		meets(m.Sources, o.Sources, AddrRange.overlaps) &&
		meets(m.Dests, o.Dests, AddrRange.overlaps) &&
		meets(m.Protos, o.Protos, func(a, b uint8) bool { return a == b }) &&
		meets(m.Ports, o.Ports, PortRange.overlaps) &&
		meets(m.Domains, o.Domains, func(a, b string) bool { return InDomain(a, b) || InDomain(b, a) }) &&
		(o.Program == "" || m.Program == "" || o.Program == m.Program)
}

// InDomain reports whether name is domain or one of its subdomains.
func InDomain(name, domain string) bool {
	return name == domain || strings.HasSuffix(name, "."+domain)
}

func sameMAC(a, b net.HardwareAddr) bool { return bytes.Equal(a, b) }

// within: every value of in lies inside some value of out (an empty out is
// anything; an empty in is anything, inside only an empty out).
func within[T any](in, out []T, inside func(a, b T) bool) bool {
	if len(out) == 0 {
		return true
	}
	if len(in) == 0 {
		return false
	}
	for _, a := range in {
		found := false
		for _, b := range out {
			found = found || inside(a, b)
		}
		if !found {
			return false
		}
	}
	return true
}

// meets: some value of a meets some value of b (empty is anything).
func meets[T any](a, b []T, overlap func(x, y T) bool) bool {
	if len(a) == 0 || len(b) == 0 {
		return true
	}
	for _, x := range a {
		for _, y := range b {
			if overlap(x, y) {
				return true
			}
		}
	}
	return false
}

func (r AddrRange) inside(o AddrRange) bool {
	return o.From.Compare(r.From) <= 0 && r.To.Compare(o.To) <= 0
}
func (r AddrRange) overlaps(o AddrRange) bool {
	return r.From.Compare(o.To) <= 0 && o.From.Compare(r.To) <= 0
}
func (r PortRange) inside(o PortRange) bool   { return o.From <= r.From && r.To <= o.To }
func (r PortRange) overlaps(o PortRange) bool { return r.From <= o.To && o.From <= r.To }
