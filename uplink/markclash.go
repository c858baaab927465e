package uplink

import (
	"fmt"
	"math/bits"
	"slices"
	"strings"

	"github.com/pathpin/pathpin/internal/config"
)

// maskCandidates are the masks ProposeMask tries, in order: pathpin's
// default, then whole bytes nobody in the issue tracker of a common tool
// claims (the top byte before Tailscale's 0xff0000), then nibbles.
var maskCandidates = []uint32{
	config.DefaultMarkMask, 0xff000000, 0xff0000, 0xff,
	0xf0000000, 0x0f000000, 0xf00000, 0x0f0000, 0xf000, 0x0f00, 0xf0, 0x0f,
}

// UsedMarkBits are the mark bits the other software on this host sets or
// tests.
func UsedMarkBits(h HostMarks) uint32 {
	var used uint32
	for _, u := range h.Users {
		if !u.TestsClear() {
			used |= u.Bits
		}
	}
	return used
}

// ProposeMask is a mark-mask that none of the bits in used overlaps and
// that has room for uplinks marks: current when it is free, else the
// first free candidate; 0 when there is none.
func ProposeMask(used, current uint32, uplinks int) uint32 {
	room := func(m uint32) bool { return m != 0 && 1<<bits.OnesCount32(m) > uplinks }
	if current&used == 0 && room(current) {
		return current
	}
	for _, m := range maskCandidates {
		if m&used == 0 && room(m) {
			return m
		}
	}
	return 0
}

