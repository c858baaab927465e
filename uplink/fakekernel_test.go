package uplink

import (
	"context"
	"fmt"
	"io/fs"
	"net"
	"net/netip"
	"slices"
	"sort"
	"strings"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// fakeKernel is an in-memory kernel behind the engine's three seams
// (Netlink, RuleSet, Sysctls), for unit tests without root. It keeps to
// the kernel's rules where pathpin depends on them: a route replaces one
// with the same table and destination, a route through a link that is not
// up is refused, an identical rule exists once, a deleted link takes its
// routes, addresses and settings with it, and iptables-restore commits
// each table atomically at its COMMIT.
type fakeKernel struct {
	links  []fakeLink
	routes []netlink.Route
	rules  []netlink.Rule
	tables map[string]*fakeTable // iptables: mangle, nat
	sysctl map[string]string
	// fail makes the named operation fail on its n-th call from now (1:
	// the next call).
	fail map[string]int
	// afterRestore, when set, runs after each successful restore (to make
	// the kernel hold something else than what was asked).
	afterRestore func(*fakeKernel)
	nextIndex    int
	// reads counts the whole-state reads: routes, rules, iptables-save.
	reads map[string]int
}

type fakeLink struct {
	attrs netlink.LinkAttrs
	addrs []netlink.Addr
}

type fakeTable struct {
	order  []string            // chain names, built-in first
	chains map[string][]string // rule specs without "-A CHAIN "
}

var builtinChains = map[string][]string{
	"mangle": {"PREROUTING", "INPUT", "FORWARD", "OUTPUT", "POSTROUTING"},
	"nat":    {"PREROUTING", "INPUT", "OUTPUT", "POSTROUTING"},
}

func newFakeKernel() *fakeKernel {
	k := &fakeKernel{tables: map[string]*fakeTable{}, fail: map[string]int{}, nextIndex: 1, reads: map[string]int{},
		sysctl: map[string]string{"net/ipv4/ip_forward": "0", "net/ipv4/conf/all/rp_filter": "0"}}
	for name, chains := range builtinChains {
		t := &fakeTable{chains: map[string][]string{}}
		for _, c := range chains {
			t.order = append(t.order, c)
			t.chains[c] = nil
		}
		k.tables[name] = t
	}
	k.addLink("lo", "", true)
	return k
}

// clone copies the whole kernel.
func (k *fakeKernel) clone() *fakeKernel {
	c := &fakeKernel{fail: map[string]int{}, reads: map[string]int{}, nextIndex: k.nextIndex, sysctl: map[string]string{}, tables: map[string]*fakeTable{}}
	for _, l := range k.links {
		c.links = append(c.links, fakeLink{attrs: l.attrs, addrs: slices.Clone(l.addrs)})
	}
	c.routes = slices.Clone(k.routes)
	c.rules = slices.Clone(k.rules)
	for key, v := range k.sysctl {
		c.sysctl[key] = v
	}
	for name, t := range k.tables {
		ct := &fakeTable{order: slices.Clone(t.order), chains: map[string][]string{}}
		for ch, rs := range t.chains {
			ct.chains[ch] = slices.Clone(rs)
		}
		c.tables[name] = ct
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

func sameDst(a, b *net.IPNet) bool { return a.String() == b.String() }

func (k *fakeKernel) RouteReplace(r *netlink.Route) error {
	if err := k.failing("RouteReplace"); err != nil {
		return err
	}
	if r.LinkIndex != 0 {
		l, err := k.LinkByIndex(r.LinkIndex)
		if err != nil {
			return unix.ENODEV
		}
		if l.Attrs().Flags&net.FlagUp == 0 {
			return unix.ENETDOWN
		}
	}
	nr := *r
	if nr.Type == 0 {
		nr.Type = unix.RTN_UNICAST
	}
	for i, x := range k.routes {
		if x.Table == r.Table && sameDst(x.Dst, r.Dst) {
			k.routes[i] = nr
			return nil
		}
	}
	k.routes = append(k.routes, nr)
	return nil
}

func (k *fakeKernel) RouteDel(r *netlink.Route) error {
	if err := k.failing("RouteDel"); err != nil {
		return err
	}
	for i, x := range k.routes {
		if x.Table == r.Table && sameDst(x.Dst, r.Dst) && (r.LinkIndex == 0 || r.LinkIndex == x.LinkIndex) &&
			(r.Gw == nil || r.Gw.Equal(x.Gw)) {
			k.routes = slices.Delete(k.routes, i, i+1)
			return nil
		}
	}
	return unix.ESRCH
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

// RuleSet: iptables-save and iptables-restore --noflush.

func (k *fakeKernel) Save(context.Context) ([]byte, error) {
	k.reads["iptables"]++
	var b strings.Builder
	for _, name := range []string{"mangle", "nat"} {
		t := k.tables[name]
		fmt.Fprintf(&b, "*%s\n", name)
		for _, ch := range t.order {
			policy := "-"
			if slices.Contains(builtinChains[name], ch) {
				policy = "ACCEPT"
			}
			fmt.Fprintf(&b, ":%s %s [0:0]\n", ch, policy)
		}
		for _, ch := range t.order {
			for _, r := range t.chains[ch] {
				fmt.Fprintf(&b, "-A %s %s\n", ch, r)
			}
		}
		b.WriteString("COMMIT\n")
	}
	return []byte(b.String()), nil
}

func (k *fakeKernel) Check(context.Context, []byte) error { return nil }

func (k *fakeKernel) Restore(_ context.Context, batch []byte) error {
	if err := k.failing("Restore"); err != nil {
		return err
	}
	var work *fakeTable
	var name string
	for _, line := range strings.Split(strings.TrimSpace(string(batch)), "\n") {
		f := strings.Fields(line)
		switch {
		case strings.HasPrefix(line, "*"):
			name = line[1:]
			src := k.tables[name]
			work = &fakeTable{order: slices.Clone(src.order), chains: map[string][]string{}}
			for ch, rs := range src.chains {
				work.chains[ch] = slices.Clone(rs)
			}
		case line == "COMMIT":
			k.tables[name] = work
		case strings.HasPrefix(line, ":"):
			ch := f[0][1:]
			if _, ok := work.chains[ch]; !ok {
				work.order = append(work.order, ch)
			}
			work.chains[ch] = nil // declaring flushes, under --noflush too
		case f[0] == "-A" || f[0] == "-I":
			ch := f[1]
			if _, ok := work.chains[ch]; !ok {
				return fmt.Errorf("fake iptables-restore: %s: no chain %s", line, ch)
			}
			if f[0] == "-A" {
				work.chains[ch] = append(work.chains[ch], strings.Join(f[2:], " "))
			} else {
				work.chains[ch] = slices.Insert(work.chains[ch], 0, strings.Join(f[3:], " "))
			}
		case f[0] == "-D":
			spec := strings.Join(f[2:], " ")
			i := slices.Index(work.chains[f[1]], spec)
			if i < 0 {
				return fmt.Errorf("fake iptables-restore: %s: no such rule", line)
			}
			work.chains[f[1]] = slices.Delete(work.chains[f[1]], i, i+1)
		case f[0] == "-X":
			for _, rs := range work.chains {
				for _, r := range rs {
					if strings.HasSuffix(r, "-j "+f[1]) {
						return fmt.Errorf("fake iptables-restore: %s: chain is referenced", line)
					}
				}
			}
			delete(work.chains, f[1])
			work.order = slices.DeleteFunc(work.order, func(c string) bool { return c == f[1] })
		default:
			return fmt.Errorf("fake iptables-restore: cannot parse %q", line)
		}
	}
	if k.afterRestore != nil {
		k.afterRestore(k)
	}
	return nil
}

// dump is the whole kernel as text, for comparisons: rules, routes by
// table, iptables, and every setting.
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
	sort.Strings(lines)
	b.WriteString(strings.Join(lines, "\n") + "\n")
	save, _ := k.Save(context.Background())
	b.Write(save)
	var keys []string
	for key := range k.sysctl {
		keys = append(keys, key)
	}
	sort.Strings(keys)
	for _, key := range keys {
		fmt.Fprintf(&b, "%s=%s\n", key, k.sysctl[key])
	}
	return b.String()
}

var (
	_ Netlink = (*fakeKernel)(nil)
	_ RuleSet = (*fakeKernel)(nil)
	_ Sysctls = (*fakeKernel)(nil)
)

// fakeEngine is an engine on k, with its sysctl record in dir.
func fakeEngine(k *fakeKernel, dir string) *Engine {
	return &Engine{NL: k, Backend: &Backend{Rules: k, Name: "fake"}, Sysctl: k, StateDir: dir}
}
