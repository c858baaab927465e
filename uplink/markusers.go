package uplink

import (
	"context"
	"fmt"
	"os"
	"slices"
	"strings"

	"github.com/google/nftables"
	"github.com/pathpin/pathpin/internal/nft"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
	"golang.zx2c4.com/wireguard/wgctrl"
)

// A MarkUser is one rule or link of other software on this host that sets
// or tests packet or connection marks.
type MarkUser struct {
	// Owner names the software when its names tell (wg-quick, WireGuard,
	// Tailscale, Docker, kube-proxy, Cilium), else "".
	Owner string
	// Where is the rule or link, as its own tool would name it.
	Where string
	// Bits are the mark bits it sets or tests: its mask, or its value
	// when it sets or tests the whole mark.
	Bits uint32
	// Value is the value a test compares the bits with.
	Value uint32
	// Sets: it writes marks (a packet's or a connection's); otherwise it
	// only tests them.
	Sets bool
	// Whole: it writes or compares all 32 bits, with no mask. A packet
	// pathpin has marked never equals such a test, and such a write
	// clears pathpin's bits.
	Whole bool
	// Copy: it copies the whole mark between a packet and its
	// connection (Bits are the values it tests first, if any).
	Copy bool
	// Negate: the test is negated (!=, ! --mark, ip rule's not).
	Negate bool
	// Unknown: the values it sets or tests cannot be read (computed, a
	// range, a map that would not list).
	Unknown bool
	// Before: it runs before pathpin's chains mark packets (a base chain
	// at prerouting or output below mangle, iptables' raw table).
	Before bool
	// Map names the nftables map or set whose values it sets (or whose
	// keys it tests, MapKeys); FindMarkUsers fills Bits from it.
	Map     string
	MapKeys bool
	// Priority is an ip rule's priority; -1 for anything else.
	Priority int
	// Table is the table an ip rule looks up; Goto the priority it goes
	// to instead; Refuses: the rule is unreachable, blackhole or
	// prohibit; Suppress: it looks up with suppress_prefixlength.
	Table, Goto       int
	Refuses, Suppress bool
	// Mask is an ip rule's fwmark mask as written.
	Mask uint32
	// Hook is where a firewall rule runs ("prerouting", "output",
	// "forward", "input", "postrouting"), "" when not known (a chain
	// jumped to).
	Hook string
}

// HostMarks is what other software on this host does with marks and with
// forwarded traffic, as FindMarkUsers read it.
type HostMarks struct {
	Users []MarkUser
	// ForwardDrops are other firewalls' forward chains whose policy is
	// drop: they drop the LAN's traffic to the uplinks unless a rule of
	// theirs accepts it.
	ForwardDrops []string
	// SrcValidMark are the interfaces ("all" included) where
	// net.ipv4.conf.*.src_valid_mark is 1.
	SrcValidMark []string
	// Links are other software's interfaces that matter beside pathpin:
	// WireGuard links and Tailscale's.
	Links []string
	// MainDefault: the main table has a default route (with pathpin, the
	// uplinks' defaults are in their own tables).
	MainDefault bool
	// Unread is what could not be read, and why.
	Unread []string
	// Docker: Docker's chains (DOCKER-USER and its kin) are here.
	Docker bool
}

// xtablesTables are the iptables tables (both variants) that are read.
var xtablesTables = []string{"filter", "nat", "mangle", "raw", "security"}

