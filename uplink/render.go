package uplink

import (
	"fmt"
	"strings"

	"github.com/pathpin/pathpin/internal/textdiff"
)

// RenderState renders a state as the text `ip rule`, `ip route show table
// N`, `nft list table ip pathpin` and `sysctl` would print for what pathpin owns. The
// golden files and the namespace tests compare this text.
func RenderState(s *State) string {
	var b strings.Builder
	b.WriteString("# ip rule\n")
	for _, r := range s.Rules {
		b.WriteString(r.String() + "\n")
	}
	b.WriteString("# ip route\n")
	for _, r := range s.Routes {
		b.WriteString(r.String() + "\n")
	}
	if s.NFT != nil {
		b.WriteString("# nft list table ip pathpin\n" + s.NFT.Render(false))
	}
	b.WriteString("# sysctl\n")
	for _, s := range s.Sysctls {
		fmt.Fprintf(&b, "%s = %s\n", strings.ReplaceAll(s.Key, "/", "."), s.Value)
	}
	if len(s.Addrs) > 0 {
		b.WriteString("# ip address (DHCP leases)\n")
		for _, a := range s.Addrs {
			b.WriteString(a.String() + "\n")
		}
	}
	return b.String()
}

// RenderChanges explains the changes as commented commands, one section
// for each kind of kernel state, so that a person learning connection
// marking can read it as a walk-through.
func RenderChanges(c *Changes) string {
	var b strings.Builder
	section := func(title string) { fmt.Fprintf(&b, "\n# === %s ===\n", title) }
	if len(c.Sysctls) > 0 {
		section("kernel settings")
		for _, s := range c.Sysctls {
			if dev, ok := mtuDevice(s.Key); ok {
				fmt.Fprintf(&b, "# %s\nip link set dev %s mtu %s    # was %q\n", s.Why, dev, s.Value, s.Old)
				continue
			}
			fmt.Fprintf(&b, "# %s\nsysctl -w %s=%s    # was %q\n", s.Why, strings.ReplaceAll(s.Key, "/", "."), s.Value, s.Old)
		}
	}
	if len(c.AddAddrs)+len(c.DelAddrs) > 0 {
		section("addresses: the DHCP leases'")
		for _, a := range c.AddAddrs {
			b.WriteString("ip address add " + a.String() + "\n")
		}
		for _, a := range c.DelAddrs {
			b.WriteString("ip address del " + a.String() + "\n")
		}
	}
	if len(c.AddRoutes)+len(c.DelRoutes) > 0 {
		section("routing tables: one per uplink")
		b.WriteString("# Each uplink has its own table: its default route, plus the connected\n" +
			"# routes so replies to LAN clients route inside it. A table whose uplink\n" +
			"# is down holds only 'unreachable default', so its connections fail fast.\n")
		for _, r := range c.AddRoutes {
			b.WriteString("ip route replace " + routeArgs(r) + "\n")
		}
		for _, r := range c.DelRoutes {
			b.WriteString("ip route del " + routeArgs(r) + "\n")
		}
	}
	if len(c.AddRules)+len(c.DelRules) > 0 {
		section("policy rules: which table a packet uses")
		b.WriteString("# 'fwmark' rules send each connection's packets to its uplink's table;\n" +
			"# 'from' rules keep traffic the router sends from an uplink's address on it;\n" +
			"# the last two give the router's own unbound connections the preferred\n" +
			"# uplink (the main table's default route is skipped, its other routes kept).\n")
		for _, r := range c.AddRules {
			b.WriteString("ip rule add " + ruleArgs(r) + "\n")
		}
		for _, r := range c.DelRules {
			b.WriteString("ip rule del " + ruleArgs(r) + "\n")
		}
	}
	if n := c.NFT; n != nil {
		if n.Want == nil {
			section("nftables: table ip pathpin (removed)")
			b.WriteString("delete table ip pathpin\n")
		} else {
			section("nftables: table ip pathpin (written whole, in one transaction)")
			b.WriteString("# Marks: a connection's mark is restored from conntrack for every packet;\n" +
				"# a new connection gets one (by weight: one random number, one lookup),\n" +
				"# which is saved in conntrack. MSS clamping and NAT per uplink. nft -f\n" +
				"# accepts this text.\n")
			b.WriteString(n.Want.Render(true))
			if n.Have != nil {
				b.WriteString("# How it differs from the table in the kernel (- there now, + to come):\n")
				for _, l := range strings.Split(strings.TrimSuffix(textdiff.Diff(n.Have.Render(false), n.Want.Render(false)), "\n"), "\n") {
					if !strings.HasPrefix(l, "  ") {
						b.WriteString("# " + l + "\n")
					}
				}
			}
		}
	}
	return strings.TrimLeft(b.String(), "\n")
}

func routeArgs(r Route) string {
	s := strings.TrimPrefix(r.String(), fmt.Sprintf("table %d ", r.Table))
	return fmt.Sprintf("%s table %d", s, r.Table)
}

func ruleArgs(r Rule) string {
	var parts []string
	if r.Src.IsValid() {
		parts = append(parts, "from "+r.Src.String())
	}
	if r.Mark != 0 || r.Mask != 0 {
		parts = append(parts, fmt.Sprintf("fwmark %#x/%#x", r.Mark, r.Mask))
	}
	parts = append(parts, fmt.Sprintf("lookup %s", tableName(r.Table)))
	if r.SuppressDefault {
		parts = append(parts, "suppress_prefixlength 0")
	}
	parts = append(parts, fmt.Sprintf("priority %d", r.Priority))
	return strings.Join(parts, " ")
}
