package uplink

import (
	"fmt"
	"math"
	"net/netip"
	"strconv"

	"github.com/pathpin/pathpin/internal/config"
)

// pathpin's iptables chains. Each hangs off one jump from a built-in chain.
const (
	ChainPrerouting  = "PATHPIN-PREROUTING"
	ChainOutput      = "PATHPIN-OUTPUT"
	ChainForward     = "PATHPIN-FORWARD"
	ChainBalance     = "PATHPIN-BALANCE"
	ChainPostrouting = "PATHPIN-POSTROUTING"
)

// ownedChains lists every chain pathpin may create, with its jump.
var ownedChains = []Jump{
	{Table: "mangle", Chain: "PREROUTING", Target: ChainPrerouting},
	{Table: "mangle", Chain: "OUTPUT", Target: ChainOutput},
	{Table: "mangle", Chain: "FORWARD", Target: ChainForward},
	{Table: "mangle", Target: ChainBalance},
	{Table: "nat", Chain: "POSTROUTING", Target: ChainPostrouting},
}

// Desired computes the state pathpin wants for the uplinks in statuses.
func Desired(cfg *config.Config, facts *Facts, statuses []Status) *State {
	s := &State{}
	for i, st := range statuses {
		s.Routes = append(s.Routes, tableRoutes(st, facts)...)
		u := st.Uplink
		s.Rules = append(s.Rules, Rule{Priority: PrioMark + i, Mark: u.Mark, Mask: cfg.MarkMask, Table: u.Table})
		if st.Routable {
			s.Rules = append(s.Rules, Rule{Priority: PrioFrom + i, Src: netip.PrefixFrom(st.Local, 32), Table: u.Table})
		}
	}
	if pref := RouterUplink(statuses); pref != nil {
		s.Rules = append(s.Rules,
			Rule{Priority: PrioMainSpecific, Table: TableMain, SuppressDefault: true},
			Rule{Priority: PrioRouterDefault, Table: pref.Uplink.Table})
	}
	s.Chains = chains(cfg, facts, statuses)
	for _, j := range ownedChains {
		if j.Chain != "" {
			s.Jumps = append(s.Jumps, j)
		}
	}
	s.Sysctls = append(sysctls(statuses), leaseMTUs(cfg, facts)...)
	s.Addrs = desiredAddrs(cfg, facts)
	s.sort()
	return s
}

// RouterUplink is the uplink that carries the router's own unbound
// connections: the in-service uplink with the most weight (the first in
// the configuration on a tie), else the first in-service standby; nil when
// none is in service.
func RouterUplink(statuses []Status) *Status {
	var best *Status
	for i := range statuses {
		st := &statuses[i]
		if !st.Up() {
			continue
		}
		if best == nil || (best.Uplink.Weight == 0 && st.Uplink.Weight > 0) || st.Uplink.Weight > best.Uplink.Weight {
			best = st
		}
	}
	return best
}

// tableRoutes is an uplink's table: its default route and the connected
// routes while its interface has its address — also while it takes no new
// connections, on purpose: its probes leave by this table, and they must
// to see it recover (so the fast switch's redirect of a dead uplink's
// table lasts only until the next apply); an unreachable default once the
// interface or address is gone, so that connections still marked for it
// fail fast instead of leaving, unnoticed, by another uplink's NAT.
func tableRoutes(st Status, facts *Facts) []Route {
	t := st.Uplink.Table
	if !st.Routable {
		return []Route{{Table: t, Dst: defaultDst, Unreachable: true}}
	}
	def := Route{Table: t, Dst: defaultDst, Dev: st.Device, Src: st.Local}
	if st.Uplink.IsPPPoE() {
		def.LinkScope = true
	} else {
		def.Gw = st.Gateway
	}
	routes := []Route{def}
	if l, ok := facts.Leases[st.Name]; ok {
		for _, r := range l.Routes {
			routes = append(routes, Route{Table: t, Dst: r.Dst, Gw: r.Gw, Dev: st.Device, Src: st.Local, LinkScope: !r.Gw.IsValid()})
		}
	}
	for _, c := range facts.Connected {
		c.Table = t
		routes = append(routes, c)
	}
	return routes
}

var defaultDst = netip.MustParsePrefix("0.0.0.0/0")