// FindMarkUsers reads the other mark users on this host: ip rules with a
// fwmark, nftables rules in other tables, iptables rules of both variants
// (read only, with go-iptables), WireGuard links with a fwmark, Tailscale's
// link, forward chains that drop by policy and src_valid_mark. What cannot
// be read (a variant not installed, no WireGuard module) is left out.
func (e *Engine) FindMarkUsers(ctx context.Context) (HostMarks, error) {
	var h HostMarks
	rules, err := e.NL.RuleList(netlink.FAMILY_V4)
	if err != nil {
		return h, fmt.Errorf("listing ip rules: %w", err)
	}
	h.Users = append(h.Users, ruleMarkUsers(rules)...)

	// The ip tables iptables-nft listed: the nftables reader leaves them
	// to it (they are read in its words).
	listed := map[string]bool{}
	nftTables := existingXtables()
	for _, v := range e.Legacy {
		tables := nftTables
		if v.Name == "legacy" {
			tables = loadedAmong(xtablesTables)
		}
		for _, table := range tables {
			if ctx.Err() != nil {
				return h, ctx.Err()
			}
			lines, err := listTable(ctx, v.IPT, table)
			switch {
			case err != nil && v.Name == "nft" && lines == nil:
				// A table iptables-nft cannot list (native nftables
				// rules in it): the nftables reader reads it.
			case err != nil:
				h.Unread = append(h.Unread, fmt.Sprintf("iptables-%s -t %s: %v", v.Name, table, firstLineOf(err)))
				listed[table] = v.Name == "nft" || listed[table]
			case v.Name == "nft":
				listed[table] = true
			}
			if table == "filter" && slices.ContainsFunc(lines, func(l string) bool { return strings.HasPrefix(l, "-N DOCKER") }) {
				h.Docker = true
			}
			users, drops := iptablesMarkUsers("iptables-"+v.Name, table, lines)
			h.Users = append(h.Users, users...)
			h.ForwardDrops = append(h.ForwardDrops, drops...)
		}
	}
	if c, err := nftables.New(); err == nil {
		users, drops, unread := nftMarkUsers(c, func(t *nftables.Table) bool {
			// Only what IPv4 packets meet (pathpin routes IPv4), and not
			// iptables-nft's own tables, read above.
			return t.Family != nftables.TableFamilyIPv4 && t.Family != nftables.TableFamilyINet ||
				t.Family == nftables.TableFamilyIPv4 && listed[t.Name]
		})
		h.Users = append(h.Users, users...)
		h.ForwardDrops = append(h.ForwardDrops, drops...)
		h.Unread = append(h.Unread, unread...)
	} else {
		h.Unread = append(h.Unread, fmt.Sprintf("nftables: %v", err))
	}
	if routes, err := e.NL.RouteListFiltered(netlink.FAMILY_V4, &netlink.Route{Table: TableMain}, netlink.RT_FILTER_TABLE); err == nil {
		h.MainDefault = slices.ContainsFunc(routes, func(r netlink.Route) bool { return r.Dst == nil || r.Dst.IP.IsUnspecified() && r.Dst.Mask[0] == 0 })
	}

	if wg, err := wgctrl.New(); err != nil {
		h.Unread = append(h.Unread, fmt.Sprintf("WireGuard links: %v", err))
	} else {
		if devs, err := wg.Devices(); err != nil {
			h.Unread = append(h.Unread, fmt.Sprintf("WireGuard links: %v", err))
		} else {
			for _, d := range devs {
				if d.FirewallMark != 0 {
					h.Users = append(h.Users, MarkUser{Owner: "WireGuard", Where: fmt.Sprintf("WireGuard link %s (fwmark %#x)", d.Name, d.FirewallMark),
						Bits: uint32(d.FirewallMark), Value: uint32(d.FirewallMark), Sets: true, Priority: -1})
				}
				h.Links = append(h.Links, fmt.Sprintf("WireGuard link %s (fwmark %#x, listening on port %d)", d.Name, d.FirewallMark, d.ListenPort))
			}
		}
		wg.Close()
	}
	if links, err := e.NL.LinkList(); err == nil {
		for _, l := range links {
			if name := l.Attrs().Name; strings.HasPrefix(name, "tailscale") {
				h.Links = append(h.Links, "Tailscale link "+name)
			}
		}
	}
	if e.Sysctl != nil {
		names := []string{"all"}
		if links, err := e.NL.LinkList(); err == nil {
			for _, l := range links {
				names = append(names, l.Attrs().Name)
			}
		}
		for _, n := range names {
			if v, err := e.Sysctl.Get("net/ipv4/conf/" + n + "/src_valid_mark"); err == nil && v == "1" {
				h.SrcValidMark = append(h.SrcValidMark, n)
			}
		}
	}
	return h, nil
}

