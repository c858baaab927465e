package uplink

// Changes is what it takes to turn the live state into the desired one.
type Changes struct {
	// AddRoutes are put in with a replace: one whose ID a live route has
	// takes that route's place.
	AddRoutes, DelRoutes []Route
	AddRules, DelRules   []Rule
	// NFT rewrites pathpin's nftables table whole.
	NFT                *NFTChange
	Sysctls            []SysctlChange
	AddAddrs, DelAddrs []LinkAddr
}

// SysctlChange sets one kernel setting.
type SysctlChange struct {
	Sysctl
	Old string
}

// Empty reports whether nothing would change.
func (c *Changes) Empty() bool {
	return len(c.AddRoutes)+len(c.DelRoutes)+len(c.AddRules)+len(c.DelRules)+
		len(c.Sysctls)+len(c.AddAddrs)+len(c.DelAddrs) == 0 && c.NFT == nil
}

// Diff compares a desired state with the live one.
func Diff(desired, live *State) Changes {
	var c Changes
	c.AddRoutes, c.DelRoutes = diffRoutes(desired.Routes, live.Routes)
	c.AddRules, c.DelRules = diffBy(desired.Rules, live.Rules, Rule.String)
	c.AddAddrs, c.DelAddrs = diffBy(desired.Addrs, live.Addrs, LinkAddr.String)
	if !desired.NFT.Equal(live.NFT) {
		c.NFT = &NFTChange{Want: desired.NFT, Have: live.NFT}
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

// diffRoutes compares routes as the kernel holds them: by ID. A desired
// route whose ID no live route has, or whose live namesake differs, is
// added (a replace); a live route is deleted only when no desired route
// has its ID, since the replace already takes its place otherwise.
// desired holds each ID once (dedupeRoutes).
func diffRoutes(want, have []Route) (add, del []Route) {
	live := make(map[routeID]Route, len(have))
	for _, h := range have {
		live[h.ID()] = h
	}
	wanted := make(map[routeID]bool, len(want))
	for _, w := range want {
		wanted[w.ID()] = true
		if h, ok := live[w.ID()]; !ok || h.String() != w.String() {
			add = append(add, w)
		}
	}
	for _, h := range have {
		if !wanted[h.ID()] {
			del = append(del, h)
		}
	}
	return add, del
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
