package config

import (
	"net"
	"net/netip"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/pathpin/pathpin/internal/ipv4"
	"gopkg.in/yaml.v3"
)

type rawPolicy struct {
	Name      string         `yaml:"name"`
	Match     *rawMatch      `yaml:"match"`
	Via       yaml.Node      `yaml:"via"`
	Sticky    *time.Duration `yaml:"sticky"`
	Otherwise string         `yaml:"otherwise"`
}

type rawMatch struct {
	Source      stringList `yaml:"source"`
	Destination stringList `yaml:"destination"`
	Protocol    string     `yaml:"protocol"`
	Port        stringList `yaml:"port"`
	MAC         stringList `yaml:"mac"`
	Interface   stringList `yaml:"interface"`
	Router      bool       `yaml:"router"`
	Domains     stringList `yaml:"domains"`
	Program     string     `yaml:"program"`
}

type rawBalance struct {
	Sticky *time.Duration `yaml:"sticky"`
}

// stringList is a list of scalars, or one scalar for a list of one.
type stringList []string

// UnmarshalYAML takes `port: 22` as well as `port: [22, 443]`.
func (l *stringList) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind == yaml.ScalarNode {
		*l = stringList{n.Value}
		return nil
	}
	var s []string
	if err := n.Decode(&s); err != nil {
		return err
	}
	*l = s
	return nil
}

// Limits on policies, so that one file cannot ask the kernel for a
// classification map it takes long to build.
const (
	maxPolicies = 1000
	// maxPolicyElements bounds one policy's elements: the product of its
	// fields' value counts.
	maxPolicyElements = 4096
	// maxElements bounds them all: the maps the kernel holds for every
	// LAN interface.
	maxElements = 65536
	minSticky   = time.Second
	maxSticky   = 7 * 24 * time.Hour
)