// maxChainsRead bounds the chains read per iptables table: go-iptables
// lists one chain per command, and a host with thousands (kube-proxy's
// per-service chains) would take minutes.
const maxChainsRead = 300

// listTable is an iptables table as iptables -S prints it, chain by chain
// (go-iptables lists one chain at a time); past maxChainsRead chains, an
// error says how many were left.
func listTable(ctx context.Context, ipt IPTables, table string) ([]string, error) {
	chains, err := ipt.ListChains(table)
	if err != nil {
		return nil, err
	}
	var out []string
	for i, ch := range chains {
		if ctx.Err() != nil {
			return out, ctx.Err()
		}
		if i == maxChainsRead {
			return out, fmt.Errorf("%d chains, only the first %d read", len(chains), maxChainsRead)
		}
		lines, err := ipt.List(table, ch)
		if err != nil {
			return out, fmt.Errorf("chain %s: %w", ch, err)
		}
		out = append(out, lines...)
	}
	return out, nil
}

// firstLineOf is an error's first line (iptables' errors run on).
func firstLineOf(err error) string {
	line, _, _ := strings.Cut(err.Error(), "\n")
	return line
}

// existingXtables are the iptables tables that exist in nftables (made
// by iptables-nft, or natively with their names): iptables-nft lists
// only these, one command per chain, where there is something to read.
// All of them when nftables cannot be asked.
func existingXtables() []string {
	c, err := nftables.New()
	if err != nil {
		return xtablesTables
	}
	tables, err := c.ListTablesOfFamily(nftables.TableFamilyIPv4)
	if err != nil {
		return xtablesTables
	}
	return slices.DeleteFunc(slices.Clone(xtablesTables), func(name string) bool {
		return !slices.ContainsFunc(tables, func(t *nftables.Table) bool { return t.Name == name })
	})
}

// loadedAmong are those of tables the kernel holds as legacy iptables
// tables in this network namespace: listing any other with
// iptables-legacy would make it.
func loadedAmong(tables []string) []string {
	b, err := os.ReadFile("/proc/net/ip_tables_names")
	if err != nil {
		return nil
	}
	names := strings.Fields(string(b))
	return slices.DeleteFunc(slices.Clone(tables), func(t string) bool { return !slices.Contains(names, t) })
}

// ruleMarkUsers are the ip rules outside pathpin's band that test a
// fwmark.
func ruleMarkUsers(rules []netlink.Rule) []MarkUser {
	var out []MarkUser
	for _, r := range rules {
		if r.Priority >= PrioFirst && r.Priority <= PrioLast {
			continue
		}
		if r.Mark == 0 && (r.Mask == nil || *r.Mask == 0) {
			continue
		}
		u := MarkUser{Where: "ip rule " + describeRule(r), Priority: r.Priority, Value: r.Mark, Negate: r.Invert, Table: r.Table, Goto: r.Goto,
			Refuses: refuses(r), Suppress: r.SuppressPrefixlen >= 0}
		mask := ^uint32(0)
		if r.Mask != nil {
			mask = *r.Mask
		}
		u.Mask = mask
		switch {
		case mask == ^uint32(0) && r.Mark == 0:
			u.Whole = true // no mark at all: takes no bits
		case mask == ^uint32(0):
			u.Bits, u.Whole = r.Mark, true
		default:
			u.Bits = mask
		}
		u.Owner = ruleOwner(r)
		out = append(out, u)
	}
	return out
}

