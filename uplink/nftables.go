package uplink

import (
	"fmt"
	"slices"
	"strings"

	"github.com/pathpin/pathpin/internal/config"
	"github.com/pathpin/pathpin/internal/nft"
)

// NFTables is the part of *nft.Conn the engine uses: pathpin's whole table,
// written in one transaction and read back structurally.
type NFTables interface {
	Apply(t *nft.Table) error
	// Update makes the table want from have, touching only what differs.
	Update(have, want *nft.Table) error
	Check(t *nft.Table) error
	Read() (*nft.Table, error)
	// Sticky reads a sticky set's sources now (a read does not hold
	// them: the packet path changes them).
	Sticky(set string) ([]nft.Entry, error)
	Close() error
}

var _ NFTables = (*nft.Conn)(nil)

// OpenTables opens pathpin's firewall, its own nftables table, after
// checking that the kernel runs every expression the table uses. nftables
// is pathpin's one firewall: other software's iptables rules, legacy or
// nft, live in other tables and hooks beside it.
func OpenTables() (NFTables, error) {
	c, err := nft.Open()
	if err != nil {
		return nil, fmt.Errorf("opening nftables: %w (pathpin needs a kernel with nf_tables: CONFIG_NF_TABLES)", err)
	}
	if err := c.Supported(); err != nil {
		c.Close()
		return nil, fmt.Errorf("the kernel cannot run pathpin's nftables table (it needs nf_tables with conntrack marks, numgen and NAT: CONFIG_NF_TABLES, CONFIG_NFT_CT, CONFIG_NFT_NUMGEN, CONFIG_NFT_NAT): %w", err)
	}
	return c, nil
}

// Chain priorities of pathpin's table, and why:
//   - prerouting, output and forward at mangle (-150): the marks are set
//     where iptables' mangle table sets them, after conntrack (-200) has
//     found the connection and before routing decides by the mark; other
//     software's iptables-nft mangle rules run at the same point.
//   - postrouting at srcnat (100): source NAT where iptables' nat table
//     does it, after routing chose the uplink.
//   - output is a route chain: a mark set there re-routes the packet.
const (
	prioMangle = -150
	prioSrcNAT = 100
)

// markChain is the chain that gives a new connection uplink u's mark.
func markChain(u *config.Uplink) string { return "to_" + u.Name }

