package uplink

import (
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/pathpin/pathpin/internal/config"
	"github.com/pathpin/pathpin/internal/nft"
)

// Steering in pathpin's table. A new connection from a LAN interface
// jumps to that interface's steer chain (the router's own to
// steer_router): a few classification maps, each one lookup of the
// connection's key, whose elements go to the chain of the policy they
// belong to. Policies are split into maps only where a later one overlaps
// an earlier one, so first-match order holds and most tables are one
// lookup whatever the number of policies. A policy's chain counts the
// connection and picks an uplink: the first tier with an uplink in
// service, by weight inside it, a sticky source's uplink first; with no
// tier in service it drops or leaves the connection to the balance.

// policyChain is the chain of policy name: it counts the new connections
// the policy matched and picks their uplink.
func policyChain(name string) string { return "policy_" + name }

// stickySet is the set of sources policy name (or the balance, for "")
// has given uplink u, and stickChain the chain that refreshes one there
// and gives the connection u's mark. Neither policy nor uplink names hold
// a dot: the names of two pairs never meet.
func stickySet(policy, u string) string  { return "sticky_" + stickyKey(policy, u) }
func stickChain(policy, u string) string { return "stick_" + stickyKey(policy, u) }
func stickyKey(policy, u string) string  { return policy + "." + u }

// steerChain is where new connections arriving on a LAN interface (or the
// router's own, for routerSteer) are classified; its maps are
// steerChain/<the map's first policy> (neither an interface nor a policy
// name holds a slash), so that a map keeps its name when a rule before it
// comes or goes.
func steerChain(ctx string) string { return "steer_" + ctx }

// lanSteer is the classification context of LAN interface lan, apart
// from routerSteer whatever the interface is called.
func lanSteer(lan string) string { return "lan." + lan }

const routerSteer = "router"

// activeTier is the tier of a policy that takes its connections now: the
// uplinks of the first tier with one in service (up), those in service,
// by weight; nil when no tier has one.
func activeTier(p *config.Policy, up map[string]Status) []pick {
	for _, tier := range p.Tiers {
		var picks []pick
		total := 0
		for _, m := range tier {
			if st, ok := up[m.Uplink]; ok {
				picks = append(picks, pick{status: st, weight: m.Weight})
				total += m.Weight
			}
		}
		for i := range picks {
			picks[i].total = total
		}
		if len(picks) > 0 {
			return picks
		}
	}
	return nil
}

// inService are the uplinks in service, by name.
func inService(statuses []Status) map[string]Status {
	up := map[string]Status{}
	for _, st := range statuses {
		if st.Up() {
			up[st.Name] = st
		}
	}
	return up
}

// steering is the chains and sets of cfg's policies, and the sticky
// balance, for the uplinks in statuses; lanJump and routerJump are the
// rules that send new connections to them (none without policies).
type steering struct {
	chains []nft.Chain
	sets   []nft.Set
	// lanSteered: the LAN interfaces that have a steer chain.
	lanSteered map[string]bool
	routerJmp  bool
	// programs are the programs' cgroups that exist now.
	programs map[string]Cgroup
}

// DomainSet is the set of addresses domain policy name's DNS answers
// gave.
func DomainSet(policy string) string { return "domains_" + policy }

// guarded reports whether p matches on what no classification map holds:
// a domain's addresses (a set the DNS answers fill) or a program's cgroup.
// Such a policy has a rule of its own.
func guarded(p *config.Policy) bool { return len(p.Match.Domains) > 0 || p.Match.Program != "" }

// guardedRule is p's rule in chain ch: its set or cgroup, then its other
// fields in a map of its own (or straight to its chain when it has none).
// A program with no cgroup now has no rule: nothing of it runs.
func (s *steering) guardedRule(ch *nft.Chain, p *config.Policy) {
	r := nft.Rule{Comment: fmt.Sprintf("a new connection that policy %s matches goes to its chain", p.Name)}
	if p.Match.Program != "" {
		cg, ok := s.programs[p.Match.Program]
		if !ok {
			return
		}
		r.Cgroup = matchOf(cg)
	}
	if len(p.Match.Domains) > 0 {
		r.InDest = DomainSet(p.Name)
	}
	m := &p.Match
	if len(m.Sources)+len(m.Dests)+len(m.Protos)+len(m.Ports)+len(m.MACs) == 0 {
		r.Goto = policyChain(p.Name)
		ch.Rules = append(ch.Rules, r)
		return
	}
	key := keyFor([]*config.Policy{p})
	set := nft.Set{Name: ch.Name + "/" + p.Name, Key: key, Elems: elements(key, m, policyChain(p.Name)),
		Comment: "policy " + p.Name + "'s other fields"}
	nft.SortElems(set.Elems)
	s.sets = append(s.sets, set)
	r.Classify = &nft.Lookup{Set: set.Name, Key: key}
	ch.Rules = append(ch.Rules, r)
}

