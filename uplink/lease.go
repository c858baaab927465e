package uplink

import (
	"net/netip"
	"slices"

	"github.com/pathpin/pathpin/internal/config"
	"golang.org/x/sys/unix"
)

// Lease is a DHCP uplink's lease as the engine uses it: the address goes
// on the interface, the gateway and the routes into the uplink's table,
// the MTU onto the interface.
type Lease struct {
	Addr    netip.Prefix
	Gateway netip.Addr // invalid: the lease names no router
	// Routes are the lease's classless static routes other than the
	// default (option 121); an invalid Gw is on the link.
	Routes []LeaseRoute
	MTU    int // 0: leave the interface's
}

// LeaseRoute is one classless static route of a lease.
type LeaseRoute struct {
	Dst netip.Prefix
	Gw  netip.Addr
}

// leasesOf picks the leases of cfg's DHCP uplinks out of those given.
func leasesOf(cfg *config.Config, given map[string]Lease) map[string]Lease {
	out := map[string]Lease{}
	for _, u := range cfg.Uplinks {
		if l, ok := given[u.Name]; ok && u.IsDHCP() {
			out[u.Name] = l
		}
	}
	return out
}

// expectAddresses makes facts read as they will once the leases' addresses
// are on their interfaces and pathpin's stale ones are gone: the kernel
// adds (and removes) an address's connected route in the main table, and
// the uplink tables copy it.
func expectAddresses(cfg *config.Config, facts *Facts, owned []LinkAddr) {
	want := map[LinkAddr]bool{}
	for _, a := range desiredAddrs(cfg, facts) {
		want[a] = true
	}
	facts.Connected = slices.DeleteFunc(facts.Connected, func(r Route) bool {
		return slices.ContainsFunc(owned, func(a LinkAddr) bool { return a.Dev == r.Dev && a.Prefix.Addr() == r.Src && !want[a] })
	})
	for a := range want {
		r := Route{Table: unix.RT_TABLE_MAIN, Dst: a.Prefix.Masked(), Dev: a.Dev, LinkScope: true, Src: a.Prefix.Addr()}
		if a.Prefix.Bits() < 32 && !slices.Contains(facts.Connected, r) {
			facts.Connected = append(facts.Connected, r)
		}
	}
	sortByText(facts.Connected, Route.String)
}
