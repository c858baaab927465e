package uplink

import (
	"fmt"

	"github.com/google/nftables"
	"github.com/google/nftables/binaryutil"
	"github.com/google/nftables/expr"
)

// nftMarkUsers reads every table but pathpin's own (and those skip
// names) for rules that set or test marks, and for forward chains whose
// policy is drop.
func nftMarkUsers(c *nftables.Conn, skip func(*nftables.Table) bool) (users []MarkUser, drops []string) {
	chains, err := c.ListChains()
	if err != nil {
		return nil, nil
	}
	for _, ch := range chains {
		if ch.Table == nil || isPathpinTable(ch.Table) || skip(ch.Table) {
			continue
		}
		where := fmt.Sprintf("nftables table %s, chain %s", nftTableName(ch.Table), ch.Name)
		owner := nameOwner(ch.Table.Name, ch.Name)
		if ch.Hooknum != nil && *ch.Hooknum == *nftables.ChainHookForward && ch.Policy != nil && *ch.Policy == nftables.ChainPolicyDrop {
			drops = append(drops, ownedBy(owner, where+" (policy drop)"))
		}
		rules, err := c.GetRules(ch.Table, ch)
		if err != nil {
			continue
		}
		for _, r := range rules {
			for _, u := range exprMarkUsers(r.Exprs) {
				u.Owner, u.Where = owner, where
				users = append(users, u)
			}
		}
	}
	return users, drops
}

// ownedBy prefixes where with its owner's name, when known.
func ownedBy(owner, where string) string {
	if owner == "" {
		return where
	}
	return owner + "'s " + where
}

// markReg is what a register holds, as far as marks go.
type markReg struct {
	fromMark bool   // a mark (meta or ct) was loaded into it
	masked   bool   // and then masked (a bitwise)
	bits     uint32 // the mask, when masked
	xor      uint32 // the bits the bitwise sets
	imm      bool   // an immediate value
	value    uint32
}

// exprMarkUsers are the mark tests and writes of one rule's expressions:
// a meta or ct mark loaded, masked (bitwise), compared (cmp) or looked up
// in a set, and a meta or ct mark set from an immediate, a masked mark
// (mark and M xor V) or a copy of the other mark.
func exprMarkUsers(es []expr.Any) []MarkUser {
	var out []MarkUser
	regs := map[uint32]markReg{}
	// compared: the whole-mark values a rule tests, which a copy of that
	// mark then carries.
	var compared uint32
	load := func(reg uint32) { regs[reg] = markReg{fromMark: true} }
	set := func(reg uint32) {
		v, ok := regs[reg]
		switch {
		case !ok:
		case v.imm:
			out = append(out, MarkUser{Bits: v.value, Sets: true, Whole: true, Priority: -1})
		case v.fromMark && v.masked:
			out = append(out, MarkUser{Bits: ^v.bits | v.xor, Sets: true, Priority: -1})
		case v.fromMark:
			out = append(out, MarkUser{Bits: compared, Sets: true, Whole: true, Copy: true, Priority: -1})
		}
	}
	// follow tracks a meta or ct expression: a mark set from reg or
	// loaded into it; any other key loaded overwrites reg.
	follow := func(isMark, source bool, reg uint32) {
		switch {
		case isMark && source:
			set(reg)
		case isMark:
			load(reg)
		case !source:
			delete(regs, reg)
		}
	}
	for _, e := range es {
		switch e := e.(type) {
		case *expr.Meta:
			follow(e.Key == expr.MetaKeyMARK, e.SourceRegister, e.Register)
		case *expr.Ct:
			follow(e.Key == expr.CtKeyMARK, e.SourceRegister, e.Register)
		case *expr.Bitwise:
			v, ok := regs[e.SourceRegister]
			if !ok || !v.fromMark || len(e.Mask) != 4 || len(e.Xor) != 4 {
				delete(regs, e.DestRegister)
				continue
			}
			mask, xor := binaryutil.NativeEndian.Uint32(e.Mask), binaryutil.NativeEndian.Uint32(e.Xor)
			if v.masked {
				mask &= v.bits
			}
			regs[e.DestRegister] = markReg{fromMark: true, masked: true, bits: mask, xor: xor}
		case *expr.Cmp:
			v, ok := regs[e.Register]
			if !ok || !v.fromMark || len(e.Data) != 4 {
				continue
			}
			value := binaryutil.NativeEndian.Uint32(e.Data)
			switch {
			case v.masked:
				out = append(out, MarkUser{Bits: v.bits, Value: value, Priority: -1})
			case value == 0:
				out = append(out, MarkUser{Bits: ^uint32(0), Whole: true, Priority: -1})
			default:
				compared |= value
				out = append(out, MarkUser{Bits: value, Value: value, Whole: true, Priority: -1})
			}
		case *expr.Lookup:
			v, ok := regs[e.SourceRegister]
			if !ok || !v.fromMark {
				continue
			}
			// The values are the set's: taken as some value, never none.
			if v.masked {
				out = append(out, MarkUser{Bits: v.bits, Value: v.bits, Priority: -1})
			} else {
				out = append(out, MarkUser{Whole: true, Value: ^uint32(0), Priority: -1})
			}
		case *expr.Immediate:
			if len(e.Data) == 4 {
				regs[e.Register] = markReg{imm: true, value: binaryutil.NativeEndian.Uint32(e.Data)}
			} else {
				delete(regs, e.Register)
			}
		case *expr.Payload:
			delete(regs, e.DestRegister)
		}
	}
	return out
}
