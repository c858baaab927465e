package nft

import (
	"net"
	"net/netip"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/pathpin/pathpin/internal/netnstest"
)

func TestMain(m *testing.M) { os.Exit(netnstest.Main(m)) }

// sample is a table with every kind of rule pathpin writes.
func sample() *Table {
	mask := uint32(0xff00)
	key := []Field{FieldEtherSrc, FieldSAddr, FieldDAddr, FieldProto, FieldDPort}
	return &Table{Sets: []Set{
		{Name: "steer_lan_0", Key: key, Elems: []Elem{
			{From: keyOf("00:00:00:00:00:00", "10.1.0.0", "198.51.100.0", 6, 1), To: keyOf("ff:ff:ff:ff:ff:ff", "10.1.0.255", "198.51.100.255", 6, 65535), Goto: "policy_phone"},
			{From: keyOf("aa:bb:cc:dd:ee:01", "10.1.0.20", "0.0.0.0", 17, 5060), To: keyOf("aa:bb:cc:dd:ee:01", "10.1.0.20", "255.255.255.255", 17, 5060), Goto: "policy_phone"},
		}},
		{Name: "sticky_phone_dsl", Timeout: 30 * time.Minute},
	}, Chains: []Chain{
		{Name: "to_isp-a", Rules: []Rule{{SetMark: &MarkSet{Mask: mask, Value: 0x100}}}},
		{Name: "to_dsl", Rules: []Rule{{SetMark: &MarkSet{Mask: mask, Value: 0x200}}}},
		{Name: "balance", Rules: []Rule{{Mark: &MarkMatch{Mask: mask}, Modulus: 3, Balance: []Slot{{0, 0, "to_isp-a"}, {1, 2, "to_dsl"}}, Comment: "by weight"}}},
		{Name: "prerouting", Type: "filter", Hook: "prerouting", Priority: -150, Rules: []Rule{
			{CtMark: &MarkMatch{Mask: mask, Value: 0x100}, SetMark: &MarkSet{Mask: mask, Value: 0x100}},
			{Mark: &MarkMatch{Mask: mask, Not: true}, Return: true},
			{IIf: "lan0", CtNew: true, Jump: "balance"},
			{Mark: &MarkMatch{Mask: mask, Value: 0x100}, SetCtMark: &MarkSet{Mask: mask, Value: 0x100}},
		}},
		{Name: "output", Type: "route", Hook: "output", Priority: -150, Rules: []Rule{
			{OIf: "lo", Return: true},
			{SAddr: netip.MustParseAddr("192.168.1.2"), CtNew: true, Jump: "to_isp-a"},
		}},
		{Name: "forward", Type: "filter", Hook: "forward", Priority: -150, Rules: []Rule{
			{OIf: "wan0", TCPSyn: true, ClampMSS: -1},
			{OIf: "ppp1", TCPSyn: true, ClampMSS: 1452},
		}},
		{Name: "postrouting", Type: "nat", Hook: "postrouting", Priority: 100, Rules: []Rule{
			{OIf: "wan0", SNAT: netip.MustParseAddr("192.168.1.2")},
			{OIf: "ppp1", Masquerade: true},
		}},
		{Name: "filter_forward", Type: "filter", Hook: "forward", Priority: 0, Rules: []Rule{
			{IIf: "wan0", SNet: netip.MustParsePrefix("10.0.0.0/24"), Counter: true, Drop: true},
			{IIf: "wan0", SAddr: netip.MustParseAddr("192.168.1.2"), Counter: true, Drop: true},
			{IIf: "wan0", CtBad: true, Counter: true, Drop: true},
			{IIf: "wan0", CtNew: true, CtDNAT: true, Return: true},
			{IIf: "wan0", CtNew: true, Counter: true, Drop: true},
		}},
		{Name: "filter_input", Type: "filter", Hook: "input", Priority: 0, Rules: []Rule{
			{IIf: "wan0", CtNew: true, DPort: &L4Port{Proto: "tcp", Port: 22}, Return: true},
			{IIf: "wan0", CtNew: true, DPort: &L4Port{Proto: "udp", Port: 51820}, Return: true},
			{IIf: "wan0", CtNew: true, Counter: true, Drop: true},
		}},
		{Name: "raw_prerouting", Type: "filter", Hook: "prerouting", Priority: -300, Rules: []Rule{
			{IIf: "wan0", UDP: &UDPPorts{Src: 67, Dst: 68}, NoTrack: true},
		}},
		{Name: "raw_output", Type: "filter", Hook: "output", Priority: -300, Rules: []Rule{
			{OIf: "wan0", UDP: &UDPPorts{Src: 68, Dst: 67}, NoTrack: true},
		}},
		{Name: "policy_phone", Rules: []Rule{
			{Counter: true},
			{InSticky: "sticky_phone_dsl", Jump: "stick_phone_dsl"},
			{Drop: true},
		}},
		{Name: "stick_phone_dsl", Rules: []Rule{{Stick: &Stick{Set: "sticky_phone_dsl", Timeout: 30 * time.Minute}, Jump: "to_dsl"}}},
		{Name: "steer_lan", Rules: []Rule{{Classify: &Lookup{Set: "steer_lan_0", Key: key}}}},
	}}
}

