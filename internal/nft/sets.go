package nft

import (
	"bytes"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/google/nftables"
	"github.com/google/nftables/expr"
	"github.com/pathpin/pathpin/internal/ipv4"
)

// Field is one part of a classification key. A key concatenates its
// fields in this order, each padded to whole 32-bit registers as the
// kernel lays them out.
type Field uint8

// The fields a policy can match on.
const (
	FieldEtherSrc Field = iota + 1 // ether saddr, 6 bytes (8 in a key)
	FieldSAddr                     // ip saddr
	FieldDAddr                     // ip daddr
	FieldProto                     // meta l4proto, 1 byte (4 in a key)
	FieldDPort                     // th dport, 2 bytes (4 in a key)
)

// Len is the field's length in bytes, unpadded.
func (f Field) Len() int {
	switch f {
	case FieldEtherSrc:
		return 6
	case FieldSAddr, FieldDAddr:
		return 4
	case FieldProto:
		return 1
	case FieldDPort:
		return 2
	}
	return 0
}

// words is the field's length in 32-bit registers.
func (f Field) words() int { return (f.Len() + 3) / 4 }

func (f Field) String() string {
	return [...]string{"", "ether saddr", "ip saddr", "ip daddr", "meta l4proto", "th dport"}[f]
}

func (f Field) setType() nftables.SetDatatype {
	return [...]nftables.SetDatatype{{}, nftables.TypeEtherAddr, nftables.TypeIPAddr,
		nftables.TypeIPAddr, nftables.TypeInetProto, nftables.TypeInetService}[f]
}

// load puts the field into register r (a 32-bit register number).
func (f Field) load(r uint32) expr.Any {
	switch f {
	case FieldEtherSrc:
		return &expr.Payload{DestRegister: r, Base: expr.PayloadBaseLLHeader, Offset: 6, Len: 6}
	case FieldSAddr:
		return &expr.Payload{DestRegister: r, Base: expr.PayloadBaseNetworkHeader, Offset: 12, Len: 4}
	case FieldDAddr:
		return &expr.Payload{DestRegister: r, Base: expr.PayloadBaseNetworkHeader, Offset: 16, Len: 4}
	case FieldProto:
		return &expr.Meta{Key: expr.MetaKeyL4PROTO, Register: r}
	default:
		return &expr.Payload{DestRegister: r, Base: expr.PayloadBaseTransportHeader, Offset: 2, Len: 2}
	}
}

// fieldOf is the field a load reads, if it is one.
func fieldOf(e expr.Any) (f Field, r uint32, ok bool) {
	for _, f := range []Field{FieldEtherSrc, FieldSAddr, FieldDAddr, FieldProto, FieldDPort} {
		switch x := e.(type) {
		case *expr.Meta:
			if m, ok := f.load(x.Register).(*expr.Meta); ok && *m == *x {
				return f, x.Register, true
			}
		case *expr.Payload:
			if p, ok := f.load(x.DestRegister).(*expr.Payload); ok && *p == *x {
				return f, x.DestRegister, true
			}
		}
	}
	return 0, 0, false
}

// reg32 is the first 32-bit register (NFT_REG32_00): a key's field at
// word w is loaded into reg32+w, so that the fields lie side by side.
const reg32 = 8

// regAt is the register of a key's word w, named as the kernel gives it
// back: a word that starts a 128-bit register by that register's number.
func regAt(w uint32) uint32 {
	if w%4 == 0 {
		return 1 + w/4
	}
	return reg32 + w
}

// KeyLen is a key's length in bytes, each field padded to registers.
func KeyLen(key []Field) int {
	n := 0
	for _, f := range key {
		n += 4 * f.words()
	}
	return n
}