// nftDesired is pathpin's table for the uplinks in statuses: marks restored
// from conntrack, new connections balanced with numgen and a verdict map,
// the MSS clamp and NAT per uplink.
func nftDesired(cfg *config.Config, facts *Facts, statuses []Status) *nft.Table {
	mask := cfg.MarkMask
	t := &nft.Table{}
	for _, st := range statuses {
		u := st.Uplink
		t.Chains = append(t.Chains, nft.Chain{Name: markChain(u), Rules: []nft.Rule{{
			SetMark: &nft.MarkSet{Mask: mask, Value: u.Mark}, Comment: fmt.Sprintf("a new connection goes to %s: its mark %#x", u.Name, u.Mark)}}})
	}
	restore := func() []nft.Rule {
		// First: a packet that already carries bits of pathpin's mask
		// (a probe's socket mark, or another program's mark inside the
		// mask) is not pathpin's to steer, not even back to its
		// connection's uplink: its bits stay as they came.
		rs := []nft.Rule{{Mark: &nft.MarkMatch{Mask: mask, Not: true}, Return: true, Comment: "a packet already marked inside pathpin's mask (a probe's socket mark, another program's) keeps that mark"}}
		for _, st := range statuses {
			m := st.Uplink.Mark
			// Return: a known connection is done, and every packet of one
			// is evaluated this far and no further.
			rs = append(rs, nft.Rule{CtMark: &nft.MarkMatch{Mask: mask, Value: m}, SetMark: &nft.MarkSet{Mask: mask, Value: m}, Return: true,
				Comment: fmt.Sprintf("every packet of a connection on %s gets its mark back from conntrack; nothing more to decide", st.Name)})
		}
		return rs
	}
	save := func() []nft.Rule {
		var rs []nft.Rule
		for _, st := range statuses {
			m := st.Uplink.Mark
			rs = append(rs, nft.Rule{Mark: &nft.MarkMatch{Mask: mask, Value: m}, SetCtMark: &nft.MarkSet{Mask: mask, Value: m},
				Comment: fmt.Sprintf("remember %s's mark in conntrack for the connection's later packets", st.Name)})
		}
		return rs
	}

	up := inService(statuses)
	steering := steer(cfg, statuses, facts.Cgroups.Programs)
	bal := nft.Chain{Name: "balance"}
	if picks := balance(statuses); len(picks) > 0 {
		// The sticky balance's sets are the balance's: named with an
		// empty policy, which no policy's name is.
		bal.Rules = steering.pick(mask, "", cfg.Balance.Sticky, picks, "the balance")
	}

	pre := nft.Chain{Name: "prerouting", Type: "filter", Hook: "prerouting", Priority: prioMangle, Rules: restore()}
	for _, st := range statuses {
		if st.Up() {
			pre.Rules = append(pre.Rules, nft.Rule{IIf: st.Device, CtNew: true, Jump: markChain(st.Uplink),
				Comment: fmt.Sprintf("a new connection arriving on %s (inbound, port forwards) stays on %s so replies leave by it", st.Device, st.Name)})
		}
	}
	for _, lan := range cfg.LAN.Interfaces {
		if steering.lanSteered[lan] {
			pre.Rules = append(pre.Rules, nft.Rule{IIf: lan, CtNew: true, Jump: steerChain(lanSteer(lan)),
				Comment: fmt.Sprintf("a new connection from a LAN client on %s that a policy matches takes the policy's uplink", lan)})
		}
		pre.Rules = append(pre.Rules, nft.Rule{IIf: lan, CtNew: true, Jump: "balance",
			Comment: fmt.Sprintf("a new connection from a LAN client on %s gets an uplink by weight", lan)})
	}
	pre.Rules = append(pre.Rules, save()...)

	out := nft.Chain{Name: "output", Type: "route", Hook: "output", Priority: prioMangle, Rules: restore()}
	out.Rules = append(out.Rules, nft.Rule{OIf: "lo", Return: true, Comment: "loopback traffic is never balanced"})
	for _, lan := range cfg.LAN.Interfaces {
		out.Rules = append(out.Rules, nft.Rule{OIf: lan, Return: true, Comment: "traffic to LAN clients is never balanced"})
	}
	if xs := execRules(cfg, facts.Cgroups.Execs, up); len(xs) > 0 {
		out.Rules = append(out.Rules, nft.Rule{CtNew: true, Jump: execChain,
			Comment: "a new connection of a command pathpin exec runs leaves by the uplink it was given (local and LAN destinations are not steered: see above)"})
		steering.chains = append(steering.chains, nft.Chain{Name: execChain, Rules: xs})
	}
	if steering.routerJmp {
		// Before the source-address rules: an unbound socket has its
		// source from the main table's route already, and a policy says
		// more than that choice (the source is rewritten on the way out).
		out.Rules = append(out.Rules, nft.Rule{CtNew: true, Jump: steerChain(routerSteer),
			Comment: "a new connection of the router's own that a policy (router: true) matches takes the policy's uplink, whatever source the kernel picked"})
	}
	for _, st := range statuses {
		if st.Up() {
			out.Rules = append(out.Rules, nft.Rule{SAddr: st.Local, CtNew: true, Mark: &nft.MarkMatch{Mask: mask}, Jump: markChain(st.Uplink),
				Comment: fmt.Sprintf("a connection bound to %s's address %s stays on %s", st.Name, st.Local, st.Name)})
		}
	}
	// Only what the routing sends out of an uplink: a connection routed
	// into a tunnel (wg-quick), a container bridge or Tailscale's link is
	// that software's.
	var devs []string
	for _, st := range statuses {
		if st.Device != "" && !slices.Contains(devs, st.Device) {
			devs = append(devs, st.Device)
		}
	}
	for _, dev := range devs {
		out.Rules = append(out.Rules, nft.Rule{OIf: dev, CtNew: true, Jump: "balance",
			Comment: fmt.Sprintf("any other new connection of the router's own that the routing sends out of %s gets an uplink by weight (one routed elsewhere, into a tunnel or a container bridge, is left alone)", dev)})
	}
	out.Rules = append(out.Rules, save()...)

	fwd := nft.Chain{Name: "forward", Type: "filter", Hook: "forward", Priority: prioMangle}
	post := nft.Chain{Name: "postrouting", Type: "nat", Hook: "postrouting", Priority: prioSrcNAT}
	for _, st := range statuses {
		if !st.Up() {
			continue
		}
		if mss, why := mssClamp(cfg, facts, st); mss != noClamp {
			fwd.Rules = append(fwd.Rules, nft.Rule{OIf: st.Device, TCPSyn: true, ClampMSS: mss, Comment: why})
		}
		if st.Uplink.IsPPPoE() {
			post.Rules = append(post.Rules, nft.Rule{OIf: st.Device, Masquerade: true,
				Comment: fmt.Sprintf("%s's address changes on every reconnect: masquerade with whatever it is", st.Name)})
		} else {
			post.Rules = append(post.Rules, nft.Rule{OIf: st.Device, SNAT: st.Local,
				Comment: fmt.Sprintf("leave %s with its own address %s", st.Name, st.Local)})
		}
	}
	t.Chains = append(t.Chains, steering.chains...)
	t.Chains = append(t.Chains, bal, pre, out)
	if len(fwd.Rules) > 0 {
		// No clamp needed: no hook either, so forwarded packets skip it.
		t.Chains = append(t.Chains, fwd)
	}
	t.Chains = append(t.Chains, post)
	t.Chains = append(t.Chains, protectChains(cfg, facts)...)
	t.Chains = append(t.Chains, dnsAnswers(cfg)...)
	t.Chains = append(t.Chains, dhcpNoTrack(cfg)...)
	t.Chains = append(t.Chains, usageChains(cfg)...)
	t.Sets = steering.sets
	slices.SortFunc(t.Sets, func(a, b nft.Set) int { return strings.Compare(a.Name, b.Name) })
	return t
}

