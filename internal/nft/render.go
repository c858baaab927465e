package nft

import (
	"fmt"
	"strings"
)

// Render writes the table in nft syntax, as `nft list table ip pathpin`
// prints it; with comments, each rule's comment goes above it as a
// `#` line, which `nft -f` accepts too. A nil table renders as "".
func (t *Table) Render(comments bool) string {
	if t == nil {
		return ""
	}
	var b strings.Builder
	fmt.Fprintf(&b, "table ip %s {\n", TableName)
	for i := range t.Sets {
		t.Sets[i].render(&b, comments)
		b.WriteString("\n")
	}
	for i, c := range t.Chains {
		if i > 0 {
			b.WriteString("\n")
		}
		fmt.Fprintf(&b, "\tchain %s {\n", c.Name)
		if c.Hook != "" {
			fmt.Fprintf(&b, "\t\ttype %s hook %s priority %s; policy accept;\n", c.Type, c.Hook, priorityName(c.Type, c.Priority))
		}
		for _, r := range c.Rules {
			if comments && r.Comment != "" {
				fmt.Fprintf(&b, "\t\t# %s\n", r.Comment)
			}
			fmt.Fprintf(&b, "\t\t%s\n", r.String())
		}
		b.WriteString("\t}\n")
	}
	b.WriteString("}\n")
	return b.String()
}

// priorityName is how nft names the standard priorities it prints.
func priorityName(typ string, p int) string {
	switch {
	case p == -150:
		return "mangle"
	case p > -150 && p < -100:
		return fmt.Sprintf("mangle + %d", p+150)
	case p == -300:
		return "raw"
	case p == 100 && typ == "nat":
		return "srcnat"
	case p == 0:
		return "filter"
	}
	return fmt.Sprint(p)
}

// String is the rule in nft syntax, as nft lists it.
func (r Rule) String() string {
	if r.Foreign {
		return r.Text
	}
	var p []string
	if r.IIf != "" {
		p = append(p, fmt.Sprintf("iifname %q", r.IIf))
	}
	if r.OIf != "" {
		p = append(p, fmt.Sprintf("oifname %q", r.OIf))
	}
	if r.SAddr.IsValid() {
		p = append(p, "ip saddr "+r.SAddr.String())
	}
	if r.SNet.IsValid() {
		p = append(p, "ip saddr "+r.SNet.Masked().String())
	}
	if r.CtNew {
		p = append(p, "ct state new")
	}
	if r.CtBad {
		p = append(p, "ct state invalid,untracked")
	}
	if r.CtReply {
		p = append(p, "ct direction reply")
	}
	if r.CtDNAT {
		p = append(p, "ct status dnat")
	}
	if m := r.CtMark; m != nil {
		p = append(p, "ct mark "+m.String())
	}
	if m := r.Mark; m != nil {
		p = append(p, "meta mark "+m.String())
	}
	if r.TCPSyn {
		p = append(p, "tcp flags syn / syn,rst")
	}
	if u := r.UDP; u != nil {
		p = append(p, fmt.Sprintf("udp sport %d udp dport %d", u.Src, u.Dst))
	}
	if d := r.DPort; d != nil {
		p = append(p, fmt.Sprintf("%s dport %d", d.Proto, d.Port))
	}
	if d := r.SrcPort; d != nil {
		p = append(p, fmt.Sprintf("%s sport %d", d.Proto, d.Port))
	}
	if c := r.Cgroup; c != nil {
		path := c.Path
		if path == "" {
			path = fmt.Sprint(c.ID)
		}
		p = append(p, fmt.Sprintf("socket cgroupv2 level %d %q", c.Level, path))
	}
	if r.InDest != "" {
		p = append(p, "ip daddr @"+r.InDest)
	}
	if l := r.Classify; l != nil {
		var fs []string
		for _, f := range l.Key {
			fs = append(fs, f.String())
		}
		p = append(p, strings.Join(fs, " . ")+" vmap @"+l.Set)
	}
	if r.InSticky != "" {
		p = append(p, "ip saddr @"+r.InSticky)
	}
	if s := r.Stick; s != nil {
		p = append(p, fmt.Sprintf("update @%s { ip saddr timeout %s }", s.Set, nftDuration(s.Timeout)))
	}
	switch {
	case r.SetMark != nil:
		p = append(p, "meta mark set meta mark "+r.SetMark.String())
	case r.SetCtMark != nil:
		p = append(p, "ct mark set ct mark "+r.SetCtMark.String())
	}
	if r.Counter {
		p = append(p, fmt.Sprintf("counter packets %d bytes %d", r.Packets, r.Bytes))
	}
	switch {
	case r.Drop:
		p = append(p, "drop")
	case r.Return:
		p = append(p, "return")
	case r.Jump != "":
		p = append(p, "jump "+r.Jump)
	case r.Goto != "":
		p = append(p, "goto "+r.Goto)
	case r.Queue != nil:
		p = append(p, fmt.Sprintf("queue flags bypass to %d", r.Queue.Num))
	case len(r.Balance) > 0:
		var elems []string
		for _, k := range slotKeys(r.Balance) {
			elems = append(elems, fmt.Sprintf("%d : jump %s", k.key, k.chain))
		}
		p = append(p, fmt.Sprintf("numgen random mod %d vmap { %s }", r.Modulus, strings.Join(elems, ", ")))
	case r.ClampMSS < 0:
		p = append(p, "tcp option maxseg size set rt mtu")
	case r.ClampMSS > 0:
		p = append(p, fmt.Sprintf("tcp option maxseg size set %d", r.ClampMSS))
	case r.SNAT.IsValid():
		p = append(p, "snat to "+r.SNAT.String())
	case r.Masquerade:
		p = append(p, "masquerade")
	case r.NoTrack:
		p = append(p, "notrack")
	}
	return strings.Join(p, " ")
}

func (m MarkMatch) String() string {
	op := "=="
	if m.Not {
		op = "!="
	}
	return fmt.Sprintf("& 0x%08x %s 0x%08x", m.Mask, op, m.Value)
}

// String is the set as nft prints it: the kept bits and the value, with
// the value's bits shown in the mask too.
func (m MarkSet) String() string {
	return fmt.Sprintf("& 0x%08x | 0x%08x", ^m.Mask|(m.Value&m.Mask), m.Value&m.Mask)
}