// chains renders pathpin's iptables chains.
func chains(cfg *config.Config, facts *Facts, statuses []Status) []Chain {
	mask := fmt.Sprintf("%#x", cfg.MarkMask)
	unmarked := "-m mark --mark 0x0/" + mask
	marked := "-m mark ! --mark 0x0/" + mask
	restore := "-j CONNMARK --restore-mark --nfmask " + mask + " --ctmask " + mask
	save := marked + " -j CONNMARK --save-mark --nfmask " + mask + " --ctmask " + mask
	setMark := func(m uint32) string { return fmt.Sprintf("-j MARK --set-xmark %#x/%s", m, mask) }

	pre := Chain{Table: "mangle", Name: ChainPrerouting}
	pre.add(restore, "every packet of a known connection gets the connection's uplink mark back")
	pre.add(marked+" -j RETURN", "known connection: its mark is set, nothing more to decide")
	for _, st := range statuses {
		if st.Up() {
			pre.add(fmt.Sprintf("-i %s -m conntrack --ctstate NEW %s", st.Device, setMark(st.Uplink.Mark)),
				fmt.Sprintf("a new connection arriving on %s (inbound, port forwards) stays on %s so replies leave by it", st.Device, st.Name))
		}
	}
	for _, lan := range cfg.LAN.Interfaces {
		pre.add(fmt.Sprintf("-i %s -m conntrack --ctstate NEW -j %s", lan, ChainBalance),
			fmt.Sprintf("a new connection from a LAN client on %s gets an uplink by weight", lan))
	}
	pre.add(save, "remember the chosen mark in conntrack for the connection's later packets")

	out := Chain{Table: "mangle", Name: ChainOutput}
	out.add(restore, "the router's own connections: restore the mark as in PREROUTING")
	out.add(marked+" -j RETURN", "known connection")
	out.add("-o lo -j RETURN", "loopback traffic is never balanced")
	for _, lan := range cfg.LAN.Interfaces {
		out.add("-o "+lan+" -j RETURN", "traffic to LAN clients is never balanced")
	}
	for _, st := range statuses {
		if st.Up() {
			out.add(fmt.Sprintf("-s %s/32 -m conntrack --ctstate NEW %s", st.Local, setMark(st.Uplink.Mark)),
				fmt.Sprintf("a connection bound to %s's address %s stays on %s", st.Name, st.Local, st.Name))
		}
	}
	out.add("-m conntrack --ctstate NEW -j "+ChainBalance, "any other new connection of the router's own gets an uplink by weight")
	out.add(save, "remember the chosen mark in conntrack")

	bal := Chain{Table: "mangle", Name: ChainBalance}
	picks := balance(statuses)
	for i, p := range picks {
		spec := unmarked
		comment := fmt.Sprintf("%s takes %d/%d of new connections", p.status.Name, p.weight, p.total)
		if i < len(picks)-1 {
			spec += " -m statistic --mode random --probability " + probability(p.probability)
			comment += fmt.Sprintf(" (probability %.4f among those not yet marked)", p.probability)
		} else {
			comment += " (everything not yet marked)"
		}
		bal.add(spec+" "+setMark(p.status.Uplink.Mark), comment)
	}

	fwd := Chain{Table: "mangle", Name: ChainForward}
	post := Chain{Table: "nat", Name: ChainPostrouting}
	for _, st := range statuses {
		if !st.Up() {
			continue
		}
		switch mss, why := mssClamp(cfg, facts, st); {
		case mss == clampToRoute:
			fwd.add(fmt.Sprintf("-o %s -p tcp -m tcp --tcp-flags SYN,RST SYN -j TCPMSS --clamp-mss-to-pmtu", st.Device), why)
		case mss > 0:
			fwd.add(fmt.Sprintf("-o %s -p tcp -m tcp --tcp-flags SYN,RST SYN -j TCPMSS --set-mss %d", st.Device, mss), why)
		}
		if st.Uplink.IsPPPoE() {
			post.add(fmt.Sprintf("-o %s -j MASQUERADE", st.Device),
				fmt.Sprintf("%s's address changes on every reconnect: masquerade with whatever it is", st.Name))
		} else {
			post.add(fmt.Sprintf("-o %s -j SNAT --to-source %s", st.Device, st.Local),
				fmt.Sprintf("leave %s with its own address %s", st.Name, st.Local))
		}
	}
	return []Chain{pre, out, fwd, bal, post}
}

func (c *Chain) add(spec, comment string) {
	c.Rules = append(c.Rules, Rule4{Spec: "-A " + c.Name + " " + spec, Comment: comment})
}

type pick struct {
	status        Status
	weight, total int
	probability   float64 // of this rule matching, given the earlier ones did not
}

// balance shares new connections among the uplinks that are up, by
// weight. Standby uplinks (weight 0) share equally, and only while no
// weighted uplink is up.
func balance(statuses []Status) []pick {
	var active []pick
	for _, st := range statuses {
		if st.Up() && st.Uplink.Weight > 0 {
			active = append(active, pick{status: st, weight: st.Uplink.Weight})
		}
	}
	if len(active) == 0 {
		for _, st := range statuses {
			if st.Up() {
				active = append(active, pick{status: st, weight: 1})
			}
		}
	}
	total := 0
	for _, p := range active {
		total += p.weight
	}
	remaining := total
	for i := range active {
		active[i].total = total
		active[i].probability = float64(active[i].weight) / float64(remaining)
		remaining -= active[i].weight
	}
	return active
}

// probability renders p as iptables-save prints it: xt_statistic keeps
// round(p·2³¹) and prints that back with 11 decimals.
func probability(p float64) string {
	q := math.Round(p * 0x80000000)
	return fmt.Sprintf("%.11f", q/0x80000000)
}

// leaseMTUs set each DHCP interface's MTU to its lease's (option 26); the
// MSS clamp follows it (it clamps to the route's MTU).
func leaseMTUs(cfg *config.Config, facts *Facts) []Sysctl {
	var out []Sysctl
	for _, u := range cfg.Uplinks {
		if l, ok := facts.Leases[u.Name]; ok && l.MTU > 0 && facts.index[u.Interface] != 0 {
			out = append(out, Sysctl{Key: mtuKey(u.Interface), Value: strconv.Itoa(l.MTU), Why: "the MTU " + u.Name + "'s DHCP lease gives its interface (option 26)"})
		}
	}
	return out
}

// sysctls are the kernel settings forwarding through uplinks needs.
func sysctls(statuses []Status) []Sysctl {
	out := []Sysctl{{Key: "net/ipv4/ip_forward", Value: "1", Why: "route LAN clients' packets to the uplinks"}}
	for _, st := range statuses {
		// Routable, not only in service: a dead uplink's probe replies
		// must pass the filter for it to be seen recovering.
		if st.Routable {
			out = append(out, Sysctl{Key: "net/ipv4/conf/" + st.Device + "/rp_filter", Value: "2",
				Why: "loose reverse-path filter: with one routing table per uplink, strict mode drops valid replies"})
		}
	}
	return out
}
