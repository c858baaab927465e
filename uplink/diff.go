package uplink

import "slices"

// Changes is what it takes to turn the live state into the desired one.
type Changes struct {
	AddRoutes, DelRoutes []Route
	AddRules, DelRules   []Rule
	Chains               []ChainChange
	AddJumps, DelJumps   []Jump
	// NFT rewrites pathpin's nftables table whole.
	NFT                *NFTChange
	Sysctls            []SysctlChange
	AddAddrs, DelAddrs []LinkAddr
}

// ChainChange rewrites, creates or deletes one of pathpin's chains.
type ChainChange struct {
	Chain  Chain    // the desired chain (for a deletion: the live one)
	Old    []string // the live rules, nil when the chain does not exist
	Exists bool     // the chain exists now
	Delete bool     // the chain is no longer wanted
}

// SysctlChange sets one kernel setting.
type SysctlChange struct {
	Sysctl
	Old string
}

// Empty reports whether nothing would change.
func (c *Changes) Empty() bool {
	return len(c.AddRoutes)+len(c.DelRoutes)+len(c.AddRules)+len(c.DelRules)+
		len(c.Chains)+len(c.AddJumps)+len(c.DelJumps)+len(c.Sysctls)+len(c.AddAddrs)+len(c.DelAddrs) == 0 && c.NFT == nil
}

// Diff compares a desired state with the live one.
func Diff(desired, live *State) Changes {
	var c Changes
	c.AddRoutes, c.DelRoutes = diffBy(desired.Routes, live.Routes, Route.String)
	c.AddRules, c.DelRules = diffBy(desired.Rules, live.Rules, Rule.String)
	c.AddJumps, c.DelJumps = diffBy(desired.Jumps, live.Jumps, Jump.Spec)
	c.AddAddrs, c.DelAddrs = diffBy(desired.Addrs, live.Addrs, LinkAddr.String)
	if !desired.NFT.Equal(live.NFT) {
		c.NFT = &NFTChange{Want: desired.NFT, Have: live.NFT}
	}

	liveChains := map[string]Chain{}
	for _, ch := range live.Chains {
		liveChains[ch.Table+"/"+ch.Name] = ch
	}
	wanted := map[string]bool{}
	for _, ch := range desired.Chains {
		wanted[ch.Table+"/"+ch.Name] = true
		old, exists := liveChains[ch.Table+"/"+ch.Name]
		if exists && slices.Equal(old.specs(), ch.specs()) {
			continue
		}
		c.Chains = append(c.Chains, ChainChange{Chain: ch, Old: old.specs(), Exists: exists})
	}
	for _, ch := range live.Chains {
		if !wanted[ch.Table+"/"+ch.Name] {
			c.Chains = append(c.Chains, ChainChange{Chain: ch, Old: ch.specs(), Exists: true, Delete: true})
		}
	}

	current := map[string]string{}
	for _, s := range live.Sysctls {
		current[s.Key] = s.Value
	}
	for _, s := range desired.Sysctls {
		if old := current[s.Key]; old != s.Value {
			c.Sysctls = append(c.Sysctls, SysctlChange{Sysctl: s, Old: old})
		}
	}
	return c
}

// diffBy returns the items of want missing from have, and those of have
// missing from want, compared by key. Each item's key is made once.
func diffBy[T any](want, have []T, key func(T) string) (add, del []T) {
	keys := func(list []T) map[string]bool {
		m := make(map[string]bool, len(list))
		for _, x := range list {
			m[key(x)] = true
		}
		return m
	}
	wantKeys, haveKeys := keys(want), keys(have)
	for _, w := range want {
		if !haveKeys[key(w)] {
			add = append(add, w)
		}
	}
	for _, h := range have {
		if !wantKeys[key(h)] {
			del = append(del, h)
		}
	}
	return add, del
}
