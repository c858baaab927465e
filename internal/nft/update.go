package nft

import (
	"bytes"
	"fmt"
	"slices"

	"github.com/google/nftables"
)

// Update makes pathpin's table want, knowing the kernel holds have (a
// read of it), in one transaction that touches only what differs: a
// chain whose rules changed is flushed and refilled, a classification map
// gains and loses only the elements that changed, chains and sets no
// longer wanted go, a sticky set that stays keeps its sources untouched.
// A table of hundreds of policies then costs a change of one policy what
// that policy's chain costs, not a rewrite of them all.
//
// Where a part cannot be changed in place (no table yet, a base chain's
// hook, type or priority changed, something pathpin did not write), the
// whole table is written again (Apply).
func (c *Conn) Update(have, want *Table) (err error) {
	if have == nil || want == nil || !updatable(have, want) {
		return c.Apply(want)
	}
	if have.Equal(want) {
		return nil // nothing to send
	}
	sent := false
	defer func() {
		if err != nil && !sent {
			c.discard()
		}
	}()
	// have is the last read, at generation from: the read after this
	// update may then take from it what the update does not touch.
	from, fresh := c.gen, c.cached && c.last != nil && c.last.Equal(have)
	c.cached, c.pending = false, nil
	nt := table()
	chains := map[string]*nftables.Chain{}
	haveChains := map[string]*Chain{}
	for i := range have.Chains {
		haveChains[have.Chains[i].Name] = &have.Chains[i]
	}
	wantChains := map[string]*Chain{}
	for i := range want.Chains {
		wantChains[want.Chains[i].Name] = &want.Chains[i]
	}
	// A set that goes or is made again frees its rules first: their
	// chains are refilled even where their rules stay the same.
	replaced := map[string]bool{}
	for i := range have.Sets {
		hs := &have.Sets[i]
		if ws, keep := want.Set(hs.Name); !keep || hs.Timeout != ws.Timeout || !slices.Equal(hs.Key, ws.Key) {
			replaced[hs.Name] = true
		}
	}
	// The sources of the sticky sets made again (no other set is read),
	// before anything is queued on the socket.
	carried, err := c.carrySticky(want, func(set string) bool { return replaced[set] })
	if err != nil {
		return err
	}
	changed := map[string]bool{}
	for _, hc := range have.Chains {
		wc, keep := wantChains[hc.Name]
		changed[hc.Name] = !keep || !slices.EqualFunc(hc.Rules, wc.Rules, Rule.same) ||
			slices.ContainsFunc(hc.Rules, func(r Rule) bool { return slices.ContainsFunc(r.sets(), func(s string) bool { return replaced[s] }) })
	}
	// 1. Empty every chain whose rules change or that goes: their
	// references to chains and sets are released first.
	for _, hc := range have.Chains {
		if changed[hc.Name] {
			c.c.FlushChain(&nftables.Chain{Name: hc.Name, Table: nt})
		}
	}
	// 2. Then the map elements, sets and chains that go, in that order:
	// an element may go to a chain that goes.
	var come []*Set
	touchedSets := map[string]bool{}
	for i := range have.Sets {
		hs := &have.Sets[i]
		if replaced[hs.Name] || hs.IsSticky() {
			continue
		}
		ws, _ := want.Set(hs.Name)
		gone, added := elemDiff(hs, ws)
		if err := c.elems(nt, gone, c.c.SetDeleteElements); err != nil {
			return err
		}
		come = append(come, added)
		touchedSets[hs.Name] = len(gone.Elems)+len(added.Elems) > 0
	}
	for i := range have.Sets {
		if replaced[have.Sets[i].Name] {
			c.c.DelSet(&nftables.Set{Name: have.Sets[i].Name, Table: nt})
		}
	}
	for _, hc := range have.Chains {
		if _, keep := wantChains[hc.Name]; !keep {
			c.c.DelChain(&nftables.Chain{Name: hc.Name, Table: nt})
		}
	}
	ids := setIDs{named: map[string]uint32{}}
	// 3. New chains and sets, sticky sets that changed with their sources.
	for _, wc := range want.Chains {
		if _, ok := haveChains[wc.Name]; ok {
			chains[wc.Name] = &nftables.Chain{Name: wc.Name, Table: nt}
			continue
		}
		ch, err := addChain(c.c, nt, wc)
		if err != nil {
			return err
		}
		chains[wc.Name] = ch
	}
	for i := range carried.Sets {
		ws := &carried.Sets[i]
		if _, ok := have.Set(ws.Name); ok && !replaced[ws.Name] {
			continue
		}
		id, err := c.addSet(nt, ws)
		if err != nil {
			return err
		}
		ids.named[ws.Name] = id
	}
	for _, added := range come {
		if err := c.elems(nt, added, c.c.SetAddElements); err != nil {
			return err
		}
	}
	// 4. The rules of every chain emptied or made.
	for _, wc := range want.Chains {
		if _, ok := haveChains[wc.Name]; ok && !changed[wc.Name] {
			continue
		}
		if err := c.addRules(nt, chains[wc.Name], wc.Rules, ids); err != nil {
			return err
		}
	}
	sent = true
	if err := c.c.Flush(); err != nil {
		// Refused whole (a transaction is all or nothing): the table was
		// not as the read said, or the kernel takes the change only as a
		// new table. Writing it whole is the same end state.
		if aerr := c.Apply(want); aerr != nil {
			return fmt.Errorf("nftables: updating table ip %s: %v; writing it whole: %w", TableName, err, aerr)
		}
		return nil
	}
	// The read after this may take what the update did not touch from
	// the read it started from only if this commit is the only one since.
	if gen, gerr := generation(c.raw); fresh && gerr == nil && gen == from+1 {
		p := &partial{base: c.last, gen: from, chains: map[string]bool{}, sets: map[string]bool{}}
		for _, wc := range want.Chains {
			p.headers = append(p.headers, Chain{Name: wc.Name, Type: wc.Type, Hook: wc.Hook, Priority: wc.Priority})
			p.chains[wc.Name] = changed[wc.Name] || haveChains[wc.Name] == nil
		}
		for _, ws := range want.Sets {
			_, had := have.Set(ws.Name)
			p.sets[ws.Name] = !had || replaced[ws.Name] || touchedSets[ws.Name]
		}
		c.pending = p
	}
	return nil
}

