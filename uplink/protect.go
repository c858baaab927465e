package uplink

import (
	"fmt"
	"net/netip"
	"slices"

	"github.com/pathpin/pathpin/internal/config"
	"github.com/pathpin/pathpin/internal/nft"
)

// prioFilter is where filter tables filter (0): pathpin's drops sit beside
// any other firewall's. Base chains on one hook all see each packet: an
// accept in one never overrides another's drop, and pathpin's chains
// accept nothing themselves (their policy is accept, and they only drop),
// so they neither open what another firewall closes nor close what it
// does not.
const prioFilter = 0

// Names of the protection chains, for status's counters.
const (
	chainProtectForward = "filter_forward"
	chainProtectInput   = "filter_input"
)

// Comments of the counted drops, by which status tells them apart.
const (
	whySpoofed = "spoofed source"
	whyRefused = "new connection refused"
)

// protectChains are pathpin's drops on the uplinks' side (protect:). With
// forwarding on, the router would otherwise route anything that reaches an
// uplink's address: from the ISP router's LAN (its Wi-Fi) into the home's
// LAN, and from one ISP's segment out of the other.
func protectChains(cfg *config.Config, facts *Facts) []nft.Chain {
	var out []nft.Chain
	if cfg.Protect.LAN {
		// The base chain only dispatches by arrival uplink, so a packet
		// from the LAN passes one comparison per uplink and no more.
		fwd := nft.Chain{Name: chainProtectForward, Type: "filter", Hook: "forward", Priority: prioFilter}
		lan := lanPrefixes(cfg, facts)
		var own []netip.Addr
		for _, a := range ownAddrs(cfg, facts) {
			if !slices.ContainsFunc(lan, func(p netip.Prefix) bool { return p.Contains(a) }) {
				own = append(own, a)
			}
		}
		slices.SortFunc(own, netip.Addr.Compare)
		own = slices.Compact(own)
		var per []nft.Chain
		for i := range cfg.Uplinks {
			u := &cfg.Uplinks[i]
			name := protectChain(u)
			fwd.Rules = append(fwd.Rules, nft.Rule{IIf: u.DeviceName(), Jump: name,
				Comment: fmt.Sprintf("what arrives on %s from its side of the link", u.Name)})
			// A PPPoE line's Ethernet (its VLAN link, or its own NIC)
			// carries no IP of pathpin's, but a neighbour there could
			// route through the router all the same.
			if u.IsPPPoE() && !slices.Contains(cfg.LAN.Interfaces, u.PPPoE.LinkName()) {
				fwd.Rules = append(fwd.Rules, nft.Rule{IIf: u.PPPoE.LinkName(), Jump: name,
					Comment: fmt.Sprintf("what arrives on %s's Ethernet link %s", u.Name, u.PPPoE.LinkName())})
			}
			c := nft.Chain{Name: name}
			for _, p := range lan {
				r := nft.Rule{Counter: true, Drop: true,
					Comment: fmt.Sprintf("%s: from %s with a LAN source address %s", whySpoofed, u.Name, p)}
				if p.Bits() == 32 {
					r.SAddr = p.Addr()
				} else {
					r.SNet = p
				}
				c.Rules = append(c.Rules, r)
			}
			for _, a := range own {
				c.Rules = append(c.Rules, nft.Rule{SAddr: a, Counter: true, Drop: true,
					Comment: fmt.Sprintf("%s: from %s with the router's own address %s", whySpoofed, u.Name, a)})
			}
			c.Rules = append(c.Rules,
				// What conntrack could not place (a SYN-ACK or RST of no
				// connection), and what it leaves alone (the DHCP answers
				// pathpin notracks), never goes further.
				nft.Rule{CtBad: true, Counter: true, Drop: true,
					Comment: fmt.Sprintf("%s: from %s's side, invalid or untracked", whyRefused, u.Name)},
				nft.Rule{CtNew: true, CtDNAT: true, Return: true,
					Comment: fmt.Sprintf("a port forward on %s (destination-NATed, whichever tool made it) passes", u.Name)},
				nft.Rule{CtNew: true, Counter: true, Drop: true,
					Comment: fmt.Sprintf("%s: from %s's side, towards the LAN or any other uplink", whyRefused, u.Name)})
			per = append(per, c)
		}
		out = append(out, per...)
		out = append(out, fwd)
	}
	if cfg.Protect.Router {
		in := nft.Chain{Name: chainProtectInput, Type: "filter", Hook: "input", Priority: prioFilter}
		for i := range cfg.Uplinks {
			u := &cfg.Uplinks[i]
			dev := u.DeviceName()
			for _, a := range cfg.Protect.AllowIn {
				if a.Uplink == "" || a.Uplink == u.Name {
					in.Rules = append(in.Rules, nft.Rule{IIf: dev, CtNew: true, DPort: &nft.L4Port{Proto: a.Proto, Port: a.Port}, Return: true,
						Comment: fmt.Sprintf("allow-in %s", a)})
				}
			}
			in.Rules = append(in.Rules, nft.Rule{IIf: dev, CtNew: true, Counter: true, Drop: true,
				Comment: fmt.Sprintf("%s: from %s's side to the router itself (DHCP, PPP and the probes' replies are not new connections)", whyRefused, u.Name)})
		}
		out = append(out, in)
	}
	return out
}

// protectChain is the chain of the drops for what arrives on uplink u.
func protectChain(u *config.Uplink) string { return "from_" + u.Name }

// Drops are the protection's counts for one uplink, read from pathpin's
// table.
type Drops struct {
	Spoofed, Refused uint64 // packets
}

// CountDrops sums the protection rules' counters by uplink name, from a
// table read back from the kernel.
func CountDrops(cfg *config.Config, t *nft.Table) map[string]Drops {
	out := map[string]Drops{}
	if t == nil {
		return out
	}
	byChain, byDev := map[string]string{}, map[string]string{}
	for i := range cfg.Uplinks {
		byChain[protectChain(&cfg.Uplinks[i])] = cfg.Uplinks[i].Name
		byDev[cfg.Uplinks[i].DeviceName()] = cfg.Uplinks[i].Name
	}
	for _, c := range t.Chains {
		for _, r := range c.Rules {
			name, ok := byChain[c.Name]
			if c.Name == chainProtectInput {
				name, ok = byDev[r.IIf]
			}
			if !ok || !r.Counter || !r.Drop {
				continue
			}
			d := out[name]
			if r.CtNew || r.CtBad {
				d.Refused += r.Packets
			} else {
				d.Spoofed += r.Packets
			}
			out[name] = d
		}
	}
	return out
}