// Set is a named set of pathpin's table: a classification map, or a
// sticky set.
type Set struct {
	Name string
	// Key and Elems make a classification map: the key's fields
	// concatenated, each element a range of keys that goes to a chain.
	Key   []Field
	Elems []Elem
	// Timeout makes a sticky set instead: source addresses the packet path
	// adds and refreshes, each forgotten Timeout after its last use.
	Timeout time.Duration
	// Entries are a sticky set's addresses: written with the table (so a
	// rewrite carries them), read back only on demand, never compared.
	Entries []Entry
	// Comment says why; plan shows it.
	Comment string
	// Foreign is a set read back that pathpin would not have made so.
	Foreign bool
}

// Elem is one element of a classification map: the keys from From to To
// (inclusive, each field a range) go to chain Goto.
type Elem struct {
	From, To []byte
	Goto     string
}

// Entry is one address of a sticky set and the time it has left.
type Entry struct {
	Addr    netip.Addr
	Expires time.Duration
}

// StickySize bounds a sticky set: more sources than this are not
// remembered (their connections are still balanced).
const StickySize = 65536

// IsSticky reports whether s is a sticky set.
func (s *Set) IsSticky() bool { return s.Timeout > 0 }

func (s *Set) same(o *Set) bool {
	return s.Name == o.Name && slices.Equal(s.Key, o.Key) && s.Timeout == o.Timeout && s.Foreign == o.Foreign &&
		sameElems(s.Elems, o.Elems)
}

// nftSet is s as the library makes it.
func (s *Set) nftSet(t *nftables.Table) (*nftables.Set, error) {
	if s.IsSticky() {
		return &nftables.Set{Table: t, Name: s.Name, KeyType: nftables.TypeIPAddr, Dynamic: true,
			HasTimeout: true, Timeout: s.Timeout, Size: StickySize}, nil
	}
	types := make([]nftables.SetDatatype, len(s.Key))
	for i, f := range s.Key {
		types[i] = f.setType()
	}
	kt, err := nftables.ConcatSetType(types...)
	if err != nil {
		return nil, err
	}
	return &nftables.Set{Table: t, Name: s.Name, KeyType: kt, DataType: nftables.TypeVerdict, IsMap: true,
		Interval: true, Concatenation: true}, nil
}

// elements are s's elements as the library sends them.
func (s *Set) elements() []nftables.SetElement {
	var out []nftables.SetElement
	if s.IsSticky() {
		for _, e := range s.Entries {
			a := e.Addr.As4()
			// The time left, at least a second (0 would mean the set's
			// timeout) and at most the set's own: a set made again with a
			// shorter timeout holds no source longer than it says.
			out = append(out, nftables.SetElement{Key: a[:], Timeout: min(max(e.Expires, time.Second), s.Timeout)})
		}
		return out
	}
	for _, e := range s.Elems {
		out = append(out, nftables.SetElement{Key: e.From, KeyEnd: e.To, VerdictData: &expr.Verdict{Kind: expr.VerdictGoto, Chain: e.Goto}})
	}
	return out
}

// elementsPerMessage keeps one message's element list under netlink's
// 64 KiB attribute limit for the longest key.
const elementsPerMessage = 256

// addSet queues s and its elements, in messages of elementsPerMessage,
// and returns the set's id in the transaction.
func (c *Conn) addSet(t *nftables.Table, s *Set) (uint32, error) {
	ns, err := s.nftSet(t)
	if err != nil {
		return 0, fmt.Errorf("nftables: set %s: %w", s.Name, err)
	}
	elems := s.elements()
	first := elems[:min(len(elems), elementsPerMessage)]
	if err := c.c.AddSet(ns, first); err != nil {
		return 0, fmt.Errorf("nftables: set %s: %w", s.Name, err)
	}
	for rest := elems[len(first):]; len(rest) > 0; {
		n := min(len(rest), elementsPerMessage)
		if err := c.c.SetAddElements(ns, rest[:n]); err != nil {
			return 0, fmt.Errorf("nftables: set %s: %w", s.Name, err)
		}
		rest = rest[n:]
	}
	return ns.ID, nil
}

