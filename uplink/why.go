package uplink

import (
	"bytes"
	"fmt"
	"maps"
	"net"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/pathpin/pathpin/internal/config"
	"github.com/pathpin/pathpin/internal/conntrack"
	"github.com/pathpin/pathpin/internal/nft"
)

// Question is what `pathpin why` asks about: a new connection's fields.
// A zero value is a field not given; a policy that needs it is reported
// as one that might match, never taken.
type Question struct {
	Src, Dst netip.Addr
	Proto    uint8
	Port     uint16
	MAC      net.HardwareAddr
	In       string
	// Router: a connection of the router's own.
	Router bool
}

// Answer is which policy a connection meets and where the kernel sends it
// now, read from pathpin's live table, not recomputed.
type Answer struct {
	// Policy is the first policy that matches; "" when none does and the
	// connection is balanced.
	Policy string `json:"policy"`
	Line   int    `json:"line,omitempty"`
	// Unsure are earlier policies that would match if the fields not given
	// did, each with what it needs.
	Unsure []string `json:"unsure,omitempty"`
	// Tiers are the policy's tiers, each member with its state now.
	Tiers [][]TierMember `json:"tiers,omitempty"`
	// Verdict: pinned (one uplink), by-weight, sticky, dropped, balanced
	// or none (no uplink in service).
	Verdict string `json:"verdict"`
	// Now are the uplinks the kernel's table picks from now, with their
	// shares of new connections.
	Now    []Share      `json:"now"`
	Sticky *StickyEntry `json:"sticky,omitempty"`
	Flows  []FlowAnswer `json:"flows,omitempty"`
}

// TierMember is one uplink of a tier.
type TierMember struct {
	Uplink string `json:"uplink"`
	Weight int    `json:"weight"`
	State  string `json:"state"`
}

// Share is an uplink and the fraction of new connections it takes.
type Share struct {
	Uplink string  `json:"uplink"`
	Share  float64 `json:"share"`
}

// StickyEntry is the uplink a sticky set holds a source on.
type StickyEntry struct {
	Uplink  string        `json:"uplink"`
	Set     string        `json:"set"`
	Expires time.Duration `json:"expires_ns"`
}

// FlowAnswer is one live connection of the source: the uplink its mark
// pins it to and the policy its addresses, protocol and port meet.
type FlowAnswer struct {
	Proto  string `json:"proto"`
	Src    string `json:"src"`
	Dst    string `json:"dst"`
	SPort  uint16 `json:"sport,omitempty"`
	DPort  uint16 `json:"dport,omitempty"`
	Uplink string `json:"uplink"`
	Policy string `json:"policy"`
	// Maybe are earlier policies the flow meets if its MAC or interface
	// (which conntrack does not keep) match theirs.
	Maybe []string `json:"maybe,omitempty"`
}

