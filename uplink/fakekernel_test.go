package uplink

import (
	"fmt"
	"io/fs"
	"maps"
	"net"
	"net/netip"
	"slices"
	"sort"
	"strings"

	"github.com/pathpin/pathpin/internal/nft"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// fakeKernel is an in-memory kernel behind the engine's seams (Netlink,
// NFTables, Sysctls, and the iptables an older pathpin wrote to), for unit
// tests without root. It keeps to the kernel's rules where pathpin depends
// on them: a route is identified by table, destination, TOS and metric and
// a replace takes the place of the route with the same key, a delete
// matches the key and whatever else it names (type, device, gateway,
// scope), a route through a link that is not up or by a gateway that is
// not on the link is refused, an identical rule exists once, a deleted
// link takes its routes, addresses and settings with it, and pathpin's
// nftables table is replaced whole or not at all.
type fakeKernel struct {
	links  []fakeLink
	routes []netlink.Route
	rules  []netlink.Rule
	nft    *nft.Table
	// oldChains are iptables chains an older pathpin left, by
	// "table/chain", with their rules; jumps are the rules in built-in
	// chains that reach them, "table/chain" -> targets.
	oldChains map[string][]string
	jumps     map[string][]string
	sysctl    map[string]string
	// fail makes the named operation fail on its n-th call from now (1:
	// the next call).
	fail map[string]int
	// afterApply, when set, runs after each nftables transaction (to make
	// the kernel hold something else than what was asked).
	afterApply func(*fakeKernel)
	nextIndex  int
	// reads counts the whole-state reads: routes, rules, nftables.
	reads map[string]int
}

type fakeLink struct {
	attrs netlink.LinkAttrs
	addrs []netlink.Addr
}

func newFakeKernel() *fakeKernel {
	k := &fakeKernel{fail: map[string]int{}, nextIndex: 1, reads: map[string]int{}, oldChains: map[string][]string{}, jumps: map[string][]string{},
		sysctl: map[string]string{"net/ipv4/ip_forward": "0", "net/ipv4/conf/all/rp_filter": "0"}}
	k.addLink("lo", "", true)
	return k
}

// clone copies the whole kernel.
func (k *fakeKernel) clone() *fakeKernel {
	c := &fakeKernel{fail: map[string]int{}, reads: map[string]int{}, nextIndex: k.nextIndex, sysctl: maps.Clone(k.sysctl),
		nft: k.nft.Clone(), oldChains: map[string][]string{}, jumps: map[string][]string{}}
	for _, l := range k.links {
		c.links = append(c.links, fakeLink{attrs: l.attrs, addrs: slices.Clone(l.addrs)})
	}
	c.routes = slices.Clone(k.routes)
	c.rules = slices.Clone(k.rules)
	for key, v := range k.oldChains {
		c.oldChains[key] = slices.Clone(v)
	}
	for key, v := range k.jumps {
		c.jumps[key] = slices.Clone(v)
	}
	return c
}

func (k *fakeKernel) failing(op string) error {
	n, ok := k.fail[op]
	if !ok {
		return nil
	}
	if n <= 1 {
		delete(k.fail, op)
		return fmt.Errorf("fake kernel: %s fails (injected)", op)
	}
	k.fail[op] = n - 1
	return nil
}

// addLink adds an interface with an address (CIDR, or "" for none), up
// with carrier or not, and its connected route in the main table.
func (k *fakeKernel) addLink(name, cidr string, up bool) {
	attrs := netlink.LinkAttrs{Name: name, Index: k.nextIndex, MTU: 1500}
	k.nextIndex++
	k.links = append(k.links, fakeLink{attrs: attrs})
	k.setUp(name, up)
	k.sysctl["net/ipv4/conf/"+name+"/rp_filter"] = "1"
	if cidr != "" {
		k.addAddr(name, cidr, "")
	}
}

func (k *fakeKernel) link(name string) *fakeLink {
	for i := range k.links {
		if k.links[i].attrs.Name == name {
			return &k.links[i]
		}
	}
	return nil
}

func (k *fakeKernel) setUp(name string, up bool) {
	l := k.link(name)
	if up {
		l.attrs.Flags |= net.FlagUp
		l.attrs.RawFlags |= unix.IFF_LOWER_UP
	} else {
		l.attrs.RawFlags &^= unix.IFF_LOWER_UP
	}
}

// addAddr adds an address; with peer, a point-to-point one (PPP).
func (k *fakeKernel) addAddr(name, cidr, peer string) {
	l := k.link(name)
	p := netip.MustParsePrefix(cidr)
	a := netlink.Addr{IPNet: &net.IPNet{IP: p.Addr().AsSlice(), Mask: net.CIDRMask(p.Bits(), 32)}}
	if peer != "" {
		a.Peer = &net.IPNet{IP: netip.MustParseAddr(peer).AsSlice(), Mask: net.CIDRMask(32, 32)}
	} else {
		k.routes = append(k.routes, netlink.Route{Table: unix.RT_TABLE_MAIN, LinkIndex: l.attrs.Index, Scope: netlink.SCOPE_LINK,
			Type: unix.RTN_UNICAST, Dst: &net.IPNet{IP: p.Masked().Addr().AsSlice(), Mask: net.CIDRMask(p.Bits(), 32)}, Src: p.Addr().AsSlice()})
	}
	l.addrs = append(l.addrs, a)
}

// removeLink unplugs an interface: its routes, addresses and settings go.
func (k *fakeKernel) removeLink(name string) {
	l := k.link(name)
	if l == nil {
		return
	}
	index := l.attrs.Index
	k.links = slices.DeleteFunc(k.links, func(x fakeLink) bool { return x.attrs.Index == index })
	k.routes = slices.DeleteFunc(k.routes, func(r netlink.Route) bool { return r.LinkIndex == index })
	for key := range k.sysctl {
		if strings.HasPrefix(key, "net/ipv4/conf/"+name+"/") {
			delete(k.sysctl, key)
		}
	}
}

// Netlink.

func (k *fakeKernel) LinkList() ([]netlink.Link, error) {
	k.reads["links"]++
	if err := k.failing("LinkList"); err != nil {
		return nil, err
	}
	var out []netlink.Link
	for _, l := range k.links {
		out = append(out, &netlink.Dummy{LinkAttrs: l.attrs})
	}
	return out, nil
}

func (k *fakeKernel) LinkByIndex(index int) (netlink.Link, error) {
	for _, l := range k.links {
		if l.attrs.Index == index {
			return &netlink.Dummy{LinkAttrs: l.attrs}, nil
		}
	}
	return nil, netlink.LinkNotFoundError{}
}

func (k *fakeKernel) LinkByName(name string) (netlink.Link, error) {
	if l := k.link(name); l != nil {
		return &netlink.Dummy{LinkAttrs: l.attrs}, nil
	}
	return nil, netlink.LinkNotFoundError{}
}

func (k *fakeKernel) LinkSetMTU(link netlink.Link, mtu int) error {
	if err := k.failing("LinkSetMTU"); err != nil {
		return err
	}
	l := k.link(link.Attrs().Name)
	if l == nil {
		return unix.ENODEV
	}
	l.attrs.MTU = mtu
	return nil
}

func (k *fakeKernel) AddrAdd(link netlink.Link, a *netlink.Addr) error {
	if err := k.failing("AddrAdd"); err != nil {
		return err
	}
	p, _ := prefixOf(a.IPNet)
	for _, x := range k.link(link.Attrs().Name).addrs {
		if q, _ := prefixOf(x.IPNet); q == p {
			return unix.EEXIST
		}
	}
	k.addAddr(link.Attrs().Name, p.String(), "")
	return nil
}

func (k *fakeKernel) AddrDel(link netlink.Link, a *netlink.Addr) error {
	if err := k.failing("AddrDel"); err != nil {
		return err
	}
	l := k.link(link.Attrs().Name)
	p, _ := prefixOf(a.IPNet)
	n := len(l.addrs)
	l.addrs = slices.DeleteFunc(l.addrs, func(x netlink.Addr) bool { q, _ := prefixOf(x.IPNet); return q == p })
	if len(l.addrs) == n {
		return unix.EADDRNOTAVAIL
	}
	// The kernel takes the routes that use the address with it.
	k.routes = slices.DeleteFunc(k.routes, func(r netlink.Route) bool {
		src, _ := netip.AddrFromSlice(r.Src.To4())
		return r.LinkIndex == l.attrs.Index && src == p.Addr()
	})
	return nil
}

func (k *fakeKernel) AddrList(link netlink.Link, _ int) ([]netlink.Addr, error) {
	if link == nil {
		var out []netlink.Addr
		for _, l := range k.links {
			for _, a := range l.addrs {
				a.LinkIndex = l.attrs.Index
				out = append(out, a)
			}
		}
		return out, nil
	}
	if l := k.link(link.Attrs().Name); l != nil {
		return slices.Clone(l.addrs), nil
	}
	return nil, unix.ENODEV
}

func (k *fakeKernel) RouteListFiltered(_ int, filter *netlink.Route, _ uint64) ([]netlink.Route, error) {
	k.reads["routes"]++
	var out []netlink.Route
	for _, r := range k.routes {
		if filter.Table == unix.RT_TABLE_UNSPEC || r.Table == filter.Table {
			out = append(out, r)
		}
	}
	return out, nil
}

// fakeRouteKey is the kernel's key of an IPv4 route.
func fakeRouteKey(r netlink.Route) string {
	return fmt.Sprintf("%d %s %d %d", r.Table, r.Dst, r.Tos, r.Priority)
}

func (k *fakeKernel) RouteReplace(r *netlink.Route) error {
	if err := k.failing("RouteReplace"); err != nil {
		return err
	}
	nr := *r
	if nr.Type == 0 {
		nr.Type = unix.RTN_UNICAST
	}
	if nr.Type == unix.RTN_UNICAST {
		if r.LinkIndex == 0 {
			return unix.EINVAL
		}
		l := k.linkByIndex(r.LinkIndex)
		if l == nil {
			return unix.ENODEV
		}
		if l.attrs.Flags&net.FlagUp == 0 {
			return unix.ENETDOWN
		}
		if r.Gw != nil && !slices.ContainsFunc(l.addrs, func(a netlink.Addr) bool { return a.Peer == nil && a.IPNet.Contains(r.Gw) }) {
			// The kernel: "Nexthop has invalid gateway".
			return unix.ENETUNREACH
		}
	}
	for i, x := range k.routes {
		if fakeRouteKey(x) == fakeRouteKey(nr) {
			k.routes[i] = nr
			return nil
		}
	}
	k.routes = append(k.routes, nr)
	return nil
}

// RouteDel deletes the first route with r's key that also matches what
// else r names, as the kernel's fib_table_delete does.
func (k *fakeKernel) RouteDel(r *netlink.Route) error {
	if err := k.failing("RouteDel"); err != nil {
		return err
	}
	for i, x := range k.routes {
		if fakeRouteKey(x) == fakeRouteKey(*r) &&
			(r.Type == 0 || r.Type == x.Type) &&
			(r.Scope == netlink.Scope(unix.RT_SCOPE_NOWHERE) || r.Scope == x.Scope) &&
			(r.LinkIndex == 0 || r.LinkIndex == x.LinkIndex) &&
			(r.Gw == nil || r.Gw.Equal(x.Gw)) {
			k.routes = slices.Delete(k.routes, i, i+1)
			return nil
		}
	}
	return unix.ESRCH
}

func (k *fakeKernel) linkByIndex(index int) *fakeLink {
	for i := range k.links {
		if k.links[i].attrs.Index == index {
			return &k.links[i]
		}
	}
	return nil
}

func ruleKey(r netlink.Rule) string {
	mask := uint32(0)
	if r.Mask != nil {
		mask = *r.Mask
	}
	return fmt.Sprintf("%d %v %d/%d %d %d", r.Priority, r.Src, r.Mark, mask, r.Table, r.SuppressPrefixlen)
}

func (k *fakeKernel) RuleList(int) ([]netlink.Rule, error) {
	k.reads["rules"]++
	return slices.Clone(k.rules), nil
}

func (k *fakeKernel) RuleAdd(r *netlink.Rule) error {
	if err := k.failing("RuleAdd"); err != nil {
		return err
	}
	for _, x := range k.rules {
		if ruleKey(x) == ruleKey(*r) {
			return unix.EEXIST
		}
	}
	k.rules = append(k.rules, *r)
	return nil
}

func (k *fakeKernel) RuleDel(r *netlink.Rule) error {
	if err := k.failing("RuleDel"); err != nil {
		return err
	}
	for i, x := range k.rules {
		if ruleKey(x) == ruleKey(*r) {
			k.rules = slices.Delete(k.rules, i, i+1)
			return nil
		}
	}
	return unix.ENOENT
}

// Sysctls.

func (k *fakeKernel) Get(key string) (string, error) { return k.sysctl[key], nil }

func (k *fakeKernel) Set(key, value string) error {
	if err := k.failing("Set"); err != nil {
		return err
	}
	if _, ok := k.sysctl[key]; !ok {
		return fmt.Errorf("setting sysctl %s=%s: %w", key, value, fs.ErrNotExist)
	}
	k.sysctl[key] = value
	return nil
}

// NFTables: pathpin's table, replaced whole in one transaction.

func (k *fakeKernel) Apply(t *nft.Table) error {
	if err := k.failing("Apply"); err != nil {
		return err
	}
	k.nft = t.Clone()
	if k.afterApply != nil {
		k.afterApply(k)
	}
	return nil
}

func (k *fakeKernel) Check(*nft.Table) error { return nil }

func (k *fakeKernel) Update(_, want *nft.Table) error { return k.Apply(want) }

func (k *fakeKernel) Read() (*nft.Table, error) {
	k.reads["nftables"]++
	return k.nft.Clone(), nil
}

func (k *fakeKernel) Sticky(name string) ([]nft.Entry, error) {
	if k.nft != nil {
		if s, ok := k.nft.Set(name); ok {
			return s.Entries, nil
		}
	}
	return nil, nil
}

func (k *fakeKernel) Close() error { return nil }

// The iptables an older pathpin wrote to.

type fakeIPTables struct{ k *fakeKernel }

func (f fakeIPTables) ListChains(table string) ([]string, error) {
	var out []string
	for _, key := range slices.Sorted(maps.Keys(f.k.oldChains)) {
		if t, c, _ := strings.Cut(key, "/"); t == table {
			out = append(out, c)
		}
	}
	for _, key := range slices.Sorted(maps.Keys(f.k.jumps)) {
		if t, c, _ := strings.Cut(key, "/"); t == table {
			out = append(out, c)
		}
	}
	return out, nil
}

func (f fakeIPTables) List(table, chain string) ([]string, error) {
	var out []string
	for _, target := range f.k.jumps[table+"/"+chain] {
		out = append(out, "-A "+chain+" -j "+target)
	}
	return out, nil
}

func (f fakeIPTables) Delete(table, chain string, spec ...string) error {
	key := table + "/" + chain
	i := slices.Index(f.k.jumps[key], spec[len(spec)-1])
	if i < 0 {
		return fmt.Errorf("fake iptables: no rule %v in %s", spec, key)
	}
	f.k.jumps[key] = slices.Delete(f.k.jumps[key], i, i+1)
	return nil
}

func (f fakeIPTables) ClearChain(table, chain string) error {
	f.k.oldChains[table+"/"+chain] = nil
	return nil
}

func (f fakeIPTables) DeleteChain(table, chain string) error {
	for _, targets := range f.k.jumps {
		if slices.Contains(targets, chain) {
			return fmt.Errorf("fake iptables: %s is referenced", chain)
		}
	}
	delete(f.k.oldChains, table+"/"+chain)
	return nil
}

// dump is the whole kernel as text, for comparisons: rules, routes by
// table, links and addresses, pathpin's nftables table, an older pathpin's
// iptables chains, and every setting.
func (k *fakeKernel) dump() string {
	var b strings.Builder
	names := map[int]string{}
	for _, l := range k.links {
		names[l.attrs.Index] = l.attrs.Name
	}
	var lines []string
	for _, r := range k.rules {
		lines = append(lines, "rule "+ruleKey(r))
	}
	for _, r := range k.routes {
		route, _ := fromNetlinkRoute(r, names)
		lines = append(lines, "route "+route.String())
	}
	for _, l := range k.links {
		lines = append(lines, fmt.Sprintf("link %s mtu %d", l.attrs.Name, l.attrs.MTU))
		for _, a := range l.addrs {
			p, _ := prefixOf(a.IPNet)
			lines = append(lines, "address "+p.String()+" dev "+l.attrs.Name)
		}
	}
	for key, rules := range k.oldChains {
		lines = append(lines, fmt.Sprintf("iptables chain %s %q", key, rules))
	}
	for key, targets := range k.jumps {
		lines = append(lines, fmt.Sprintf("iptables jumps %s %q", key, targets))
	}
	sort.Strings(lines)
	b.WriteString(strings.Join(lines, "\n") + "\n")
	if k.nft != nil {
		b.WriteString(k.nft.Render(false))
	}
	for _, key := range slices.Sorted(maps.Keys(k.sysctl)) {
		fmt.Fprintf(&b, "%s=%s\n", key, k.sysctl[key])
	}
	return b.String()
}

var (
	_ Netlink  = (*fakeKernel)(nil)
	_ NFTables = (*fakeKernel)(nil)
	_ Sysctls  = (*fakeKernel)(nil)
	_ IPTables = fakeIPTables{}
)

// fakeEngine is an engine on k, with its records in dir.
func fakeEngine(k *fakeKernel, dir string) *Engine {
	return &Engine{NL: k, Tables: k, Legacy: []LegacyIPTables{{Name: "nft", IPT: fakeIPTables{k}}}, Sysctl: k, StateDir: dir}
}
