package uplink

import (
	"fmt"
	"math/bits"
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
	if proposal == 0 {
		fix = fmt.Sprintf("no 4-bit mask is free of the other software's bits: free some of its marks, then set mark-mask in %s", cfg.Path)
	}
	clashes := 0
	for _, u := range h.Users {
		who := u.Where
		if u.Owner != "" && !strings.HasPrefix(u.Where, u.Owner) {
			who = u.Owner + ": " + u.Where
		}
		switch {
		case u.TestsClear():
			add(Info, "%s matches only packets whose mark bits %#x are all clear: packets pathpin has marked (bits %#x) do not match it", who, u.Bits, mask)
		case u.Bits&mask != 0 && u.Sets:
			clashes++
			add(Warning, "%s sets mark bits %#x, inside pathpin's mark-mask %#x: pathpin leaves a packet that already carries bits of its mask alone, so these packets are not balanced or pinned to an uplink (a tunnel among them does not follow a failover), and a value equal to an uplink's mark routes them by that uplink's table%s; %s",
				who, u.Bits, mask, clearsPathpin(u), fix)
		case u.Bits&mask != 0:
			clashes++
			add(Warning, "%s tests mark bits %#x, inside pathpin's mark-mask %#x: connections pathpin marks for an uplink are seen by it as its own marks (%s); %s",
				who, u.Bits, mask, testBreaks(u.Owner), fix)
		case u.Copy:
			add(Info, "%s copies the whole mark between packets and their connections: pathpin's bits travel with it, as pathpin's own restore does", who)
		case u.Sets && u.Whole:
			add(Warning, "%s sets the whole mark (%#x): where it runs after pathpin's chains (a hook priority above mangle, -150), it clears pathpin's bits and the packet loses its uplink; make it set only its bits (mark and %#x or %#x)", who, u.Bits, ^u.Bits, u.Bits)
		case u.Whole && u.Priority >= 0 && u.Priority < PrioFirst:
			add(Warning, "%s compares the whole mark ahead of pathpin's rules (priority %d < %d): a packet pathpin has marked carries pathpin's bits too and never equals %#x, so this rule no longer tells its packets apart; give it a mask (fwmark %#x/%#x) or move it after pathpin's rules (priority %d or more)",
				who, u.Priority, PrioFirst, u.Bits, u.Bits, lowBitsMask(u.Bits), PrioLast+1)
		default:
			add(Info, "%s uses mark bits %#x, outside pathpin's mark-mask %#x: pathpin keeps them as they are", who, u.Bits, mask)
		}
	}
	if clashes == 0 && len(h.Users) > 0 {
		add(Info, "no other software here uses mark bits inside pathpin's mark-mask %#x", mask)
	}
	for _, l := range h.Links {
		add(Info, "%s: see the README's recipes for running it beside pathpin", l)
	}
	for _, d := range h.ForwardDrops {
		add(Warning, "%s: forwarded traffic that none of its rules accepts is dropped, the LAN's connections to the uplinks included (pathpin's accept does not override another table's drop). Docker sets this: give dockerd \"ip-forward-no-drop\": true in /etc/docker/daemon.json, or accept the LAN's traffic in DOCKER-USER (iptables -I DOCKER-USER -i %s -j ACCEPT and -I DOCKER-USER -o %s -m conntrack --ctstate ESTABLISHED,RELATED -j ACCEPT)",
			d, firstLAN(cfg), firstLAN(cfg))
	}
	if len(h.SrcValidMark) > 0 {
		add(Info, "net.ipv4.conf.{%s}.src_valid_mark is 1 (Tailscale 1.98 and later and wg-quick turn it on): the kernel checks a packet's source address in the routing table its mark picks. pathpin's uplink tables hold the LAN's and the uplinks' connected routes, so the packets pathpin marks pass; a packet with another program's mark inside mark-mask %#x is checked in an uplink's table", strings.Join(h.SrcValidMark, ","), mask)
	}
	return out
}

// TestsClear reports whether u only tests that its bits are all clear
// (fwmark 0/M): it tells apart what pathpin marked, and takes no bits.
func (u MarkUser) TestsClear() bool { return !u.Sets && u.Value == 0 }

// clearsPathpin adds what a whole-mark write does beside the clash.
func clearsPathpin(u MarkUser) string {
	if u.Whole {
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