// readSets reads the table's named sets: each classification map with
// its elements (its key from the rule that looks it up; its elements from
// reuse when it has them), each sticky set without its entries.
func (c *Conn) readSets(keys map[string][]Field, reuse func(string) ([]Elem, bool)) ([]Set, error) {
	sets, err := c.c.GetSets(table())
	if err != nil {
		return nil, fmt.Errorf("nftables: listing sets: %w", err)
	}
	var out []Set
	for _, ns := range sets {
		if ns.Anonymous || strings.HasPrefix(ns.Name, "__") {
			continue
		}
		s := Set{Name: ns.Name}
		switch {
		case ns.HasTimeout && !ns.IsMap:
			s.Timeout = ns.Timeout
			if ns.KeyType.Bytes != 4 || ns.Timeout == 0 {
				s.Foreign = true
			}
		case ns.IsMap && ns.Interval && ns.Concatenation:
			s.Key = keys[ns.Name]
			if len(s.Key) == 0 {
				s.Foreign = true
				break
			}
			if es, ok := reuse(ns.Name); ok {
				s.Elems = es
				break
			}
			// The library misreads a concatenated map's types and
			// verdicts: the elements come from pathpin's own dump.
			elems, err := dumpMap(c.raw, ns.Name)
			if err != nil {
				return nil, err
			}
			for _, e := range elems {
				if e.Goto == "" || len(e.Key) != KeyLen(s.Key) || len(e.KeyEnd) != len(e.Key) {
					s.Foreign = true
					continue
				}
				s.Elems = append(s.Elems, Elem{From: e.Key, To: e.KeyEnd, Goto: e.Goto})
			}
			SortElems(s.Elems)
		default:
			s.Foreign = true
		}
		out = append(out, s)
	}
	slices.SortFunc(out, func(a, b Set) int { return strings.Compare(a.Name, b.Name) })
	return out, nil
}

// SortElems puts elements in key order, as they are compared.
func SortElems(es []Elem) {
	slices.SortFunc(es, func(a, b Elem) int { return bytes.Compare(a.From, b.From) })
}

// Sticky reads the entries of sticky set name now, with the time each
// has left; none when there is no such set.
func (c *Conn) Sticky(name string) ([]Entry, error) {
	elems, err := c.c.GetSetElements(&nftables.Set{Table: table(), Name: name})
	if err != nil {
		if strings.Contains(err.Error(), "no such file") {
			return nil, nil
		}
		return nil, fmt.Errorf("nftables: reading sticky set %s: %w", name, err)
	}
	var out []Entry
	for _, e := range elems {
		if len(e.Key) != 4 {
			continue
		}
		out = append(out, Entry{Addr: netip.AddrFrom4([4]byte(e.Key)), Expires: e.Expires})
	}
	return out, nil
}

// render writes the set in nft syntax.
func (s *Set) render(b *strings.Builder, comments bool) {
	if comments && s.Comment != "" {
		fmt.Fprintf(b, "\t# %s\n", s.Comment)
	}
	if s.Foreign {
		fmt.Fprintf(b, "\t# set %s: not as pathpin makes it\n", s.Name)
		return
	}
	if s.IsSticky() {
		fmt.Fprintf(b, "\tset %s {\n\t\ttype ipv4_addr\n\t\tsize %d\n\t\tflags dynamic,timeout\n\t\ttimeout %s\n", s.Name, StickySize, nftDuration(s.Timeout))
		if len(s.Entries) > 0 {
			var es []string
			for _, e := range s.Entries {
				es = append(es, fmt.Sprintf("%s expires %s", e.Addr, nftDuration(e.Expires)))
			}
			fmt.Fprintf(b, "\t\telements = { %s }\n", strings.Join(es, ", "))
		}
		b.WriteString("\t}\n")
		return
	}
	var types []string
	for _, f := range s.Key {
		types = append(types, f.setType().Name)
	}
	fmt.Fprintf(b, "\tmap %s {\n\t\ttype %s : verdict\n\t\tflags interval\n", s.Name, strings.Join(types, " . "))
	if len(s.Elems) > 0 {
		b.WriteString("\t\telements = { ")
		for i, e := range s.Elems {
			if i > 0 {
				b.WriteString(",\n\t\t\t     ")
			}
			fmt.Fprintf(b, "%s : goto %s", keyText(s.Key, e.From, e.To), e.Goto)
		}
		b.WriteString(" }\n")
	}
	b.WriteString("\t}\n")
}

