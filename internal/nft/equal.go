package nft

import "slices"

// Equal reports whether t and u hold the same chains, each with the same
// rules in the same order, and the same sets. The order of chains and of
// sets is not compared (it means nothing to the kernel, and a table
// updated in place lists new chains last); nor are comments, which the
// kernel is not given.
func (t *Table) Equal(u *Table) bool {
	if t == nil || u == nil {
		return t == u
	}
	if len(t.Chains) != len(u.Chains) || len(t.Sets) != len(u.Sets) {
		return false
	}
	chains := map[string]*Chain{}
	for i := range u.Chains {
		chains[u.Chains[i].Name] = &u.Chains[i]
	}
	for _, a := range t.Chains {
		b, ok := chains[a.Name]
		if !ok || a.Type != b.Type || a.Hook != b.Hook || a.Priority != b.Priority || !slices.EqualFunc(a.Rules, b.Rules, Rule.same) {
			return false
		}
	}
	for i := range t.Sets {
		b, ok := u.Set(t.Sets[i].Name)
		if !ok || !t.Sets[i].same(b) {
			return false
		}
	}
	return true
}

// same compares every field but the comment and the counts read back.
func (r Rule) same(o Rule) bool {
	return r.IIf == o.IIf && r.OIf == o.OIf && r.SAddr == o.SAddr && r.SNet == o.SNet && r.CtNew == o.CtNew && r.CtBad == o.CtBad && r.CtDNAT == o.CtDNAT &&
		r.Drop == o.Drop && r.Counter == o.Counter &&
		samePtr(r.CtMark, o.CtMark) && samePtr(r.Mark, o.Mark) && r.TCPSyn == o.TCPSyn && samePtr(r.UDP, o.UDP) && samePtr(r.DPort, o.DPort) && r.NoTrack == o.NoTrack &&
		sameLookup(r.Classify, o.Classify) && r.InSticky == o.InSticky && samePtr(r.Stick, o.Stick) &&
		samePtr(r.SetMark, o.SetMark) && samePtr(r.SetCtMark, o.SetCtMark) &&
		r.Return == o.Return && r.Jump == o.Jump && r.Goto == o.Goto && samePtr(r.Queue, o.Queue) &&
		r.InDest == o.InDest && sameCgroup(r.Cgroup, o.Cgroup) && samePtr(r.SrcPort, o.SrcPort) && r.CtReply == o.CtReply &&
		r.Modulus == o.Modulus && slices.Equal(r.Balance, o.Balance) && r.ClampMSS == o.ClampMSS &&
		r.SNAT == o.SNAT && r.Masquerade == o.Masquerade && r.Foreign == o.Foreign && r.Text == o.Text
}

// sameCgroup compares cgroup matches as the kernel holds them: by level
// and ID (the path is for reading).
func sameCgroup(a, b *CgroupMatch) bool {
	if a == nil || b == nil {
		return a == b
	}
	return a.Level == b.Level && a.ID == b.ID
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