// keyOf is a classification key of ether saddr, ip saddr, ip daddr,
// l4proto and dport.
func keyOf(mac, src, dst string, proto uint8, port uint16) []byte {
	hw, _ := net.ParseMAC(mac)
	k := append([]byte{}, hw...)
	k = append(k, 0, 0)
	s, d := netip.MustParseAddr(src).As4(), netip.MustParseAddr(dst).As4()
	k = append(k, s[:]...)
	k = append(k, d[:]...)
	k = append(k, proto, 0, 0, 0, byte(port>>8), byte(port), 0, 0)
	return k
}

// openIn opens a Conn in ns, closed with the test, and a read of it.
func openIn(t *testing.T, ns *netnstest.NS) (*Conn, func() *Table) {
	var c *Conn
	ns.Must(func() (err error) { c, err = Open(); return err })
	t.Cleanup(func() { c.Close() })
	return c, func() *Table {
		var got *Table
		ns.Must(func() (err error) { got, err = c.Read(); return err })
		return got
	}
}

func TestApplyReadAndWhatNftLists(t *testing.T) {
	netnstest.RequireRoot(t, "nft")
	ns := netnstest.New(t)
	// Other software's table, and iptables-nft's, stay as they are.
	ns.Run("nft", "add table inet filter; add chain inet filter input { type filter hook input priority 0; }; add rule inet filter input tcp dport 22 accept")
	ns.Run("iptables-nft", "-t", "nat", "-A", "POSTROUTING", "-o", "wan9", "-j", "MASQUERADE")
	foreign := ns.Run("nft", "list", "table", "inet", "filter") + ns.Run("iptables-nft-save", "-t", "nat")

	c, read := openIn(t, ns)
	want := sample()
	do := ns.Must
	do(func() error { return c.Apply(want) })
	if got := ns.Run("nft", "list", "table", "ip", TableName); got != want.Render(false) {
		t.Errorf("nft list differs from pathpin's rendering:\n%s", cmp.Diff(want.Render(false), got))
	}
	if diff := cmp.Diff(want.Render(false), read().Render(false)); diff != "" {
		t.Errorf("read back (-want +got):\n%s", diff)
	}
	// Twice: nothing differs.
	before := ns.Run("nft", "list", "ruleset")
	do(func() error { return c.Apply(want) })
	if after := ns.Run("nft", "list", "ruleset"); after != before {
		t.Errorf("applying twice changed the ruleset:\n%s", cmp.Diff(before, after))
	}
	// A rule changed behind pathpin's back reads as foreign.
	ns.Run("nft", "add rule ip pathpin output oifname \"lo\" counter accept")
	if got := read().Render(false); !strings.Contains(got, "a rule pathpin did not write") {
		t.Errorf("a foreign rule was not seen:\n%s", got)
	}
	// A failure inside the transaction leaves the old table.
	bad := sample()
	bad.Chains[3].Rules = append(bad.Chains[3].Rules, Rule{Jump: "no_such_chain"})
	var aerr error
	ns.Do(func() { aerr = c.Apply(bad) })
	if aerr == nil {
		t.Fatal("a table jumping to a missing chain was accepted")
	}
	if got := read().Render(false); !strings.Contains(got, "a rule pathpin did not write") {
		t.Errorf("after the failed transaction the table is not the old one:\n%s", got)
	}
	do(func() error { return c.Apply(nil) })
	if got := read(); got != nil {
		t.Errorf("the table is still there after Apply(nil):\n%s", got.Render(false))
	}
	if after := ns.Run("nft", "list", "table", "inet", "filter") + ns.Run("iptables-nft-save", "-t", "nat"); stripCounters(after) != stripCounters(foreign) {
		t.Errorf("other software's rules changed:\nbefore:\n%s\nafter:\n%s", foreign, after)
	}
}

