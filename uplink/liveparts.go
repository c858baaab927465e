package uplink

// liveParts says which parts of the live state a read covers.
type liveParts struct {
	rules, routes, addrs, firewall, sysctls bool
}

// everything is a whole read, as a plan or down makes.
var everything = liveParts{rules: true, routes: true, addrs: true, firewall: true, sysctls: true}

// touched is what c changes. Routes are read with the rules, which name
// pathpin's tables.
func touched(c *Changes) liveParts {
	p := liveParts{
		rules:    len(c.AddRules)+len(c.DelRules) > 0,
		routes:   len(c.AddRoutes)+len(c.DelRoutes) > 0,
		addrs:    len(c.AddAddrs)+len(c.DelAddrs) > 0,
		firewall: c.NFT != nil,
		sysctls:  len(c.Sysctls) > 0,
	}
	p.rules = p.rules || p.routes
	return p
}

// keep fills the parts of s that were not read from before.
func (s *State) keep(before *State, read liveParts) {
	if !read.rules {
		s.Rules = before.Rules
	}
	if !read.routes {
		s.Routes = before.Routes
	}
	if !read.addrs {
		s.Addrs = before.Addrs
	}
	if !read.firewall {
		s.NFT = before.NFT
	}
	if !read.sysctls {
		s.Sysctls = before.Sysctls
	}
}
