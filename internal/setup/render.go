package setup

import (
	"fmt"
	"net/netip"
	"strings"

	"gopkg.in/yaml.v3"
)

// Answers is everything init writes: the uplinks and the LAN.
type Answers struct {
	PPPoE  *PPPoEUplink
	Static *StaticUplink
	LAN    []string
	// ProtectRouter closes the router itself to the uplinks' side.
	ProtectRouter bool
	// MarkMask, when not 0, is written as mark-mask, with MarkMaskWhy.
	MarkMask    uint32
	MarkMaskWhy string
}

// PPPoEUplink is the PPPoE line found by the scan or read from a peer.
type PPPoEUplink struct {
	Name         string
	Interface    string
	VLAN         int
	Username     string
	PasswordFile string
	Service      string
	ACName       string
	IfName       string
	// MTU is 1500 when the AC offered PPP-Max-Payload; 0 leaves pathpin's
	// default (1492).
	MTU             int
	LCPEchoInterval *int
	LCPEchoFailure  *int
	// Comment says where the line was found, for the YAML.
	Comment string
}

// StaticUplink is an ISP router on a plain LAN.
type StaticUplink struct {
	Name      string
	Interface string
	Gateway   netip.Addr
	Comment   string
}

// Render writes the answers as pathpin.yaml, commented, in the order of
// examples/reference.yaml. The password never appears: only its file.
func (a *Answers) Render() string {
	var b strings.Builder
	b.WriteString("# Written by pathpin init. Every setting, with its default:\n")
	b.WriteString("# /usr/share/doc/pathpin/examples/reference.yaml\n")
	if a.MarkMask != 0 {
		fmt.Fprintf(&b, "# The default mark-mask (0xff00) is used here by %s.\n", a.MarkMaskWhy)
		fmt.Fprintf(&b, "mark-mask: %#x\n", a.MarkMask)
	}
	b.WriteString("lan:\n")
	fmt.Fprintf(&b, "  interfaces: [%s]\n", strings.Join(quoteAll(a.LAN), ", "))
	b.WriteString("uplinks:\n")
	if s := a.Static; s != nil {
		fmt.Fprintf(&b, "  - name: %s%s\n", q(s.Name), comment(s.Comment))
		fmt.Fprintf(&b, "    interface: %s\n", q(s.Interface))
		fmt.Fprintf(&b, "    gateway: %s\n", s.Gateway)
		b.WriteString("    weight: 1\n")
	}
	if p := a.PPPoE; p != nil {
		fmt.Fprintf(&b, "  - name: %s%s\n", q(p.Name), comment(p.Comment))
		b.WriteString("    weight: 1\n")
		b.WriteString("    pppoe:\n")
		fmt.Fprintf(&b, "      interface: %s\n", q(p.Interface))
		if p.VLAN != 0 {
			fmt.Fprintf(&b, "      vlan: %d\n", p.VLAN)
		}
		fmt.Fprintf(&b, "      username: %s\n", q(p.Username))
		fmt.Fprintf(&b, "      password-file: %s\n", q(p.PasswordFile))
		if p.Service != "" {
			fmt.Fprintf(&b, "      service: %s\n", q(p.Service))
		}
		if p.ACName != "" {
			fmt.Fprintf(&b, "      ac: %s\n", q(p.ACName))
		}
		if p.IfName != "" {
			fmt.Fprintf(&b, "      ifname: %s\n", q(p.IfName))
		}
		if p.MTU != 0 {
			fmt.Fprintf(&b, "      mtu: %d%s\n", p.MTU, comment(mtuNote(p.MTU)))
		}
		if p.LCPEchoInterval != nil {
			fmt.Fprintf(&b, "      lcp-echo-interval: %d\n", *p.LCPEchoInterval)
		}
		if p.LCPEchoFailure != nil {
			fmt.Fprintf(&b, "      lcp-echo-failure: %d\n", *p.LCPEchoFailure)
		}
	}
	b.WriteString("# The LAN is closed to the uplinks' side (protect.lan, the default).\n")
	if a.ProtectRouter {
		b.WriteString("# New connections from the uplinks' side to the router itself are dropped\n" +
			"# too (DHCP, PPP and the probes keep working); open a port with allow-in,\n" +
			"# e.g. allow-in: [tcp/22 on " + a.firstUplink() + "].\n")
		b.WriteString("protect:\n  router: true\n")
	}
	return b.String()
}

// firstUplink names an uplink of the answers, for examples.
func (a *Answers) firstUplink() string {
	if a.Static != nil {
		return a.Static.Name
	}
	if a.PPPoE != nil {
		return a.PPPoE.Name
	}
	return "UPLINK"
}

func mtuNote(mtu int) string {
	if mtu == 1500 {
		return "the access concentrator offered RFC 4638 (PPP-Max-Payload)"
	}
	return ""
}

func comment(s string) string {
	if s == "" {
		return ""
	}
	return "  # " + s
}

// q writes a string as a YAML scalar, quoted only when it must be.
func q(s string) string {
	out, err := yaml.Marshal(s)
	if err != nil {
		return fmt.Sprintf("%q", s)
	}
	return strings.TrimSuffix(string(out), "\n")
}

func quoteAll(ss []string) []string {
	out := make([]string, len(ss))
	for i, s := range ss {
		out[i] = q(s)
	}
	return out
}