func steer(cfg *config.Config, statuses []Status, programs map[string]Cgroup) steering {
	mask := cfg.MarkMask
	s := steering{lanSteered: map[string]bool{}, programs: programs}
	up := inService(statuses)
	for i := range cfg.Policies {
		p := &cfg.Policies[i]
		if len(p.Match.Domains) > 0 {
			s.sets = append(s.sets, nft.Set{Name: DomainSet(p.Name), Timeout: cfg.DNS.MaxTTL,
				Comment: fmt.Sprintf("addresses the DNS answers for %s gave, each kept for its answer's TTL (%s to %s)", strings.Join(p.Match.Domains, ", "), cfg.DNS.MinTTL, cfg.DNS.MaxTTL)})
		}
		ch := nft.Chain{Name: policyChain(p.Name), Rules: []nft.Rule{{Counter: true,
			Comment: fmt.Sprintf("policy %s matched a new connection (line %d)", p.Name, p.Line)}}}
		picks := activeTier(p, up)
		switch {
		case len(picks) > 0:
			ch.Rules = append(ch.Rules, s.pick(mask, p.Name, p.Sticky, picks, "policy "+p.Name)...)
		case p.Drop:
			ch.Rules = append(ch.Rules, nft.Rule{Drop: true,
				Comment: fmt.Sprintf("none of %s's uplinks is in service and it says otherwise: drop; the connection never leaves by another line", p.Name)})
		default:
			ch.Rules = append(ch.Rules, nft.Rule{Jump: "balance",
				Comment: fmt.Sprintf("none of %s's uplinks is in service: the connection is balanced", p.Name)})
		}
		s.chains = append(s.chains, ch)
	}
	for _, lan := range cfg.LAN.Interfaces {
		var ps []*config.Policy
		for i := range cfg.Policies {
			p := &cfg.Policies[i]
			if !p.Match.Router && (len(p.Match.Interfaces) == 0 || contains(p.Match.Interfaces, lan)) {
				ps = append(ps, p)
			}
		}
		if len(ps) > 0 {
			s.classify(lanSteer(lan), ps)
			s.lanSteered[lan] = true
		}
	}
	var router []*config.Policy
	for i := range cfg.Policies {
		if cfg.Policies[i].Match.Router {
			router = append(router, &cfg.Policies[i])
		}
	}
	if len(router) > 0 {
		s.classify(routerSteer, router)
		s.routerJmp = len(s.chains) > 0 && len(s.chains[len(s.chains)-1].Rules) > 0
		if !s.routerJmp {
			// Only programs with no cgroup now: no chain to jump to.
			s.chains = s.chains[:len(s.chains)-1]
		}
	}
	return s
}

// pick is the rules that give a new connection one of picks: a sticky
// source its remembered uplink first, then one by weight. Each is skipped
// once the connection has a mark. policy names the sticky sets ("" for
// the balance); who says whose pick it is.
func (s *steering) pick(mask uint32, policy string, sticky time.Duration, picks []pick, who string) []nft.Rule {
	target := func(p pick) string { return markChain(p.status.Uplink) }
	var rules []nft.Rule
	if sticky > 0 {
		for _, pk := range picks {
			u := pk.status.Name
			set, chain := stickySet(policy, u), stickChain(policy, u)
			s.sets = append(s.sets, nft.Set{Name: set, Timeout: sticky,
				Comment: fmt.Sprintf("sources %s gave %s, each kept %s after its last new connection", who, u, sticky)})
			s.chains = append(s.chains, nft.Chain{Name: chain, Rules: []nft.Rule{{Stick: &nft.Stick{Set: set, Timeout: sticky}, Jump: markChain(pk.status.Uplink),
				Comment: fmt.Sprintf("remember (or refresh) the source on %s, then mark the connection for it", u)}}})
			rules = append(rules, nft.Rule{Mark: &nft.MarkMatch{Mask: mask}, InSticky: set, Jump: chain,
				Comment: fmt.Sprintf("a source %s gave %s before stays on %s", who, u, u)})
		}
		target = func(p pick) string { return stickChain(policy, p.status.Name) }
	}
	if len(picks) == 1 {
		return append(rules, nft.Rule{Mark: &nft.MarkMatch{Mask: mask}, Jump: target(picks[0]),
			Comment: fmt.Sprintf("%s: %s takes the connection", who, picks[0].status.Name)})
	}
	slots, modulus, shares := slotsOf(picks, target)
	return append(rules, nft.Rule{Mark: &nft.MarkMatch{Mask: mask}, Modulus: modulus, Balance: slots,
		Comment: fmt.Sprintf("%s: an uplink by weight, one random number and one lookup: %s", who, shares)})
}