// Explain answers q from cfg, the live table, each uplink's state (as
// status reports it) and the sticky sets (read through sticky); flows are
// the source's live connections, if asked for.
func Explain(cfg *config.Config, live *nft.Table, states map[string]string, q Question, sticky func(set string) ([]nft.Entry, error), flows []conntrack.Flow) (*Answer, error) {
	if live == nil {
		return nil, fmt.Errorf("pathpin's table is not in the kernel: nothing is steered (start pathpin, or run pathpin apply)")
	}
	a := &Answer{Flows: []FlowAnswer{}}
	// A domain policy's destinations are its set's, as the kernel holds
	// them now.
	domainSets := map[string]map[netip.Addr]bool{}
	inDomain := func(policy string, dst netip.Addr) bool {
		set, ok := domainSets[policy]
		if !ok {
			set = map[netip.Addr]bool{}
			entries, _ := sticky(DomainSet(policy))
			for _, e := range entries {
				set[e.Addr] = true
			}
			domainSets[policy] = set
		}
		return set[dst]
	}
	p, unsure := firstPolicy(cfg, q, inDomain)
	a.Unsure = unsure
	chain, policy := "balance", ""
	if p != nil {
		a.Policy, a.Line, chain, policy = p.Name, p.Line, policyChain(p.Name), p.Name
		for _, tier := range p.Tiers {
			var ms []TierMember
			for _, m := range tier {
				ms = append(ms, TierMember{Uplink: m.Uplink, Weight: m.Weight, State: orUnknown(states[m.Uplink])})
			}
			a.Tiers = append(a.Tiers, ms)
		}
	}
	now, sets, verdict := livePick(live, chain, policy)
	if p == nil && verdict != "none" {
		verdict = "balanced"
	}
	if u, ok := boundTo(live, q); ok && p == nil {
		// The router's own connection from an uplink's address: the
		// output chain pins it there before the balance.
		now, sets, verdict = []Share{{Uplink: u, Share: 1}}, nil, "pinned"
	}
	a.Now, a.Verdict = now, verdict
	for _, u := range slices.Sorted(maps.Keys(sets)) {
		entries, err := sticky(sets[u])
		if err != nil {
			return nil, err
		}
		for _, e := range entries {
			if e.Addr == q.Src {
				a.Sticky = &StickyEntry{Uplink: u, Set: sets[u], Expires: e.Expires}
				a.Verdict, a.Now = "sticky", []Share{{Uplink: u, Share: 1}}
			}
		}
	}
	for _, f := range flows {
		fq := Question{Src: f.Src, Dst: f.Dst, Proto: f.Proto, Port: f.DPort, Router: q.Router}
		fa := FlowAnswer{Proto: nft.ProtoName(f.Proto), Src: f.Src.String(), Dst: f.Dst.String(), SPort: f.SPort, DPort: f.DPort, Uplink: uplinkOfMark(cfg, f.Mark)}
		fp, maybe := firstPolicy(cfg, fq, inDomain)
		if fp != nil {
			fa.Policy = fp.Name
		}
		fa.Maybe = maybe
		a.Flows = append(a.Flows, fa)
	}
	return a, nil
}

func orUnknown(s string) string {
	if s == "" {
		return "unknown"
	}
	return s
}

// firstPolicy is the first policy q meets for certain, and before it the
// policies that would match if q's missing fields did.
func firstPolicy(cfg *config.Config, q Question, inDomain func(policy string, dst netip.Addr) bool) (*config.Policy, []string) {
	var unsure []string
	for i := range cfg.Policies {
		p := &cfg.Policies[i]
		ok, missing := meets(&p.Match, q, func(dst netip.Addr) bool { return inDomain(p.Name, dst) })
		switch {
		case ok && len(missing) == 0:
			return p, unsure
		case ok:
			unsure = append(unsure, fmt.Sprintf("%s (if %s matched)", p.Name, strings.Join(missing, " and ")))
		}
	}
	return nil, unsure
}

// meets reports whether q can meet m: every field q gives matches; missing
// names the fields m needs that q does not give. inDomain says whether a
// destination is in m's domain set now; a program's cgroup is never
// known from a question.
func meets(m *config.Match, q Question, inDomain func(netip.Addr) bool) (ok bool, missing []string) {
	if m.Router != q.Router {
		return false, nil
	}
	need := func(given bool, what string, match func() bool) bool {
		if !given {
			missing = append(missing, what)
			return true
		}
		return match()
	}
	inRange := func(rs []config.AddrRange, a netip.Addr) bool {
		return slices.ContainsFunc(rs, func(r config.AddrRange) bool { return r.From.Compare(a) <= 0 && a.Compare(r.To) <= 0 })
	}
	ok = (len(m.Interfaces) == 0 || need(q.In != "", "the LAN interface", func() bool { return slices.Contains(m.Interfaces, q.In) })) &&
		(len(m.MACs) == 0 || need(q.MAC != nil, "the source MAC", func() bool {
			return slices.ContainsFunc(m.MACs, func(hw net.HardwareAddr) bool { return bytes.Equal(hw, q.MAC) })
		})) &&
		(len(m.Sources) == 0 || inRange(m.Sources, q.Src)) &&
		(len(m.Dests) == 0 || need(q.Dst.IsValid(), "the destination", func() bool { return inRange(m.Dests, q.Dst) })) &&
		(len(m.Protos) == 0 || need(q.Proto != 0, "the protocol", func() bool { return slices.Contains(m.Protos, q.Proto) })) &&
		(len(m.Ports) == 0 || need(q.Port != 0, "the port", func() bool {
			return slices.ContainsFunc(m.Ports, func(r config.PortRange) bool { return r.From <= q.Port && q.Port <= r.To })
		})) &&
		(len(m.Domains) == 0 || need(q.Dst.IsValid(), "the destination (in the set of "+strings.Join(m.Domains, ", ")+")", func() bool { return inDomain(q.Dst) })) &&
		(m.Program == "" || need(false, "the program (a command of program "+m.Program+")", nil))
	return ok, missing
}