var policyName = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,23}$`)

// policies validates the policies: section; uplinks are the configured
// ones, lan the LAN interfaces.
func (v *validator) policies(raw []rawPolicy, uplinks []Uplink, lan map[string]bool, programs []Program) []Policy {
	if len(raw) > maxPolicies {
		v.fail([]any{"policies"}, "%d policies; pathpin takes at most %d", len(raw), maxPolicies)
		return nil
	}
	var out []Policy
	names := map[string]int{}
	total := 0
	for i := range raw {
		p, ok := v.policy(i, &raw[i], uplinks, lan, programs)
		if !ok {
			continue
		}
		if j, dup := names[p.Name]; dup {
			v.fail([]any{"policies", i, "name"}, "%q is also the name of policies[%d]; each policy needs its own", p.Name, j)
			continue
		}
		names[p.Name] = i
		shadowed := false
		for _, q := range out {
			if q.Match.Contains(&p.Match) {
				v.fail([]any{"policies", i, "match"}, "this policy can never match: every connection it matches, policy %q above matches first; move it above %q or narrow %q", q.Name, q.Name, q.Name)
				shadowed = true
				break
			}
		}
		if !shadowed {
			out = append(out, p)
			// A LAN policy with no interface: is in the maps of every
			// LAN interface.
			copies := 1
			if !p.Match.Router && len(p.Match.Interfaces) == 0 {
				copies = len(lan)
			}
			total += p.Match.elements() * copies
		}
	}
	if total > maxElements {
		v.fail([]any{"policies"}, "the policies are %d combinations of their values in all; pathpin takes at most %d: use ranges or prefixes", total, maxElements)
	}
	return out
}

func (v *validator) policy(i int, r *rawPolicy, uplinks []Uplink, lan map[string]bool, programs []Program) (Policy, bool) {
	at := func(keys ...any) []any { return append([]any{"policies", i}, keys...) }
	before := len(v.errs)
	p := Policy{Name: r.Name, Line: lineOf(v.root, at())}
	if !policyName.MatchString(r.Name) {
		v.fail(at("name"), "%q must be 1-24 lower-case letters, digits, - or _, starting with a letter or digit (e.g. phone)", r.Name)
	}
	if r.Match == nil {
		v.fail(at("match"), "a policy needs a match: source, destination, protocol, port, mac, interface, router, domains or program")
	} else {
		p.Match = v.match(at("match"), r.Match, lan, programs)
	}
	p.Tiers = v.via(at("via"), &r.Via, uplinks)
	if r.Sticky != nil {
		p.Sticky = *r.Sticky
		v.sticky(at("sticky"), p.Sticky)
	}
	switch r.Otherwise {
	case "", "balance":
	case "drop":
		p.Drop = true
	default:
		v.fail(at("otherwise"), "%q is not what to do when no uplink of the policy is in service; write drop (never leave by another line) or balance", r.Otherwise)
	}
	return p, len(v.errs) == before
}

func (v *validator) match(at []any, r *rawMatch, lan map[string]bool, programs []Program) Match {
	field := func(k string, more ...any) []any { return append(append(append([]any{}, at...), k), more...) }
	m := Match{Router: r.Router}
	if len(r.Source)+len(r.Destination)+len(r.Port)+len(r.MAC)+len(r.Interface)+len(r.Domains) == 0 && r.Protocol == "" && !r.Router && r.Program == "" {
		v.fail(at, "an empty match would take every connection; give at least one of source, destination, protocol, port, mac, interface, domains, program or router: true")
	}
	m.Domains = v.domains(field("domains"), r.Domains)
	if len(m.Domains) > 0 && len(r.Destination) > 0 {
		v.fail(field("destination"), "a policy with domains takes its destinations from the DNS answers for them; drop destination, or split it into two policies")
	}
	if r.Program != "" {
		m.Program = r.Program
		if !slices.ContainsFunc(programs, func(p Program) bool { return p.Name == r.Program }) {
			v.fail(field("program"), "%q is no entry of programs:; add `programs: [{name: %s}]` (pathpin exec --program %s -- COMMAND runs a command in it)", r.Program, r.Program, r.Program)
		}
		if len(r.MAC)+len(r.Interface) > 0 {
			v.fail(field("program"), "a program's connections are the router's own: they arrive on no interface and from no MAC; drop mac and interface")
		}
		// A program runs on the router: its connections are the
		// router's own.
		m.Router = true
	}
	m.Sources = v.addrRanges(field("source"), r.Source)
	m.Dests = v.addrRanges(field("destination"), r.Destination)
	switch r.Protocol {
	case "":
		if len(r.Port) > 0 {
			m.Protos = []uint8{6, 17}
		}
	case "tcp":
		m.Protos = []uint8{6}
	case "udp":
		m.Protos = []uint8{17}
	case "icmp":
		m.Protos = []uint8{1}
		if len(r.Port) > 0 {
			v.fail(field("port"), "ICMP has no ports; drop port or use protocol tcp or udp")
		}
	default:
		v.fail(field("protocol"), "%q is not a protocol pathpin steers by; write tcp, udp or icmp", r.Protocol)
	}
	for j, s := range r.Port {
		pr, ok := parsePortRange(s)
		if !ok {
			v.fail(field("port", j), "%q is not a port or a range of ports; write 443 or 10000-20000 (1-65535)", s)
			continue
		}
		for k, o := range m.Ports {
			if pr.overlaps(o) {
				v.fail(field("port", j), "%s overlaps %s (port[%d]); merge them into one range", pr, o, k)
			}
		}
		m.Ports = append(m.Ports, pr)
	}
	for j, s := range r.MAC {
		hw, err := net.ParseMAC(s)
		if err != nil || len(hw) != 6 {
			v.fail(field("mac", j), "%q is not an Ethernet address; write aa:bb:cc:dd:ee:ff", s)
			continue
		}
		for _, o := range m.MACs {
			if o.String() == hw.String() {
				v.fail(field("mac", j), "%s is listed twice", hw)
			}
		}
		m.MACs = append(m.MACs, hw)
	}
	for j, name := range r.Interface {
		if !lan[name] {
			v.fail(field("interface", j), "%q is not a LAN interface of this file (lan.interfaces); a policy steers connections arriving from the LAN", name)
			continue
		}
		for _, o := range m.Interfaces {
			if o == name {
				v.fail(field("interface", j), "%s is listed twice", name)
			}
		}
		m.Interfaces = append(m.Interfaces, name)
	}
	if m.Router && len(m.MACs)+len(m.Interfaces) > 0 {
		v.fail(field("router"), "the router's own connections arrive on no interface and from no MAC; drop mac and interface, or router: true")
	}
	if n := m.elements(); n > maxPolicyElements {
		v.fail(at, "this match is %d combinations of its values (each listed value of each field, multiplied); pathpin takes at most %d: use ranges or prefixes, or split it into policies", n, maxPolicyElements)
	}
	return m
}

// elements is how many classification elements the match needs: the
// product of its fields' value counts.
func (m *Match) elements() int {
	n := 1
	for _, c := range []int{len(m.Interfaces), len(m.MACs), len(m.Sources), len(m.Dests), len(m.Protos) * max(1, len(m.Ports))} {
		if c > 0 {
			n *= c
		}
	}
	return n
}

// via reads `via:` as tiers: a list of uplinks (one tier each), a mapping
// of uplinks to weights (one tier), or a list mixing both.
func (v *validator) via(at []any, n *yaml.Node, uplinks []Uplink) [][]Member {
	before := len(v.errs)
	known := map[string]bool{}
	for _, u := range uplinks {
		known[u.Name] = true
	}
	seen := map[string]bool{}
	member := func(at []any, name string, weight int) (Member, bool) {
		switch {
		case !known[name]:
			v.fail(at, "%q names no uplink of this file", name)
		case seen[name]:
			v.fail(at, "%s is named twice; an uplink belongs to one tier", name)
		case weight < 1 || weight > 1000:
			v.fail(at, "weight %d must be from 1 to 1000", weight)
		default:
			seen[name] = true
			return Member{Uplink: name, Weight: weight}, true
		}
		return Member{}, false
	}
	weighted := func(at []any, n *yaml.Node) []Member {
		var tier []Member
		for k := 0; k+1 < len(n.Content); k += 2 {
			name, w := n.Content[k].Value, n.Content[k+1]
			weight, err := strconv.Atoi(w.Value)
			if w.Kind != yaml.ScalarNode || err != nil {
				v.fail(append(at, name), "%q is not a weight; write %s: 2", w.Value, name)
				continue
			}
			if m, ok := member(append(at, name), name, weight); ok {
				tier = append(tier, m)
			}
		}
		return tier
	}
	var tiers [][]Member
	switch n.Kind {
	case 0:
		v.fail(at, "a policy needs uplinks: via: [plusnet, talktalk] (tiers) or via: {plusnet: 2, talktalk: 1} (weights)")
	case yaml.ScalarNode:
		if m, ok := member(at, n.Value, 1); ok {
			tiers = append(tiers, []Member{m})
		}
	case yaml.MappingNode:
		if t := weighted(at, n); len(t) > 0 {
			tiers = append(tiers, t)
		}
	case yaml.SequenceNode:
		for k, e := range n.Content {
			switch e.Kind {
			case yaml.ScalarNode:
				if m, ok := member(append(at, k), e.Value, 1); ok {
					tiers = append(tiers, []Member{m})
				}
			case yaml.MappingNode:
				if len(e.Content) == 0 {
					v.fail(append(at, k), "this tier names no uplink; drop it or name one")
				}
				if t := weighted(append(at, k), e); len(t) > 0 {
					tiers = append(tiers, t)
				}
			default:
				v.fail(append(at, k), "a tier is an uplink's name or a mapping of uplinks to weights")
			}
		}
		if len(n.Content) == 0 {
			v.fail(at, "via is empty; name at least one uplink")
		}
	default:
		v.fail(at, "via is a list of tiers or a mapping of uplinks to weights")
	}
	if len(tiers) == 0 && len(v.errs) == before {
		v.fail(at, "via names no uplink; name at least one: via: [plusnet] or via: {plusnet: 2, talktalk: 1}")
	}
	return tiers
}

// addrRanges reads addresses, prefixes and a-b ranges; none may overlap.
func (v *validator) addrRanges(at []any, in []string) []AddrRange {
	var out []AddrRange
	for j, s := range in {
		r, ok := parseAddrRange(s)
		if !ok {
			v.fail(append(at, j), "%q is not an IPv4 address, prefix or range; write 10.1.0.20, 10.1.0.0/24 or 10.1.0.20-10.1.0.29", s)
			continue
		}
		for k, o := range out {
			if r.overlaps(o) {
				v.fail(append(at, j), "%s overlaps %s ([%d]); merge them", r, o, k)
			}
		}
		out = append(out, r)
	}
	return out
}

func parseAddrRange(s string) (AddrRange, bool) {
	if p, err := netip.ParsePrefix(s); err == nil && p.Addr().Is4() {
		return AddrRange{From: p.Masked().Addr(), To: ipv4.Last(p)}, true
	}
	if a, b, ok := strings.Cut(s, "-"); ok {
		from, err1 := netip.ParseAddr(strings.TrimSpace(a))
		to, err2 := netip.ParseAddr(strings.TrimSpace(b))
		if err1 != nil || err2 != nil || !from.Is4() || !to.Is4() || to.Less(from) {
			return AddrRange{}, false
		}
		return AddrRange{From: from, To: to}, true
	}
	a, err := netip.ParseAddr(s)
	if err != nil || !a.Is4() {
		return AddrRange{}, false
	}
	return AddrRange{From: a, To: a}, true
}

func parsePortRange(s string) (PortRange, bool) {
	a, b, isRange := strings.Cut(s, "-")
	if !isRange {
		b = a
	}
	from, err1 := strconv.Atoi(strings.TrimSpace(a))
	to, err2 := strconv.Atoi(strings.TrimSpace(b))
	if err1 != nil || err2 != nil || from < 1 || to > 65535 || to < from {
		return PortRange{}, false
	}
	return PortRange{From: uint16(from), To: uint16(to)}, true
}

// sticky validates a sticky time: whole seconds (the kernel keeps a
// timeout in its own ticks, and a fraction would never read back the
// same), from minSticky to maxSticky, or 0 for none.
func (v *validator) sticky(at []any, d time.Duration) {
	if d != 0 && (d < minSticky || d > maxSticky || d%time.Second != 0) {
		v.fail(at, "%s must be whole seconds from %s to %s (e.g. 30m), or 0 for none", d, minSticky, maxSticky)
	}
}

// balance validates the balance: section.
func (v *validator) balance(r *rawBalance) Balance {
	var b Balance
	if r.Sticky != nil {
		b.Sticky = *r.Sticky
		v.sticky([]any{"balance", "sticky"}, b.Sticky)
	}
	return b
}
