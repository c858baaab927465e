package nft

import "slices"

// Equal reports whether t and u hold the same chains and rules, in the
// same order. Comments are not compared: the kernel is not given them.
func (t *Table) Equal(u *Table) bool {
	if t == nil || u == nil {
		return t == u
	}
	if !slices.EqualFunc(t.Sets, u.Sets, func(a, b Set) bool { return a.same(&b) }) {
		return false
	}
	return slices.EqualFunc(t.Chains, u.Chains, func(a, b Chain) bool {
		return a.Name == b.Name && a.Type == b.Type && a.Hook == b.Hook && a.Priority == b.Priority &&
			slices.EqualFunc(a.Rules, b.Rules, Rule.same)
	})
}

// same compares every field but the comment and the counts read back.
func (r Rule) same(o Rule) bool {
	return r.IIf == o.IIf && r.OIf == o.OIf && r.SAddr == o.SAddr && r.SNet == o.SNet && r.CtNew == o.CtNew && r.CtBad == o.CtBad && r.CtDNAT == o.CtDNAT &&
		r.Drop == o.Drop && r.Counter == o.Counter &&
		samePtr(r.CtMark, o.CtMark) && samePtr(r.Mark, o.Mark) && r.TCPSyn == o.TCPSyn && samePtr(r.UDP, o.UDP) && samePtr(r.DPort, o.DPort) && r.NoTrack == o.NoTrack &&
		sameLookup(r.Classify, o.Classify) && r.InSticky == o.InSticky && samePtr(r.Stick, o.Stick) &&
		samePtr(r.SetMark, o.SetMark) && samePtr(r.SetCtMark, o.SetCtMark) &&
		r.Return == o.Return && r.Jump == o.Jump &&
		r.Modulus == o.Modulus && slices.Equal(r.Balance, o.Balance) && r.ClampMSS == o.ClampMSS &&
		r.SNAT == o.SNAT && r.Masquerade == o.Masquerade && r.Foreign == o.Foreign && r.Text == o.Text
}

func samePtr[T comparable](a, b *T) bool {
	if a == nil || b == nil {
		return a == b
	}
	return *a == *b
}

func sameLookup(a, b *Lookup) bool {
	if a == nil || b == nil {
		return a == b
	}
	return a.Set == b.Set && slices.Equal(a.Key, b.Key)
}