// MarkFindings are what check (and up, in its log) says about the other
// mark users on this host: each clash with pathpin's mark-mask with what
// breaks and the fix (a free mask proposed), ip rules that compare the
// whole mark ahead of pathpin's, forward chains that drop by policy, and
// src_valid_mark.
func MarkFindings(cfg *config.Config, h HostMarks) []Finding {
	var out []Finding
	add := func(s Severity, format string, args ...any) {
		out = append(out, Finding{Severity: s, Text: fmt.Sprintf(format, args...)})
	}
	mask := cfg.MarkMask
	proposal := ProposeMask(UsedMarkBits(h), mask, len(cfg.Uplinks))
	fix := fmt.Sprintf("set mark-mask: %#x in %s (a mask no other software here uses; marks you set on uplinks must lie inside it)", proposal, cfg.Path)
	switch proposal {
	case 0:
		fix = fmt.Sprintf("no 4-bit mask is free of the other software's bits: free some of its marks, then set mark-mask in %s", cfg.Path)
	case mask:
		fix = fmt.Sprintf("keep its values outside mark-mask %#x", mask)
	}
	clashes := 0
	for _, u := range h.Users {
		who := u.Where
		if u.Owner != "" && !strings.HasPrefix(u.Where, u.Owner) {
			who = u.Owner + ": " + u.Where
		}
		rule := u.Priority >= 0
		// A test or write that sees the packets pathpin has marked: an
		// ip rule ahead of pathpin's band, a firewall rule after
		// pathpin's chains.
		seesMarked := rule && u.Priority < PrioFirst || !rule && !u.Before
		// A write there that routing then reads: prerouting, output, or
		// a chain that may be jumped to from them.
		routedAfter := !rule && !u.Before && (u.Hook == "" || u.Hook == "prerouting" || u.Hook == "output")
		inside := u.Bits&mask != 0
		switch {
		case u.TestsClear():
			add(Info, "%s matches only packets with no mark at all: packets pathpin has marked (bits %#x) do not match it", who, mask)
		case !u.Sets && u.Whole && u.Value == 0 && u.Negate:
			add(Info, "%s matches every packet that carries a mark, those pathpin marks (bits %#x) included", who, mask)
		case u.Unknown && u.Sets:
			clashes++
			add(Warning, "%s sets marks from values pathpin cannot read (computed, or from a map that would not list): if they hold bits of pathpin's mark-mask %#x, pathpin leaves those packets unsteered; %s", who, mask, fix)
		case u.Unknown && (u.Whole || !inside) && seesMarked:
			add(Warning, "%s tests marks against values pathpin cannot read (a range, or a set that would not list); packets pathpin marks carry bits %#x: make sure its values allow for them", who, mask)
		case u.Sets && inside:
			clashes++
			add(Warning, "%s sets mark bits %#x, inside pathpin's mark-mask %#x: pathpin leaves a packet that already carries bits of its mask alone, so packets it marks are not balanced or pinned to an uplink (a tunnel among them does not follow a failover) and are routed as if pathpin were not there; where it marks later packets of a connection pathpin steered, those leave by another route than the connection's uplink%s; %s",
				who, u.Bits, mask, clearsPathpin(u), fix)
		case u.Copy:
			add(Info, "%s copies marks between packets and their connections (bits %s): pathpin's bits travel with them, as pathpin's own restore does", who, bitsText(u))
		case u.Sets && u.Whole && routedAfter:
			add(Warning, "%s sets the whole mark (%#x) where routing still reads it: on a packet pathpin has marked, it clears pathpin's bits and the packet loses its uplink; make it set only its bits (mark and %#x or %#x)", who, u.Bits, ^u.Bits, u.Bits)
		case u.Sets && u.Whole:
			add(Info, "%s sets the whole mark (%#x) after routing: pathpin's bits are gone from those packets, but their connection keeps its uplink", who, u.Bits)
		case u.Whole && inside:
			clashes++
			add(Warning, "%s compares the whole mark with %s, which has bits inside pathpin's mark-mask %#x: packets carrying it are not steered by pathpin, and packets pathpin marks never equal it (%s); %s",
				who, valueText(u), mask, testBreaks(u.Owner), fix)
		case !u.Sets && inside && u.Value == 0 && !u.Negate:
			clashes++
			add(Warning, "%s tests that mark bits %#x are clear, and pathpin's mark-mask %#x holds some of them: packets pathpin marks no longer match it (%s); %s",
				who, u.Bits, mask, testBreaks(u.Owner), fix)
		case !u.Sets && inside:
			clashes++
			add(Warning, "%s tests mark bits %#x, inside pathpin's mark-mask %#x: connections pathpin marks for an uplink are seen by it as its own marks (%s); %s",
				who, u.Bits, mask, testBreaks(u.Owner), fix)
		case u.Whole && seesMarked:
			add(Warning, "%s compares the whole mark with %s where packets already carry pathpin's bits: a packet pathpin has marked never equals it, so it no longer tells its packets apart; give it a mask (%s)%s",
				who, valueText(u), maskedText(u), moveAfter(rule))
		case u.Whole && rule:
			add(Info, "%s compares the whole mark after pathpin's rules: it sees only packets pathpin did not mark", who)
		default:
			add(Info, "%s uses mark bits %#x, outside pathpin's mark-mask %#x: pathpin keeps them as they are", who, u.Bits, mask)
		}
		if rule && u.Refuses && u.Priority < PrioFirst && !u.Negate && !h.MainDefault && !sentOnBefore(h, u) {
			first := firstRuleFor(h, u)
			add(Warning, "%s refuses the packets with its mark that the rules before it did not route. With pathpin the main table has no default route (each uplink's default is in the uplink's own table), so that is every packet to the internet, e.g. the program's own connections. Send them into pathpin's rules first: ip rule add pref %d fwmark %#x/%#x goto %d",
				who, first-1, u.Value, u.Mask, PrioMark)
		}
	}
	for _, r := range h.Unread {
		add(Warning, "could not read %s: the marks there are not checked", r)
	}
	if clashes == 0 && len(h.Users) > 0 {
		add(Info, "no other software here uses mark bits inside pathpin's mark-mask %#x", mask)
	}
	for _, l := range h.Links {
		add(Info, "%s: see the README's recipes for running it beside pathpin", l)
	}
	docker := dockerPresent(h)
	for _, d := range h.ForwardDrops {
		fix := "make sure one of its rules accepts the LAN's traffic to the uplinks and their replies"
		switch {
		case docker && strings.HasPrefix(d, "iptables"):
			fix = fmt.Sprintf("Docker sets this policy: give dockerd \"ip-forward-no-drop\": true in /etc/docker/daemon.json, or accept the LAN's traffic in DOCKER-USER: iptables -I DOCKER-USER -i %s -j ACCEPT; iptables -I DOCKER-USER -o %s -m conntrack --ctstate ESTABLISHED,RELATED -j ACCEPT", firstLAN(cfg), firstLAN(cfg))
		case docker:
			fix = "Docker sets this policy when it turns forwarding on itself: give dockerd \"ip-forward-no-drop\": true in /etc/docker/daemon.json (an accept in another table, pathpin's included, does not undo this table's drop)"
		}
		add(Warning, "%s: forwarded traffic that none of its rules accepts is dropped, the LAN's connections to the uplinks included; %s", d, fix)
	}
	if len(h.SrcValidMark) > 0 {
		add(Info, "net.ipv4.conf.{%s}.src_valid_mark is 1 (Tailscale 1.98 and later and wg-quick turn it on): the kernel checks a packet's source address in the routing table its mark picks. pathpin's uplink tables hold the LAN's and the uplinks' connected routes, so the packets pathpin marks pass; a packet with another program's mark inside mark-mask %#x is checked in an uplink's table", strings.Join(h.SrcValidMark, ","), mask)
	}
	return out
}