// slotsOf shares numgen's numbers among picks by weight: each pick's
// slot jumps to target(pick).
func slotsOf(picks []pick, target func(pick) string) (slots []nft.Slot, modulus uint32, shares string) {
	g := 0
	for _, p := range picks {
		g = gcd(g, p.weight)
	}
	var parts []string
	for _, p := range picks {
		n := uint32(p.weight / g)
		slots = append(slots, nft.Slot{From: modulus, To: modulus + n - 1, Chain: target(p)})
		parts = append(parts, fmt.Sprintf("%s %d/%d", p.status.Name, p.weight, p.total))
		modulus += n
	}
	return slots, modulus, strings.Join(parts, ", ")
}

// classify adds the steer chain of ctx (a LAN interface, or the router):
// ps in order, in as few classification maps as first-match order allows.
// A run also ends where policies with a MAC match meet ones without: a
// key with the source MAC cannot be read on a LAN link without an
// Ethernet header, and there the map of MAC-less policies must still
// work.
func (s *steering) classify(ctx string, ps []*config.Policy) {
	ch := nft.Chain{Name: steerChain(ctx)}
	for start := 0; start < len(ps); {
		if guarded(ps[start]) {
			s.guardedRule(&ch, ps[start])
			start++
			continue
		}
		run := newRun(ps[start])
		mac := len(ps[start].Match.MACs) > 0
		end := start + 1
		for end < len(ps) && !guarded(ps[end]) && mac == (len(ps[end].Match.MACs) > 0) && !run.overlaps(ps[end]) {
			run.add(ps[end])
			end++
		}
		key := keyFor(ps[start:end])
		set := nft.Set{Name: ch.Name + "/" + ps[start].Name, Key: key}
		var names []string
		for _, p := range ps[start:end] {
			set.Elems = append(set.Elems, elements(key, &p.Match, policyChain(p.Name))...)
			names = append(names, p.Name)
		}
		nft.SortElems(set.Elems)
		set.Comment = "policies " + strings.Join(names, ", ") + ": none of them overlaps another, so one lookup finds the first that matches"
		s.sets = append(s.sets, set)
		ch.Rules = append(ch.Rules, nft.Rule{Classify: &nft.Lookup{Set: set.Name, Key: key},
			Comment: fmt.Sprintf("a new connection that policy %s matches goes to its chain", strings.Join(names, ", "))})
		start = end
	}
	s.chains = append(s.chains, ch)
}

// run is policies that overlap none of the others, indexed by their
// source ranges: a new policy is checked in full only against those whose
// sources meet its own (and those with no source match), so that a run of
// hundreds of per-host policies costs a search per policy, not a
// comparison with each.
type run struct {
	// bySource are the ranges of the run's source matches, sorted by
	// start; ranges of one run never overlap unless their policies
	// differ elsewhere, so a search finds the first that may meet.
	bySource []sourceOf
	anySrc   []*config.Policy
	// nested: two of bySource's ranges overlap (their policies differ in
	// another field), so ranges sorted by start are not sorted by end.
	nested bool
}

type sourceOf struct {
	r config.AddrRange
	p *config.Policy
}

func newRun(p *config.Policy) *run {
	r := &run{}
	r.add(p)
	return r
}

func (r *run) add(p *config.Policy) {
	if len(p.Match.Sources) == 0 {
		r.anySrc = append(r.anySrc, p)
		return
	}
	for _, src := range p.Match.Sources {
		i, _ := slices.BinarySearchFunc(r.bySource, src.From, func(s sourceOf, a netip.Addr) int { return s.r.From.Compare(a) })
		r.bySource = slices.Insert(r.bySource, i, sourceOf{src, p})
		// Disjoint until now: a new overlap involves a neighbour.
		if i > 0 && !r.bySource[i-1].r.To.Less(src.From) || i+1 < len(r.bySource) && !src.To.Less(r.bySource[i+1].r.From) {
			r.nested = true
		}
	}
}

