package uplink

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"

	"github.com/pathpin/pathpin/internal/nft"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// Rule priorities pathpin owns. Everything in [PrioFirst, PrioLast] is
// pathpin's; rules of other tools elsewhere are never touched. mwan3 uses
// 1000-2254, tailscale 5210-5270; this band stays clear of both and of the
// main table's 32766.
const (
	PrioFirst = 10000
	// PrioMark + n: connections marked for uplink n. Before the source
	// rules: a mark is pathpin's (or its user's) decision, and a router
	// policy may send a connection whose source the kernel took from
	// another uplink by the policy's uplink (its source is rewritten on
	// the way out).
	PrioMark = 10100
	// PrioFrom + n: unmarked traffic the router sends from uplink n's
	// address.
	PrioFrom = 10200
	// PrioMainSpecific: the main table without its default route, so the
	// router's own traffic to connected and other specific destinations
	// keeps routing as the host has it (wg-quick's suppress_prefixlength
	// rule).
	PrioMainSpecific = 10900
	// PrioRouterDefault: the router's own unbound traffic takes the table of
	// the uplink pathpin prefers now, whether or not the main table has a
	// default route, and leaves with that uplink's address.
	PrioRouterDefault = 10901
	PrioLast          = 10999
)

// TableMain is the kernel's main routing table.
const TableMain = 254

// RouteType is a route's kind, as the kernel's rtm_type: what happens to
// a packet that matches it.
type RouteType uint8

// Route types pathpin installs (unicast, unreachable) or finds in its
// tables, put there by someone else (the others).
const (
	Unicast     RouteType = unix.RTN_UNICAST
	Blackhole   RouteType = unix.RTN_BLACKHOLE
	Unreachable RouteType = unix.RTN_UNREACHABLE
	Prohibit    RouteType = unix.RTN_PROHIBIT
	Throw       RouteType = unix.RTN_THROW
)

// String is the type as `ip route` prints it before the destination
// ("" for unicast, which it does not print).
func (t RouteType) String() string {
	switch t {
	case Unicast, 0:
		return ""
	case Blackhole:
		return "blackhole"
	case Unreachable:
		return "unreachable"
	case Prohibit:
		return "prohibit"
	case Throw:
		return "throw"
	}
	return fmt.Sprintf("type-%d", t)
}

// Route is one route in an uplink's table, in the terms `ip route` uses.
type Route struct {
	Table int
	Dst   netip.Prefix // 0.0.0.0/0 for default
	// Tos and Metric complete the key the kernel holds an IPv4 route by
	// (table, destination, TOS, metric); pathpin's own routes have 0.
	Tos    uint8
	Metric int
	// Type is unicast unless said otherwise (0 reads as unicast).
	Type      RouteType
	Gw        netip.Addr
	Dev       string
	Src       netip.Addr
	LinkScope bool
}

// routeID is how the kernel tells IPv4 routes apart: a replace puts a
// route in the place of the one with its ID, so pathpin keys its diff, its
// desired state and its deletes by it. (Only an append, which pathpin never
// makes, puts a second route with one ID in a table.)
type routeID struct {
	Table  int
	Dst    netip.Prefix
	Tos    uint8
	Metric int
}

// ID is the route's key as the kernel's.
func (r Route) ID() routeID { return routeID{r.Table, r.Dst, r.Tos, r.Metric} }

// Key is the route's ID as text, as NetlinkRouteKey gives it for a route
// the kernel reports.
func (r Route) Key() string { return fmt.Sprintf("%d %s %d %d", r.Table, r.Dst, r.Tos, r.Metric) }

// NetlinkRouteKey is the Key of a route as netlink reports it (a route
// event, a dump); "" for one that is not IPv4.
func NetlinkRouteKey(r netlink.Route) string {
	dst := defaultDst
	if r.Dst != nil {
		p, ok := prefixOf(r.Dst)
		if !ok {
			return ""
		}
		dst = p
	}
	return Route{Table: r.Table, Dst: dst, Tos: uint8(r.Tos), Metric: r.Priority}.Key()
}

// String renders the route as `ip route` would print it, table first.
func (r Route) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "table %d ", r.Table)
	if t := r.Type.String(); t != "" {
		b.WriteString(t + " ")
	}
	if r.Dst.Bits() == 0 {
		b.WriteString("default")
	} else {
		b.WriteString(r.Dst.String())
	}
	if r.Tos != 0 {
		fmt.Fprintf(&b, " tos %#x", r.Tos)
	}
	if r.Gw.IsValid() {
		fmt.Fprintf(&b, " via %s", r.Gw)
	}
	if r.Dev != "" {
		fmt.Fprintf(&b, " dev %s", r.Dev)
	}
	if r.LinkScope {
		b.WriteString(" scope link")
	}
	if r.Src.IsValid() {
		fmt.Fprintf(&b, " src %s", r.Src)
	}
	if r.Metric != 0 {
		fmt.Fprintf(&b, " metric %d", r.Metric)
	}
	return b.String()
}

// Rule is one ip rule in pathpin's priority band.
type Rule struct {
	Priority int
	Src      netip.Prefix // invalid: from all
	Mark     uint32
	Mask     uint32
	Table    int
	// SuppressDefault ignores routes with a prefix length of 0 (default
	// routes) found in Table: suppress_prefixlength 0.
	SuppressDefault bool
}

// String renders the rule as `ip rule` prints it.
func (r Rule) String() string {
	from := "all"
	if r.Src.IsValid() {
		from = r.Src.String()
		if r.Src.IsSingleIP() {
			from = r.Src.Addr().String()
		}
	}
	s := fmt.Sprintf("%d:\tfrom %s", r.Priority, from)
	if r.Mark != 0 || r.Mask != 0 {
		s += fmt.Sprintf(" fwmark %#x/%#x", r.Mark, r.Mask)
	}
	s += " lookup " + tableName(r.Table)
	if r.SuppressDefault {
		s += " suppress_prefixlength 0"
	}
	return s
}

// tableName is a table as `ip rule` prints it.
func tableName(t int) string {
	if t == TableMain {
		return "main"
	}
	return fmt.Sprint(t)
}

// kernelTable reports the tables pathpin never owns, even when one of its
// rules looks them up: local, main and default.
func kernelTable(t int) bool { return t >= 253 && t <= 255 }

// Sysctl is one kernel setting pathpin needs.
type Sysctl struct {
	Key   string // e.g. net/ipv4/ip_forward
	Value string
	Why   string
}

// State is everything pathpin owns in the kernel.
type State struct {
	Routes []Route
	Rules  []Rule
	// NFT is pathpin's nftables table.
	NFT     *nft.Table
	Sysctls []Sysctl
	// Addrs are the DHCP leases' addresses on their interfaces.
	Addrs []LinkAddr
}

// sortState puts every list in a canonical order so states compare.
func (s *State) sort() {
	sortByText(s.Routes, Route.String)
	sortByText(s.Rules, Rule.String)
	sortByText(s.Addrs, LinkAddr.String)
}

// sortByText sorts list by each item's text, made once per item.
func sortByText[T any](list []T, text func(T) string) {
	type keyed struct {
		key  string
		item T
	}
	k := make([]keyed, len(list))
	for i, x := range list {
		k[i] = keyed{text(x), x}
	}
	slices.SortStableFunc(k, func(a, b keyed) int { return strings.Compare(a.key, b.key) })
	for i := range k {
		list[i] = k[i].item
	}
}