// TestsClear reports whether u only matches packets with no mark at all
// (fwmark 0/0xffffffff): it tells apart what pathpin marked, and takes no
// bits.
func (u MarkUser) TestsClear() bool {
	return !u.Sets && !u.Negate && !u.Unknown && u.Whole && u.Value == 0 && u.Map == ""
}

// sentOnBefore reports whether an earlier ip rule sends u's packets
// elsewhere (the recipe's goto into pathpin's rules).
func sentOnBefore(h HostMarks, u MarkUser) bool {
	return slices.ContainsFunc(h.Users, func(o MarkUser) bool {
		return o.Priority >= 0 && o.Priority < u.Priority && o.Goto > 0 && o.Value == u.Value && o.Mask == u.Mask
	})
}

// firstRuleFor is the priority of the first ip rule that matches u's mark
// as u does.
func firstRuleFor(h HostMarks, u MarkUser) int {
	first := u.Priority
	for _, o := range h.Users {
		if o.Priority >= 0 && o.Priority < first && o.Value == u.Value && o.Mask == u.Mask && !o.Negate {
			first = o.Priority
		}
	}
	return first
}

// valueText is what a whole-mark test compares with.
func valueText(u MarkUser) string {
	if u.Map != "" {
		return fmt.Sprintf("the keys of set %s (bits %#x)", u.Map, u.Bits)
	}
	return fmt.Sprintf("%#x", u.Value)
}

// maskedText is a whole-mark test given a mask.
func maskedText(u MarkUser) string {
	if u.Map != "" {
		return fmt.Sprintf("mark and %#x", lowBitsMask(u.Bits))
	}
	return fmt.Sprintf("%#x/%#x", u.Value, lowBitsMask(u.Value))
}

// bitsText is the bits a copy writes.
func bitsText(u MarkUser) string {
	if u.Whole {
		return "all"
	}
	return fmt.Sprintf("%#x", u.Bits)
}

// dockerPresent reports whether Docker's chains or tables are here.
func dockerPresent(h HostMarks) bool {
	for _, d := range h.ForwardDrops {
		if strings.HasPrefix(d, "Docker") {
			return true
		}
	}
	return h.Docker
}

// moveAfter is the second fix for an ip rule that compares the whole mark.
func moveAfter(rule bool) string {
	if rule {
		return fmt.Sprintf(", or move it after pathpin's rules (priority %d or more)", PrioLast+1)
	}
	return ""
}

// clearsPathpin adds what a whole-mark write does beside the clash.
func clearsPathpin(u MarkUser) string {
	if u.Whole && !u.Copy {
		return ", and it writes the whole mark, clearing pathpin's bits"
	}
	return ""
}

// testBreaks says what a test of pathpin's bits does, by owner.
func testBreaks(owner string) string {
	switch owner {
	case "kube-proxy":
		return "kube-proxy masquerades packets with 0x4000 and drops those with 0x8000"
	case "Cilium":
		return "Cilium reads its identity and proxy redirects from these bits"
	case "wg-quick", "WireGuard":
		return "its routing rule sends them into the tunnel or past it"
	case "Tailscale":
		return "Tailscale routes, accepts or masquerades by these bits"
	}
	return "they may be routed, dropped or NATed by its rules"
}

// lowBitsMask is the smallest run of whole nibbles from bit 0 that holds v.
func lowBitsMask(v uint32) uint32 {
	m := uint32(0xf)
	for v&^m != 0 && m != ^uint32(0) {
		m = m<<4 | 0xf
	}
	return m
}

func firstLAN(cfg *config.Config) string {
	if len(cfg.LAN.Interfaces) > 0 {
		return cfg.LAN.Interfaces[0]
	}
	return "LAN"
}