// boundTo is the uplink whose address a router's own connection comes
// from, as the live output chain pins it.
func boundTo(t *nft.Table, q Question) (string, bool) {
	if !q.Router {
		return "", false
	}
	for _, c := range t.Chains {
		if c.Name != "output" {
			continue
		}
		for _, r := range c.Rules {
			if r.SAddr == q.Src && strings.HasPrefix(r.Jump, "to_") {
				return strings.TrimPrefix(r.Jump, "to_"), true
			}
		}
	}
	return "", false
}

// livePick reads chain (a policy's, or the balance) in the live table:
// the uplinks it picks from now with their shares, the sticky set of each
// (by uplink), and what it does.
func livePick(t *nft.Table, chain, policy string) (now []Share, sticky map[string]string, verdict string) {
	sticky = map[string]string{}
	var rules []nft.Rule
	for _, c := range t.Chains {
		if c.Name == chain {
			rules = c.Rules
		}
	}
	uplinkOf := func(target string) string {
		if u, ok := strings.CutPrefix(target, "to_"); ok {
			return u
		}
		return strings.TrimPrefix(target, "stick_"+stickyKey(policy, ""))
	}
	verdict = "none"
	for _, r := range rules {
		switch {
		case r.Drop:
			return nil, sticky, "dropped"
		case r.Jump == "balance":
			now, sticky, _ = livePick(t, "balance", "")
			return now, sticky, "balanced"
		case r.InSticky != "":
			sticky[uplinkOf(r.Jump)] = r.InSticky
		case r.Jump != "":
			return []Share{{Uplink: uplinkOf(r.Jump), Share: 1}}, sticky, "pinned"
		case len(r.Balance) > 0:
			for _, s := range r.Balance {
				now = append(now, Share{Uplink: uplinkOf(s.Chain), Share: float64(s.To-s.From+1) / float64(r.Modulus)})
			}
			return now, sticky, "by-weight"
		}
	}
	return nil, sticky, verdict
}

// uplinkOfMark is the uplink whose mark a connection carries, or "" when
// it carries none of pathpin's.
func uplinkOfMark(cfg *config.Config, mark uint32) string {
	for _, u := range cfg.Uplinks {
		if mark&cfg.MarkMask == u.Mark {
			return u.Name
		}
	}
	return ""
}

// PolicyUse is what one policy does now, read from the live table: the new
// connections it matched since its chain was last written (the table is
// updated in place: only when what the policy picks, or the policy,
// changes), and the uplinks it picks from.
type PolicyUse struct {
	Name    string
	Matched uint64
	Verdict string
	Now     []Share
}

// PolicyUses reads each policy's counter and pick from the live table.
func PolicyUses(cfg *config.Config, t *nft.Table) []PolicyUse {
	if t == nil {
		return nil
	}
	var out []PolicyUse
	for _, p := range cfg.Policies {
		u := PolicyUse{Name: p.Name}
		for _, c := range t.Chains {
			if c.Name == policyChain(p.Name) && len(c.Rules) > 0 && c.Rules[0].Counter {
				u.Matched = c.Rules[0].Packets
			}
		}
		u.Now, _, u.Verdict = livePick(t, policyChain(p.Name), p.Name)
		out = append(out, u)
	}
	return out
}