// keyText is a key range in nft syntax, field by field.
func keyText(key []Field, from, to []byte) string {
	var parts []string
	at := 0
	for _, f := range key {
		n := f.Len()
		if at+n > len(from) || at+n > len(to) {
			return "?"
		}
		parts = append(parts, fieldText(f, from[at:at+n], to[at:at+n]))
		at += 4 * f.words()
	}
	return strings.Join(parts, " . ")
}

// fieldText is one field's range: a value, a prefix or a-b.
func fieldText(f Field, from, to []byte) string {
	one := func(v []byte) string {
		switch f {
		case FieldEtherSrc:
			return net.HardwareAddr(v).String()
		case FieldSAddr, FieldDAddr:
			return netip.AddrFrom4([4]byte(v)).String()
		case FieldProto:
			return ProtoName(v[0])
		default:
			return fmt.Sprint(int(v[0])<<8 | int(v[1]))
		}
	}
	if bytes.Equal(from, to) {
		return one(from)
	}
	if f == FieldSAddr || f == FieldDAddr {
		if p, ok := ipv4.Prefix(netip.AddrFrom4([4]byte(from)), netip.AddrFrom4([4]byte(to))); ok {
			return p.String()
		}
	}
	return one(from) + "-" + one(to)
}

// ProtoName is an IP protocol as nft lists it: icmp, tcp and udp by name,
// others by number.
func ProtoName(p uint8) string {
	switch p {
	case 1:
		return "icmp"
	case 6:
		return "tcp"
	case 17:
		return "udp"
	}
	return fmt.Sprint(p)
}

// nftDuration is d as nft writes a timeout: 30m, 1h30m, 45s.
func nftDuration(d time.Duration) string {
	d = d.Round(time.Second)
	var b strings.Builder
	for _, u := range []struct {
		d time.Duration
		s string
	}{{24 * time.Hour, "d"}, {time.Hour, "h"}, {time.Minute, "m"}, {time.Second, "s"}} {
		if d >= u.d {
			fmt.Fprintf(&b, "%d%s", d/u.d, u.s)
			d %= u.d
		}
	}
	if b.Len() == 0 {
		return "0s"
	}
	return b.String()
}

// carrySticky is t with the live sources of each sticky set that carry
// names added to those t gives it (a live source wins: it has the fresher
// time). Only those sets are read: a set the kernel keeps as it is needs
// nothing carried.
func (c *Conn) carrySticky(t *Table, carry func(set string) bool) (*Table, error) {
	if t == nil || !slices.ContainsFunc(t.Sets, func(s Set) bool { return s.IsSticky() && carry(s.Name) }) {
		return t, nil
	}
	t = t.Clone()
	for i := range t.Sets {
		s := &t.Sets[i]
		if !s.IsSticky() || !carry(s.Name) {
			continue
		}
		live, err := c.Sticky(s.Name)
		if err != nil {
			return nil, err
		}
		if len(live) == 0 {
			continue
		}
		seen := map[netip.Addr]bool{}
		for _, e := range live {
			seen[e.Addr] = true
		}
		entries := live
		for _, e := range s.Entries {
			if !seen[e.Addr] {
				entries = append(entries, e)
			}
		}
		s.Entries = entries
	}
	return t, nil
}