// sets are the named sets the rule looks up or adds to.
func (r Rule) sets() []string {
	var out []string
	if r.Classify != nil {
		out = append(out, r.Classify.Set)
	}
	if r.InSticky != "" {
		out = append(out, r.InSticky)
	}
	if r.Stick != nil {
		out = append(out, r.Stick.Set)
	}
	if r.InDest != "" {
		out = append(out, r.InDest)
	}
	return out
}

// updatable reports whether have can become want in place: every part of
// have is pathpin's, and every base chain in both is the same hook.
func updatable(have, want *Table) bool {
	// A classification map that goes or is made again holds elements
	// that go to chains; kernels before 6.4 may refuse to delete such a
	// map and a chain it names in one transaction (EBUSY). A whole write
	// (rare: a reload that regroups the policies) has no such order.
	for _, hs := range have.Sets {
		if hs.IsSticky() {
			continue
		}
		if ws, ok := want.Set(hs.Name); !ok || !slices.Equal(ws.Key, hs.Key) || ws.IsSticky() {
			return false
		}
	}
	wants := map[string]*Chain{}
	for i := range want.Chains {
		wants[want.Chains[i].Name] = &want.Chains[i]
	}
	for _, hc := range have.Chains {
		if slices.ContainsFunc(hc.Rules, func(r Rule) bool { return r.Foreign }) {
			return false
		}
		if wc, ok := wants[hc.Name]; ok && (wc.Type != hc.Type || wc.Hook != hc.Hook || wc.Priority != hc.Priority) {
			return false
		}
	}
	return !slices.ContainsFunc(have.Sets, func(s Set) bool { return s.Foreign })
}

// elemDiff is what classification map hs loses and gains to become ws.
func elemDiff(hs, ws *Set) (gone, come *Set) {
	gone, come = &Set{Name: hs.Name, Key: hs.Key}, &Set{Name: ws.Name, Key: ws.Key}
	if sameElems(hs.Elems, ws.Elems) {
		return gone, come
	}
	key := func(e Elem) string { return string(e.From) + "\x00" + string(e.To) + "\x00" + e.Goto }
	has, wants := map[string]bool{}, map[string]bool{}
	for _, e := range hs.Elems {
		has[key(e)] = true
	}
	for _, e := range ws.Elems {
		wants[key(e)] = true
	}
	for _, e := range hs.Elems {
		if !wants[key(e)] {
			gone.Elems = append(gone.Elems, e)
		}
	}
	for _, e := range ws.Elems {
		if !has[key(e)] {
			come.Elems = append(come.Elems, e)
		}
	}
	return gone, come
}

// elems queues s's elements for op (add or delete), in messages of
// elementsPerMessage.
func (c *Conn) elems(nt *nftables.Table, s *Set, op func(*nftables.Set, []nftables.SetElement) error) error {
	ns, err := s.nftSet(nt)
	if err != nil {
		return err
	}
	for _, part := range chunks(s.elements()) {
		if err := op(ns, part); err != nil {
			return fmt.Errorf("nftables: set %s: %w", s.Name, err)
		}
	}
	return nil
}

// chunks splits elements into messages of elementsPerMessage.
func chunks(elems []nftables.SetElement) [][]nftables.SetElement {
	var out [][]nftables.SetElement
	for len(elems) > 0 {
		n := min(len(elems), elementsPerMessage)
		out, elems = append(out, elems[:n]), elems[n:]
	}
	return out
}

// sameElems reports whether two element lists are equal.
func sameElems(a, b []Elem) bool {
	return slices.EqualFunc(a, b, func(x, y Elem) bool {
		return bytes.Equal(x.From, y.From) && bytes.Equal(x.To, y.To) && x.Goto == y.Goto
	})
}
