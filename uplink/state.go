package uplink

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"

	"github.com/pathpin/pathpin/internal/nft"
)

// Rule priorities pathpin owns. Everything in [PrioFirst, PrioLast] is
// pathpin's; rules of other tools elsewhere are never touched. mwan3 uses
// 1000-2254, tailscale 5210-5270; this band stays clear of both and of the
// main table's 32766.
const (
	PrioFirst = 10000
	// PrioFrom + n: traffic the router sends from uplink n's address.
	PrioFrom = 10100
	// PrioMark + n: connections marked for uplink n.
	PrioMark = 10200
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

// Route is one route in an uplink's table, in the terms `ip route` uses.
type Route struct {
	Table       int
	Dst         netip.Prefix // 0.0.0.0/0 for default
	Gw          netip.Addr
	Dev         string
	Src         netip.Addr
	LinkScope   bool
	Unreachable bool
}

// String renders the route as `ip route` would print it, table first.
func (r Route) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "table %d ", r.Table)
	if r.Unreachable {
		b.WriteString("unreachable ")
	}
	if r.Dst.Bits() == 0 {
		b.WriteString("default")
	} else {
		b.WriteString(r.Dst.String())
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

// Chain is one of pathpin's iptables chains: its rules exactly as
// iptables-save prints them ("-A CHAIN ...").
type Chain struct {
	Table string // mangle or nat
	Name  string
	Rules []Rule4
}

// Rule4 is one iptables rule with the comment plan prints above it.
type Rule4 struct {
	Spec    string // "-A PATHPIN-BALANCE -m mark ..."
	Comment string
}

// Jump is the single rule pathpin adds to a built-in chain.
type Jump struct {
	Table  string
	Chain  string // built-in, e.g. PREROUTING
	Target string // pathpin's chain
}

// Spec is the rule as iptables-save prints it.
func (j Jump) Spec() string { return fmt.Sprintf("-A %s -j %s", j.Chain, j.Target) }

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
	Chains []Chain
	Jumps  []Jump
	// NFT is pathpin's nftables table (the nftables firewall only).
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

// chainRules returns the rule specs of a chain.
func (c Chain) specs() []string {
	out := make([]string, len(c.Rules))
	for i, r := range c.Rules {
		out[i] = r.Spec
	}
	return out
}