func stripCounters(s string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if !strings.HasPrefix(l, "#") {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

// TestCachedRead: a read answers from the last one only while no
// transaction has committed since, whoever made it.
func TestCachedRead(t *testing.T) {
	netnstest.RequireRoot(t, "nft")
	ns := netnstest.New(t)
	c, read := openIn(t, ns)
	ns.Must(func() error { return c.Apply(sample()) })
	steps := []struct {
		name string
		// change runs before the read; hit says whether the read may
		// answer from the last one.
		change  func()
		hit     bool
		foreign bool
	}{
		{name: "first read after apply", change: func() {}},
		{name: "nothing changed", change: func() {}, hit: true},
		{name: "the caller changed its copy", change: func() {}, hit: true},
		{name: "another table changed", change: func() { ns.Run("nft", "add table inet other") }},
		{name: "unchanged again", change: func() {}, hit: true},
		{name: "a rule added to pathpin's chain", change: func() { ns.Run("nft", "add rule ip pathpin to_dsl counter accept") }, foreign: true},
		{name: "unchanged after the foreign rule", change: func() {}, hit: true, foreign: true},
		{name: "pathpin's chain flushed and refilled", change: func() {
			ns.Run("nft", "flush chain ip pathpin to_dsl; add rule ip pathpin to_dsl meta mark set meta mark & 0xffff00ff | 0x00000300")
		}},
		{name: "iptables-nft writes", change: func() { ns.Run("iptables-nft", "-t", "mangle", "-A", "PREROUTING", "-j", "ACCEPT") }},
	}
	for _, s := range steps {
		s.change()
		hits := c.hits
		got := read()
		if hit := c.hits > hits; hit != s.hit {
			t.Errorf("%s: answered from the last read: %v, want %v", s.name, hit, s.hit)
		}
		live := ns.Run("nft", "list", "table", "ip", TableName)
		rendered := got.Render(false)
		if hasForeign := strings.Contains(rendered, "a rule pathpin did not write"); hasForeign != s.foreign {
			t.Errorf("%s: foreign rule seen %v, want %v:\n%s", s.name, hasForeign, s.foreign, rendered)
		}
		if !s.foreign && rendered != live {
			t.Errorf("%s: the read differs from the kernel:\n%s", s.name, cmp.Diff(live, rendered))
		}
		if s.name == "nothing changed" {
			// Changing what Read returned must not change the next answer.
			got.Chains[0].Rules[0].SetMark = nil
			got.Chains = got.Chains[:1]
		}
	}
}

// TestEveryRuleDecodes: each kind of rule pathpin writes decodes from
// the kernel's encoding.
func TestEveryRuleDecodes(t *testing.T) {
	netnstest.RequireRoot(t, "nft")
	ns := netnstest.New(t)
	c, _ := openIn(t, ns)
	ns.Must(func() error { return c.Apply(sample()) })
	var rules []kernelRule
	ns.Must(func() (err error) { rules, err = dumpRules(c.raw, ""); return err })
	for _, kr := range rules {
		if _, unknown := decodeExprs(kr.Exprs); unknown {
			t.Fatalf("rule %d does not decode", kr.Handle)
		}
	}
}

// TestStickyCarried: a rewrite of the table keeps the sources a sticky
// set holds, with the time they have left; a set the new table lacks
// takes its sources with it.
func TestStickyCarried(t *testing.T) {
	netnstest.RequireRoot(t, "nft")
	ns := netnstest.New(t)
	c, _ := openIn(t, ns)
	sticky := func() []Entry {
		var es []Entry
		ns.Must(func() (err error) { es, err = c.Sticky("sticky_phone_dsl"); return err })
		return es
	}
	if got := sticky(); got != nil {
		t.Fatalf("no table yet, but sticky entries %v", got)
	}
	ns.Must(func() error { return c.Apply(sample()) })
	ns.Run("nft", "add element ip pathpin sticky_phone_dsl { 10.1.0.20 timeout 10m, 10.1.0.21 }")
	changed := sample()
	changed.Chains[0].Rules[0].SetMark.Value = 0x300
	ns.Must(func() error { return c.Apply(changed) })
	got := sticky()
	if len(got) != 2 {
		t.Fatalf("after a rewrite the sticky set holds %v, want both sources", got)
	}
	for _, e := range got {
		limit := 30 * time.Minute
		if e.Addr == netip.MustParseAddr("10.1.0.20") {
			limit = 10 * time.Minute
		}
		if e.Expires <= limit-time.Minute || e.Expires > limit {
			t.Errorf("%s has %s left after the rewrite, want just under %s", e.Addr, e.Expires, limit)
		}
	}
	gone := sample()
	gone.Sets = nil
	gone.Chains = gone.Chains[:len(gone.Chains)-3]
	ns.Must(func() error { return c.Apply(gone) })
	ns.Must(func() error { return c.Apply(sample()) })
	if got := sticky(); len(got) != 0 {
		t.Errorf("a set the table dropped came back with %v", got)
	}
}

// TestUpdateInPlace: Update reaches the wanted table from the live one,
// whatever differs (a rule, a chain made or gone, a map's elements, a
// sticky set made again with another timeout), equal to a fresh write;
// a sticky set that stays keeps its sources.
func TestUpdateInPlace(t *testing.T) {
	netnstest.RequireRoot(t, "nft")
	ns := netnstest.New(t)
	c, read := openIn(t, ns)
	ns.Must(func() error { return c.Apply(sample()) })
	ns.Run("nft", "add element ip pathpin sticky_phone_dsl { 10.1.0.20 }")
	steps := []struct {
		name   string
		change func(*Table)
	}{
		{"a rule changes", func(w *Table) { w.Chains[0].Rules[0].SetMark.Value = 0x300 }},
		{"a chain comes", func(w *Table) {
			w.Chains = append(w.Chains, Chain{Name: "extra", Rules: []Rule{{Jump: "to_dsl"}}})
		}},
		{"a map loses and gains elements", func(w *Table) {
			w.Sets[0].Elems[0].Goto = "extra"
			w.Chains = append(w.Chains, Chain{Name: "extra", Rules: []Rule{{Jump: "to_dsl"}}})
		}},
		{"a chain goes", func(w *Table) {}},
		{"a sticky set's timeout changes", func(w *Table) {
			w.Sets[1].Timeout = time.Hour
			w.Chains[len(w.Chains)-2].Rules[0].Stick.Timeout = time.Hour
		}},
	}
	fresh, freshRead := openIn(t, ns)
	_ = fresh
	have := read()
	for _, s := range steps {
		want := sample()
		s.change(want)
		partials := c.partials
		ns.Must(func() error { return c.Update(have, want) })
		have = read()
		if !have.Equal(want) {
			t.Fatalf("%s: the table read back differs:\n%s", s.name, cmp.Diff(want.Render(false), have.Render(false)))
		}
		// The read after an update dumps only what it touched, and finds
		// what a whole read finds.
		if c.partials != partials+1 {
			t.Errorf("%s: the read after the update read the whole table", s.name)
		}
		if full := freshRead(); !full.Equal(have) {
			t.Fatalf("%s: the partial read differs from a whole one:\n%s", s.name, cmp.Diff(full.Render(false), have.Render(false)))
		}
		var es []Entry
		ns.Must(func() (err error) { es, err = c.Sticky("sticky_phone_dsl"); return err })
		if len(es) != 1 || es[0].Addr != netip.MustParseAddr("10.1.0.20") {
			t.Fatalf("%s: the sticky set holds %v", s.name, es)
		}
	}
}

// TestSupported: this kernel runs every expression and set pathpin uses.
func TestSupported(t *testing.T) {
	netnstest.RequireRoot(t)
	ns := netnstest.New(t)
	c, _ := openIn(t, ns)
	ns.Must(c.Supported)
}

// TestUpdateLosingElements: a map that only loses elements reads back
// without them after the update (the partial read dumps it again).
func TestUpdateLosingElements(t *testing.T) {
	netnstest.RequireRoot(t, "nft")
	ns := netnstest.New(t)
	c, read := openIn(t, ns)
	_, freshRead := openIn(t, ns)
	ns.Must(func() error { return c.Apply(sample()) })
	want := sample()
	want.Sets[0].Elems = want.Sets[0].Elems[:1]
	ns.Must(func() error { return c.Update(read(), want) })
	if got := read(); !got.Equal(want) || !freshRead().Equal(got) {
		t.Fatalf("after losing an element the read gives:\n%s", got.Render(false))
	}
}

// TestUpdateWithNothingToSend: an update that changes nothing commits
// nothing, so the next commit (someone else's) is not taken for it.
func TestUpdateWithNothingToSend(t *testing.T) {
	netnstest.RequireRoot(t, "nft")
	ns := netnstest.New(t)
	c, read := openIn(t, ns)
	ns.Must(func() error { return c.Apply(sample()) })
	ns.Must(func() error { return c.Update(read(), sample()) })
	ns.Run("nft", "add rule ip pathpin to_dsl counter accept")
	if got := read().Render(false); !strings.Contains(got, "a rule pathpin did not write") {
		t.Fatalf("a rule added after an empty update was not seen:\n%s", got)
	}
}