// overlaps reports whether p overlaps a policy of the run.
func (r *run) overlaps(p *config.Policy) bool {
	for _, q := range r.anySrc {
		if q.Match.Overlaps(&p.Match) {
			return true
		}
	}
	if len(p.Match.Sources) == 0 {
		for _, s := range r.bySource {
			if s.p.Match.Overlaps(&p.Match) {
				return true
			}
		}
		return false
	}
	for _, src := range p.Match.Sources {
		// Every range that starts at or before src's end may meet it:
		// back from the last of them, until one ends before src starts
		// (then all before it do, unless the run's ranges nest).
		end, _ := slices.BinarySearchFunc(r.bySource, src.To, func(s sourceOf, a netip.Addr) int {
			if s.r.From.Compare(a) <= 0 {
				return -1
			}
			return 1
		})
		for i := end - 1; i >= 0; i-- {
			s := r.bySource[i]
			if s.r.To.Less(src.From) {
				if !r.nested {
					break
				}
				continue
			}
			if s.p.Match.Overlaps(&p.Match) {
				return true
			}
		}
	}
	return false
}

// keyFor is the fields a classification of ps needs: always both
// addresses (so that the map is a concatenation, whose elements are
// ranges in every field), the source MAC, protocol and port when a policy
// matches on them.
func keyFor(ps []*config.Policy) []nft.Field {
	var mac, proto, port bool
	for _, p := range ps {
		mac = mac || len(p.Match.MACs) > 0
		proto = proto || len(p.Match.Protos) > 0
		port = port || len(p.Match.Ports) > 0
	}
	var key []nft.Field
	if mac {
		key = append(key, nft.FieldEtherSrc)
	}
	key = append(key, nft.FieldSAddr, nft.FieldDAddr)
	if proto || port {
		key = append(key, nft.FieldProto)
	}
	if port {
		key = append(key, nft.FieldDPort)
	}
	return key
}

// span is one field's range of values, as a key holds them.
type span struct{ from, to []byte }

// elements expands m into the map's elements: every combination of its
// fields' values, each field a range (an unmatched field: all of it).
func elements(key []nft.Field, m *config.Match, chain string) []nft.Elem {
	fields := make([][]span, len(key))
	n := 1
	for i, f := range key {
		fields[i] = fieldSpans(f, m)
		n *= len(fields[i])
	}
	size := nft.KeyLen(key)
	out := make([]nft.Elem, 0, n)
	pick := make([]int, len(key))
	for range n {
		from, to := make([]byte, 0, size), make([]byte, 0, size)
		for i, f := range key {
			sp := fields[i][pick[i]]
			from, to = append(from, sp.from...), append(to, sp.to...)
			for pad := f.Len(); pad%4 != 0; pad++ {
				from, to = append(from, 0), append(to, 0)
			}
		}
		out = append(out, nft.Elem{From: from, To: to, Goto: chain})
		// The next combination, the last field fastest.
		for i := len(pick) - 1; i >= 0; i-- {
			if pick[i]++; pick[i] < len(fields[i]) {
				break
			}
			pick[i] = 0
		}
	}
	return out
}

// fieldSpans is m's values of field f, or the whole field.
func fieldSpans(f nft.Field, m *config.Match) []span {
	var out []span
	switch f {
	case nft.FieldEtherSrc:
		for _, hw := range m.MACs {
			out = append(out, span{hw, hw})
		}
		if len(out) == 0 {
			out = []span{{make(net.HardwareAddr, 6), net.HardwareAddr{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}}}
		}
	case nft.FieldSAddr, nft.FieldDAddr:
		rs := m.Sources
		if f == nft.FieldDAddr {
			rs = m.Dests
		}
		for _, r := range rs {
			a, z := r.From.As4(), r.To.As4()
			out = append(out, span{a[:], z[:]})
		}
		if len(out) == 0 {
			out = []span{{[]byte{0, 0, 0, 0}, []byte{255, 255, 255, 255}}}
		}
	case nft.FieldProto:
		for _, p := range m.Protos {
			out = append(out, span{[]byte{p}, []byte{p}})
		}
		if len(out) == 0 {
			out = []span{{[]byte{0}, []byte{255}}}
		}
	case nft.FieldDPort:
		for _, p := range m.Ports {
			out = append(out, span{[]byte{byte(p.From >> 8), byte(p.From)}, []byte{byte(p.To >> 8), byte(p.To)}})
		}
		if len(out) == 0 {
			out = []span{{[]byte{0, 0}, []byte{255, 255}}}
		}
	}
	return out
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
