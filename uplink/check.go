package uplink

import (
	"context"
	"fmt"
	"net/netip"
	"slices"
	"strings"

	"github.com/google/nftables"
	"github.com/pathpin/pathpin/internal/cgroup"
	"github.com/pathpin/pathpin/internal/config"
	"github.com/pathpin/pathpin/internal/nft"
	"github.com/vishvananda/netlink"
)

// Severity grades a Finding.
type Severity int

// Severities, mildest first.
const (
	Info Severity = iota
	Warning
	Problem
)

func (s Severity) String() string {
	return [...]string{"ok", "warning", "error"}[s]
}

// A Finding is one thing `pathpin check` reports.
type Finding struct {
	Severity Severity
	Text     string // what is the case and, when it is wrong, how to fix it
}

// Check inspects the host for what the configuration needs: the kernel
// features pathpin uses, the interfaces it names, and clashes with rules,
// tables and marks other tools already use.
func (e *Engine) Check(ctx context.Context, cfg *config.Config) ([]Finding, error) {
	var out []Finding
	add := func(s Severity, format string, args ...any) {
		out = append(out, Finding{Severity: s, Text: fmt.Sprintf(format, args...)})
	}
	p, err := e.Plan(ctx, Input{Config: cfg})
	if err != nil {
		return nil, fmt.Errorf("reading the host's state: %w", err)
	}
	add(Info, "policy routing: ip rules and routing tables readable through netlink")

	if e.Tables == nil {
		return nil, errNoBackend
	}
	if err := e.Tables.Check(p.Desired.NFT); err != nil {
		add(Problem, "nftables cannot load pathpin's table; the kernel may lack conntrack marks, numgen or NAT: %v", err)
	} else {
		add(Info, "nftables accepts pathpin's table (connection marks, numgen balancing, NAT), written in one transaction")
	}
	for _, pol := range cfg.Policies {
		if len(pol.Match.Domains) > 0 {
			add(Info, "policy %s reads the DNS answers that pass through the router; a dnsmasq on the router fills its set too with: %s", pol.Name, DnsmasqLine(pol.Name, pol.Match.Domains))
		}
	}
	if len(cfg.Programs) > 0 || slices.ContainsFunc(cfg.Policies, func(p config.Policy) bool { return p.Match.Program != "" }) {
		if l, err := cgroup.Detect(); err != nil {
			add(Problem, "programs: and pathpin exec need cgroup v2: %v", err)
		} else {
			add(Info, "cgroup v2 at %s for programs and pathpin exec (systemd: %t)", l.Root, l.Systemd)
		}
		probe := &nft.Table{Chains: []nft.Chain{{Name: "exec", Rules: []nft.Rule{{Cgroup: &nft.CgroupMatch{Level: 1, ID: 1}, Drop: true}}}}}
		if err := e.Tables.Check(probe); err != nil {
			add(Problem, "nftables cannot match a program's connections (socket cgroupv2): load nft_socket: %v", err)
		}
	}
	if old, err := findLegacyChains(e.Legacy); err == nil {
		for _, c := range old {
			add(Warning, "%s was left by an older pathpin (with an iptables backend): pathpin down removes it", c)
		}
	}

	for _, lan := range cfg.LAN.Interfaces {
		if _, ok := p.snap.Facts.index[lan]; !ok {
			add(Problem, "LAN interface %s does not exist; fix lan.interfaces in %s", lan, cfg.Path)
		}
	}
	for _, st := range p.Statuses {
		switch {
		case st.Up():
			add(Info, "uplink %s: up on %s, address %s, gateway %s", st.Name, st.Device, st.Local, st.Gateway)
		case st.Uplink.IsPPPoE():
			add(Info, "uplink %s: %s (pathpin up brings PPPoE uplinks up)", st.Name, st.Reason)
		case st.Uplink.IsDHCP() && st.Reason.Cause == NoAddress:
			add(Info, "uplink %s: %s (pathpin up keeps DHCP leases)", st.Name, st.Reason)
		default:
			add(Warning, "uplink %s: %s; it gets no connections until that is fixed", st.Name, st.Reason)
		}
	}

	if cfg.Protect.LAN {
		add(Info, "protect.lan: new connections from the uplinks' side are dropped unless port-forwarded, and spoofed sources too")
	} else if other := otherForwardFilter(); other != "" {
		add(Info, "protect.lan is off; %s filters forwarded traffic: make sure it drops new connections from the uplinks' side", other)
	} else {
		add(Warning, "protect.lan is off and nothing else filters forwarded traffic: with forwarding on, anything on an uplink's side (the ISP router's Wi-Fi included) that routes the LAN's prefix at this router reaches every LAN device, and one ISP's segment can route through to the other. Delete protect.lan: false from %s", cfg.Path)
	}
	var uplinkAddrs []netip.Addr
	for _, st := range p.Statuses {
		if st.Local.IsValid() {
			uplinkAddrs = append(uplinkAddrs, st.Local)
		}
	}
	if open := listening(uplinkAddrs); len(open) > 0 {
		if cfg.Protect.Router {
			add(Info, "listening where the uplinks' side can reach: %s; protect.router drops new connections to them but for allow-in", strings.Join(open, ", "))
		} else {
			add(Warning, "listening where the uplinks' side can reach: %s; set protect.router: true (with allow-in for what must stay open) in %s to close them", strings.Join(open, ", "), cfg.Path)
		}
	}

	if v, _ := e.Sysctl.Get("net/ipv4/ip_forward"); v != "1" {
		add(Info, "net.ipv4.ip_forward is %q; pathpin apply sets it to 1 (and down puts it back)", v)
	}
	for _, s := range p.Desired.Sysctls {
		if s.Key != "net/ipv4/ip_forward" {
			add(Info, "%s is strict; pathpin apply makes it loose (2) so replies on the uplink's own table are not dropped", s.Key)
		}
	}

	rules, err := e.NL.RuleList(netlink.FAMILY_V4)
	if err != nil {
		return nil, fmt.Errorf("listing ip rules: %w", err)
	}
	tables := tablesOf(cfg)
	for _, r := range rules {
		inBand := r.Priority >= PrioFirst && r.Priority <= PrioLast
		// A rule pathpin itself wants (the router's own one looks up main)
		// is pathpin's, whatever table it names.
		desired := slices.ContainsFunc(p.Desired.Rules, func(d Rule) bool { return d.Priority == r.Priority && d.Table == r.Table })
		if inBand && !slices.Contains(tables, r.Table) && !desired {
			add(Problem, "ip rule priority %d (lookup %d) is in pathpin's band %d-%d but not pathpin's; another tool uses it: remove it or move that tool", r.Priority, r.Table, PrioFirst, PrioLast)
		}
		if !inBand && slices.Contains(tables, r.Table) && r.Table != 0 {
			add(Problem, "ip rule priority %d already looks up table %d, which pathpin uses for an uplink; set another table: in %s", r.Priority, r.Table, cfg.Path)
		}
	}
	if len(p.Live.Rules) == 0 && len(p.Live.Routes) > 0 {
		add(Problem, "routing table %d already has routes, and pathpin has not run here; pick free tables with table: in %s", p.Live.Routes[0].Table, cfg.Path)
	}
	marks, err := e.FindMarkUsers(ctx)
	if err != nil {
		return nil, err
	}
	return append(out, MarkFindings(cfg, marks)...), nil
}

// otherForwardFilter names another nftables chain (iptables-nft's
// included) on the forward hook that drops by policy or holds rules, ""
// when there is none.
func otherForwardFilter() string {
	c, err := nftables.New()
	if err != nil {
		return ""
	}
	chains, err := c.ListChains()
	if err != nil {
		return ""
	}
	for _, ch := range chains {
		if ch.Table == nil || ch.Table.Name == nft.TableName || ch.Hooknum == nil || *ch.Hooknum != *nftables.ChainHookForward {
			continue
		}
		if ch.Policy != nil && *ch.Policy == nftables.ChainPolicyDrop {
			return fmt.Sprintf("chain %s of table %s (policy drop)", ch.Name, ch.Table.Name)
		}
		if rules, err := c.GetRules(ch.Table, ch); err == nil && len(rules) > 0 {
			return fmt.Sprintf("chain %s of table %s", ch.Name, ch.Table.Name)
		}
	}
	return ""
}