// dnsAnswers holds the DNS answers that pass through the router (to a
// LAN client, or to the router's own resolver; not those a LAN host sends
// out) in pathpin's nfqueue
// until their addresses are in the domain policies' sets; bypass lets them
// go on when pathpin is not reading. Only replies of tracked queries are
// read: an answer nobody asked for is not let into a set. None without a
// domain policy.
func dnsAnswers(cfg *config.Config) []nft.Chain {
	if !cfg.HasDomains() {
		return nil
	}
	rules := func(oifs []string, to string) []nft.Rule {
		var rs []nft.Rule
		for _, oif := range oifs {
			for _, proto := range []string{"udp", "tcp"} {
				rs = append(rs, nft.Rule{OIf: oif, SrcPort: &nft.L4Port{Proto: proto, Port: 53}, CtReply: true, Queue: &nft.QueueTo{Num: cfg.DNS.Queue},
					Comment: fmt.Sprintf("a DNS answer over %s to %s waits until pathpin has put its addresses in the domain sets (with pathpin not reading, it goes on)", proto, to)})
			}
		}
		return rs
	}
	var fwd, out []nft.Rule
	for _, lan := range cfg.LAN.Interfaces {
		fwd = append(fwd, rules([]string{lan}, "a LAN client on "+lan)...)
		// A resolver on the router answers from its cache too: those
		// answers never passed input.
		out = append(out, rules([]string{lan}, "a LAN client on "+lan+" from the router's own resolver")...)
	}
	return []nft.Chain{
		{Name: "dns_forward", Type: "filter", Hook: "forward", Priority: prioDNS, Rules: fwd},
		{Name: "dns_input", Type: "filter", Hook: "input", Priority: prioDNS, Rules: rules([]string{""}, "the router's own resolver")},
		{Name: "dns_output", Type: "filter", Hook: "output", Priority: prioDNS, Rules: out},
	}
}

// prioDNS reads DNS answers after conntrack (-200) has placed them and
// after pathpin's other forward chain (-150): last of the mangle stage.
const prioDNS = -140

// prioRaw is where conntrack has not yet seen a packet (-300, before its
// -200): a notrack there keeps the packet out of it.
const prioRaw = -300

// dhcpNoTrack keeps each DHCP uplink's own client traffic out of
// conntrack and so out of NAT: its renewals and release always leave from
// port 68 to 67, whatever entry a server's earlier unicast answer left
// behind (one forwarded before the uplink had its address clashes with
// the renewal, which then left from a rewritten port), and the server's
// answers reach the client as sent. None without a DHCP uplink.
func dhcpNoTrack(cfg *config.Config) []nft.Chain {
	in := nft.Chain{Name: "raw_prerouting", Type: "filter", Hook: "prerouting", Priority: prioRaw}
	out := nft.Chain{Name: "raw_output", Type: "filter", Hook: "output", Priority: prioRaw}
	for i := range cfg.Uplinks {
		u := &cfg.Uplinks[i]
		if !u.IsDHCP() {
			continue
		}
		in.Rules = append(in.Rules, nft.Rule{IIf: u.Interface, UDP: &nft.UDPPorts{Src: 67, Dst: 68}, NoTrack: true,
			Comment: fmt.Sprintf("DHCP answers to %s's client are not tracked: they reach it as the server sent them", u.Name)})
		out.Rules = append(out.Rules, nft.Rule{OIf: u.Interface, UDP: &nft.UDPPorts{Src: 68, Dst: 67}, NoTrack: true,
			Comment: fmt.Sprintf("%s's own DHCP messages are not tracked, so never NATed: they leave from port 68", u.Name)})
	}
	if len(in.Rules) == 0 {
		return nil
	}
	return []nft.Chain{in, out}
}

func gcd(a, b int) int {
	for b != 0 {
		a, b = b, a%b
	}
	return a
}

// NFTChange rewrites pathpin's nftables table: Want replaces Have whole
// (a nil Want deletes the table).
type NFTChange struct {
	Want, Have *nft.Table
}