// describeRule prints an ip rule as ip rule does.
func describeRule(r netlink.Rule) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%d: ", r.Priority)
	if r.Invert {
		b.WriteString("not ")
	}
	b.WriteString("from ")
	if r.Src != nil {
		b.WriteString(r.Src.String())
	} else {
		b.WriteString("all")
	}
	if r.Dst != nil {
		fmt.Fprintf(&b, " to %s", r.Dst)
	}
	fmt.Fprintf(&b, " fwmark %#x", r.Mark)
	if r.Mask != nil && *r.Mask != ^uint32(0) {
		fmt.Fprintf(&b, "/%#x", *r.Mask)
	}
	if r.IifName != "" {
		fmt.Fprintf(&b, " iif %s", r.IifName)
	}
	if r.OifName != "" {
		fmt.Fprintf(&b, " oif %s", r.OifName)
	}
	if r.IPProto != 0 {
		fmt.Fprintf(&b, " ipproto %d", r.IPProto)
	}
	if r.Dport != nil {
		fmt.Fprintf(&b, " dport %d", r.Dport.Start)
	}
	if r.SuppressPrefixlen >= 0 {
		fmt.Fprintf(&b, " suppress_prefixlength %d", r.SuppressPrefixlen)
	}
	switch {
	case refuses(r):
		b.WriteString(" unreachable") // or blackhole, prohibit: see refuses
	case r.Goto > 0:
		fmt.Fprintf(&b, " goto %d", r.Goto)
	case r.Table == TableMain:
		b.WriteString(" lookup main")
	case r.Table > 0:
		fmt.Fprintf(&b, " lookup %d", r.Table)
	}
	return b.String()
}

// refuses reports whether an ip rule ends the lookup without a route
// (unreachable, blackhole, prohibit). vishvananda/netlink does not read a
// listed rule's action back, so a rule that neither looks up a table nor
// goes to another rule is taken as one; an explicit type is honoured.
func refuses(r netlink.Rule) bool {
	switch r.Type {
	case unix.RTN_UNREACHABLE, unix.RTN_BLACKHOLE, unix.RTN_PROHIBIT:
		return true
	}
	return r.Table == 0 && r.Goto <= 0
}

// wgQuickMark and wgQuickTable are what wg-quick uses by default: 51820.
const (
	wgQuickMark  = 0xca6c
	wgQuickTable = 51820
)

func ruleOwner(r netlink.Rule) string {
	switch {
	case r.Mark == wgQuickMark || r.Table == wgQuickTable:
		return "wg-quick"
	case r.Priority >= 5200 && r.Priority <= 5300:
		return "Tailscale"
	}
	return ""
}

// nameOwner is the software a chain or table name belongs to, "" when
// the name does not tell.
func nameOwner(names ...string) string {
	for _, n := range names {
		l := strings.ToLower(n)
		switch {
		case strings.HasPrefix(l, "kube-") || strings.HasPrefix(l, "kube_") || l == "kube-proxy":
			return "kube-proxy"
		case strings.HasPrefix(l, "cilium"):
			return "Cilium"
		case strings.HasPrefix(l, "docker"):
			return "Docker"
		case strings.HasPrefix(l, "ts-") || strings.HasPrefix(l, "tailscale"):
			return "Tailscale"
		case strings.HasPrefix(l, "wg-quick"):
			return "wg-quick"
		}
	}
	return ""
}

// nftTableName is a table as nft names it: family and name.
func nftTableName(t *nftables.Table) string {
	fam := map[nftables.TableFamily]string{nftables.TableFamilyINet: "inet", nftables.TableFamilyIPv4: "ip", nftables.TableFamilyIPv6: "ip6",
		nftables.TableFamilyARP: "arp", nftables.TableFamilyNetdev: "netdev", nftables.TableFamilyBridge: "bridge"}[t.Family]
	return fam + " " + t.Name
}

// isPathpinTable reports whether t is pathpin's own table.
func isPathpinTable(t *nftables.Table) bool {
	return t != nil && t.Name == nft.TableName && t.Family == nftables.TableFamilyIPv4
}
