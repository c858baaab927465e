package uplink

import (
	"fmt"

	"github.com/google/nftables"
	"github.com/google/nftables/binaryutil"
	"github.com/google/nftables/expr"
)

// nftMarkUsers reads every table but pathpin's own (and those skip
// names) for rules that set or test marks, and for forward chains whose
// policy is drop. What cannot be read is said in unread.
func nftMarkUsers(c *nftables.Conn, skip func(*nftables.Table) bool) (users []MarkUser, drops, unread []string) {
	chains, err := c.ListChains()
	if err != nil {
		return nil, nil, []string{fmt.Sprintf("nftables chains: %v", err)}
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
			unread = append(unread, fmt.Sprintf("%s: %v", where, err))
			continue
		}
		for _, r := range rules {
			for _, u := range exprMarkUsers(r.Exprs) {
				u.Owner, u.Where, u.Before, u.Hook = owner, where, runsBeforePathpin(ch), hookName(ch)
				if u.Map != "" {
					u.Bits, u.Unknown = mapValues(c, ch.Table, u.Map, u.MapKeys)
				}
				users = append(users, u)
			}
		}
	}
	return users, drops, unread
}

// runsBeforePathpin reports whether a base chain sees packets before
// pathpin's prerouting and output chains (mangle, -150) mark them; a
// regular chain is taken to run after (it is jumped to from anywhere).
func runsBeforePathpin(ch *nftables.Chain) bool {
	if ch.Hooknum == nil || ch.Priority == nil {
		return false
	}
	hook := *ch.Hooknum
	early := hook == *nftables.ChainHookPrerouting || hook == *nftables.ChainHookOutput
	return early && *ch.Priority < prioMangle
}

// hookName is where a base chain runs, "" for a regular chain.
func hookName(ch *nftables.Chain) string {
	if ch.Hooknum == nil {
		return ""
	}
	return map[nftables.ChainHook]string{*nftables.ChainHookPrerouting: "prerouting", *nftables.ChainHookInput: "input",
		*nftables.ChainHookForward: "forward", *nftables.ChainHookOutput: "output", *nftables.ChainHookPostrouting: "postrouting"}[*ch.Hooknum]
}

// mapValues are the bits of the values a map gives (a mark set from a
// map) or of a set's keys (a mark tested against them), or unknown when
// the set cannot be read.
func mapValues(c *nftables.Conn, t *nftables.Table, name string, keys bool) (bits uint32, unknown bool) {
	set, err := c.GetSetByName(t, name)
	if err != nil {
		return 0, true
	}
	elems, err := c.GetSetElements(set)
	if err != nil {
		return 0, true
	}
	for _, e := range elems {
		v := e.Val
		if keys {
			v = e.Key
		}
		if len(v) == 4 {
			bits |= binaryutil.NativeEndian.Uint32(v)
		}
	}
	return bits, false
}

// ownedBy prefixes where with its owner's name, when known.
func ownedBy(owner, where string) string {
	if owner == "" {
		return where
	}
	return owner + "'s " + where
}

// markKind is the mark an expression reads or writes.
type markKind int

const (
	packetMark markKind = iota + 1 // meta mark
	connMark                       // ct mark
)

// markReg is what a register holds, as far as marks go.
type markReg struct {
	kind    markKind // a mark of this kind was loaded into it (0: none)
	masked  bool     // and then masked (a bitwise)
	bits    uint32   // the mask, when masked
	xor     uint32   // the bits the bitwise sets
	imm     bool     // an immediate value
	value   uint32
	fromMap string // a map's value
}

// exprMarkUsers are the mark tests and writes of one rule's expressions:
// a meta or ct mark loaded, masked (bitwise), compared (cmp) or looked up
// in a set, and a meta or ct mark set from an immediate, a masked mark
// (mark and M xor V), the other mark (a copy), a map's value or a value
// pathpin cannot know (numgen, a hash).
func exprMarkUsers(es []expr.Any) []MarkUser {
	var out []MarkUser
	regs := map[uint32]markReg{}
	// last is the register written last: google/nftables does not read
	// back the source register of a ct set, which is, as nft writes it,
	// the one just filled.
	var last uint32
	// compared: the whole-mark values a rule tests, which a copy of that
	// mark then carries.
	var compared uint32
	write := func(reg uint32, v markReg, known bool) {
		if known {
			regs[reg] = v
		} else {
			delete(regs, reg)
		}
		last = reg
	}
	set := func(reg uint32, to markKind) {
		v, ok := regs[reg]
		u := MarkUser{Sets: true, Priority: -1}
		switch {
		case !ok:
			u.Whole, u.Unknown = true, true
		case v.fromMap != "":
			u.Whole, u.Map = true, v.fromMap
		case v.imm:
			u.Bits, u.Whole = v.value, true
		case v.masked:
			// (mark and M) xor V: the bits it clears or sets; from the
			// other mark, a copy of the rest.
			u.Bits, u.Copy = ^v.bits|v.xor, v.kind != to
		case v.kind == to:
			return // the mark set to itself
		default:
			u.Bits, u.Whole, u.Copy = compared, true, true
		}
		out = append(out, u)
	}
	follow := func(kind markKind, isMark, source bool, reg uint32) {
		switch {
		case isMark && kind == connMark && !source && reg == 0:
			set(last, kind) // a ct set whose source register was not read
		case isMark && source:
			set(reg, kind)
		case isMark:
			write(reg, markReg{kind: kind}, true)
		case !source:
			write(reg, markReg{}, false)
		}
	}
	for _, e := range es {
		switch e := e.(type) {
		case *expr.Meta:
			follow(packetMark, e.Key == expr.MetaKeyMARK, e.SourceRegister, e.Register)
		case *expr.Ct:
			follow(connMark, e.Key == expr.CtKeyMARK, e.SourceRegister, e.Register)
		case *expr.Bitwise:
			v, ok := regs[e.SourceRegister]
			if !ok || v.kind == 0 || len(e.Mask) != 4 || len(e.Xor) != 4 {
				write(e.DestRegister, markReg{}, false)
				continue
			}
			mask, xor := binaryutil.NativeEndian.Uint32(e.Mask), binaryutil.NativeEndian.Uint32(e.Xor)
			if v.masked {
				mask &= v.bits
			}
			write(e.DestRegister, markReg{kind: v.kind, masked: true, bits: mask, xor: xor}, true)
		case *expr.Cmp:
			v, ok := regs[e.Register]
			if !ok || v.kind == 0 || len(e.Data) != 4 {
				continue
			}
			value := binaryutil.NativeEndian.Uint32(e.Data)
			u := MarkUser{Value: value, Negate: e.Op == expr.CmpOpNeq, Priority: -1}
			switch {
			case e.Op != expr.CmpOpEq && e.Op != expr.CmpOpNeq:
				u.Whole, u.Unknown = !v.masked, true // a range: no one value
				u.Bits = v.bits
			case v.masked:
				u.Bits = v.bits
			case value == 0:
				u.Whole = true // no mark at all (or any, negated): takes no bits
			default:
				if !u.Negate {
					compared |= value
				}
				u.Bits, u.Whole = value, true
			}
			out = append(out, u)
		case *expr.Lookup:
			if v, ok := regs[e.SourceRegister]; ok && v.kind != 0 {
				// The values are the set's, read with the chain.
				u := MarkUser{Map: e.SetName, MapKeys: true, Value: ^uint32(0), Negate: e.Invert, Priority: -1}
				if v.masked {
					u.Bits, u.Map = v.bits, ""
				} else {
					u.Whole = true
				}
				out = append(out, u)
			}
			if e.IsDestRegSet {
				write(e.DestRegister, markReg{fromMap: e.SetName}, true)
			}
		case *expr.Immediate:
			ok := len(e.Data) == 4
			v := markReg{imm: true}
			if ok {
				v.value = binaryutil.NativeEndian.Uint32(e.Data)
			}
			write(e.Register, v, ok)
		case *expr.Payload:
			if e.OperationType != expr.PayloadWrite {
				write(e.DestRegister, markReg{}, false)
			}
		case *expr.Range:
			if v, ok := regs[e.Register]; ok && v.kind != 0 {
				out = append(out, MarkUser{Bits: v.bits, Whole: !v.masked, Unknown: true, Value: ^uint32(0), Negate: e.Op == expr.CmpOpNeq, Priority: -1})
			}
		case *expr.Numgen:
			write(e.Register, markReg{}, false)
		case *expr.Fib:
			write(e.Register, markReg{}, false)
		case *expr.Exthdr:
			write(e.DestRegister, markReg{}, false)
		case *expr.Rt:
			write(e.Register, markReg{}, false)
		case *expr.Hash:
			write(e.DestRegister, markReg{}, false)
		}
	}
	return out
}
