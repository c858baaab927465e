package nft

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"sort"

	"github.com/google/nftables"
	"github.com/google/nftables/binaryutil"
	"github.com/google/nftables/expr"
	"github.com/mdlayher/netlink"
	"golang.org/x/sys/unix"
)

// Conn reads and writes pathpin's table over one lasting netlink socket.
type Conn struct {
	c *nftables.Conn
}

// Open opens the netlink socket, in the caller's network namespace.
func Open() (*Conn, error) {
	c, err := nftables.New(nftables.AsLasting())
	if err != nil {
		return nil, fmt.Errorf("nftables: opening netlink: %w", err)
	}
	return &Conn{c: c}, nil
}

// Close releases the socket.
func (c *Conn) Close() error { return c.c.CloseLasting() }

func table() *nftables.Table { return named(TableName) }

func named(name string) *nftables.Table {
	return &nftables.Table{Family: nftables.TableFamilyIPv4, Name: name}
}

var hooks = map[string]*nftables.ChainHook{
	"prerouting":  nftables.ChainHookPrerouting,
	"input":       nftables.ChainHookInput,
	"forward":     nftables.ChainHookForward,
	"output":      nftables.ChainHookOutput,
	"postrouting": nftables.ChainHookPostrouting,
}

// Apply makes pathpin's table exactly t in one transaction: the table is
// made if missing, deleted and written whole, so the kernel holds either
// the old table or the new one, never a mix. A nil t deletes the table.
func (c *Conn) Apply(t *Table) error {
	c.c.AddTable(table())
	c.c.DelTable(table())
	if t != nil {
		if err := c.define(table(), t); err != nil {
			return err
		}
	}
	if err := c.c.Flush(); err != nil {
		return fmt.Errorf("nftables: writing table ip %s: %w", TableName, explain(err))
	}
	return nil
}

// explain says what a refused batch usually means.
func explain(err error) error {
	if errors.Is(err, unix.ENOENT) || errors.Is(err, unix.EOPNOTSUPP) {
		return fmt.Errorf("%w (the kernel lacks an nftables expression pathpin uses: modules nft_numgen, nft_nat, nft_masq, nft_ct, nft_exthdr, nft_rt; load them, or set firewall: iptables)", err)
	}
	return err
}

// checkTable is where Check writes: made and removed in one transaction.
const checkTable = "pathpin_check"

// Check has the kernel validate t without it ever taking effect: t is
// written to a scratch table that the same transaction deletes.
func (c *Conn) Check(t *Table) error {
	c.c.AddTable(named(checkTable))
	c.c.DelTable(named(checkTable))
	if err := c.define(named(checkTable), t); err != nil {
		return err
	}
	c.c.DelTable(named(checkTable))
	if err := c.c.Flush(); err != nil {
		return fmt.Errorf("nftables: the kernel refuses pathpin's table: %w", explain(err))
	}
	return nil
}

// define queues the table's chains, maps and rules into table into. A
// foreign rule (read back from the kernel) is not pathpin's to write.
func (c *Conn) define(into *nftables.Table, t *Table) error {
	nt := c.c.AddTable(into)
	chains := map[string]*nftables.Chain{}
	for _, ch := range t.Chains {
		nc := &nftables.Chain{Name: ch.Name, Table: nt}
		if ch.Hook != "" {
			hook, ok := hooks[ch.Hook]
			if !ok {
				return fmt.Errorf("nftables: chain %s: unknown hook %q", ch.Name, ch.Hook)
			}
			accept := nftables.ChainPolicyAccept
			nc.Type, nc.Hooknum, nc.Priority, nc.Policy = nftables.ChainType(ch.Type), hook, nftables.ChainPriorityRef(nftables.ChainPriority(ch.Priority)), &accept
		}
		chains[ch.Name] = c.c.AddChain(nc)
	}
	for _, ch := range t.Chains {
		for _, r := range ch.Rules {
			if r.Foreign {
				continue
			}
			var set balanceMap
			if len(r.Balance) > 0 {
				s := &nftables.Set{Table: nt, Anonymous: true, Constant: true, IsMap: true,
					KeyType: nftables.TypeInteger, DataType: nftables.TypeVerdict}
				var elems []nftables.SetElement
				for _, k := range slotKeys(r.Balance) {
					elems = append(elems, nftables.SetElement{Key: binaryutil.BigEndian.PutUint32(k.key), VerdictData: &expr.Verdict{Kind: expr.VerdictJump, Chain: k.chain}})
				}
				if err := c.c.AddSet(s, elems); err != nil {
					return fmt.Errorf("nftables: the balance map: %w", err)
				}
				set = balanceMap{name: s.Name, id: s.ID}
			}
			c.c.AddRule(&nftables.Rule{Table: nt, Chain: chains[ch.Name], Exprs: r.exprs(set)})
		}
	}
	return nil
}

// Read returns pathpin's table as the kernel holds it, or nil when there
// is none. Each rule is decoded and checked against the expressions pathpin
// builds for what it decoded; a rule that does not match is Foreign.
func (c *Conn) Read() (*Table, error) {
	tables, err := c.c.ListTablesOfFamily(nftables.TableFamilyIPv4)
	if err != nil {
		return nil, fmt.Errorf("nftables: listing tables: %w", err)
	}
	if !slices.ContainsFunc(tables, func(t *nftables.Table) bool { return t.Name == TableName }) {
		return nil, nil
	}
	nt := table()
	chains, err := c.c.ListChainsOfTableFamily(nftables.TableFamilyIPv4)
	if err != nil {
		return nil, fmt.Errorf("nftables: listing chains: %w", err)
	}
	slots := func(name string) ([]Slot, uint32, error) { return c.mapSlots(nt, name) }
	out := &Table{}
	for _, nc := range chains {
		if nc.Table.Name != TableName {
			continue
		}
		ch := Chain{Name: nc.Name}
		if nc.Hooknum != nil {
			ch.Type = string(nc.Type)
			for name, h := range hooks {
				if *h == *nc.Hooknum {
					ch.Hook = name
				}
			}
			if nc.Priority != nil {
				ch.Priority = int(*nc.Priority)
			}
		}
		rules, err := c.c.GetRules(nt, nc)
		if err != nil {
			return nil, fmt.Errorf("nftables: reading chain %s: %w", nc.Name, err)
		}
		for _, nr := range rules {
			ch.Rules = append(ch.Rules, verified(nr, slots))
		}
		out.Chains = append(out.Chains, ch)
	}
	return out, nil
}

// verified decodes a kernel rule and checks it byte for byte.
func verified(nr *nftables.Rule, slots func(string) ([]Slot, uint32, error)) Rule {
	foreign := Rule{Foreign: true, Text: fmt.Sprintf("# a rule pathpin did not write (handle %d)", nr.Handle)}
	r, err := decode(nr.Exprs, slots)
	if err != nil {
		return foreign
	}
	var set balanceMap
	if l, ok := nr.Exprs[len(nr.Exprs)-1].(*expr.Lookup); ok {
		set.name = l.SetName
	}
	if !sameExprs(nr.Exprs, r.exprs(set)) {
		return foreign
	}
	return r
}

// sameExprs compares two expression lists as the kernel would receive
// them, as far as the nftables library reads them back: it does not read
// rt and byteorder expressions, nor a ct set's source register, so those
// are compared in the form it reads. A map lookup is compared by its set's
// name only (its id is the transaction's).
func sameExprs(a, b []expr.Any) bool {
	a, b = readable(a), readable(b)
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		x, y := a[i], b[i]
		mx, err1 := expr.Marshal(unix.NFPROTO_IPV4, x)
		my, err2 := expr.Marshal(unix.NFPROTO_IPV4, y)
		if err1 != nil || err2 != nil || !bytes.Equal(mx, my) {
			return false
		}
	}
	return true
}

// jumpTarget is the chain a map element jumps to. The library hands the
// verdict back as raw attributes.
func jumpTarget(e nftables.SetElement) (string, bool) {
	if v := e.VerdictData; v != nil {
		return v.Chain, v.Kind == expr.VerdictJump
	}
	ad, err := netlink.NewAttributeDecoder(e.Val)
	if err != nil {
		return "", false
	}
	ad.ByteOrder = binary.BigEndian
	jump, chain := false, ""
	for ad.Next() {
		switch ad.Type() {
		case unix.NFTA_VERDICT_CODE:
			jump = int32(ad.Uint32()) == unix.NFT_JUMP
		case unix.NFTA_VERDICT_CHAIN:
			chain = ad.String()
		}
	}
	return chain, jump && chain != "" && ad.Err() == nil
}

// readable is es as the library reads it back.
func readable(es []expr.Any) []expr.Any {
	var out []expr.Any
	for _, e := range es {
		switch x := e.(type) {
		case *expr.Rt, *expr.Byteorder:
			continue
		case *expr.Ct:
			if x.SourceRegister {
				c := *x
				c.Register, c.SourceRegister = 0, false
				e = &c
			}
		case *expr.Lookup:
			c := *x
			c.SetID = 0
			e = &c
		}
		out = append(out, e)
	}
	return out
}

// mapSlots reads a balance map: numbers 0..n-1, each jumping to a chain.
func (c *Conn) mapSlots(t *nftables.Table, name string) ([]Slot, uint32, error) {
	s, err := c.c.GetSetByName(t, name)
	if err != nil {
		return nil, 0, fmt.Errorf("nftables: reading map %s: %w", name, err)
	}
	elems, err := c.c.GetSetElements(s)
	if err != nil {
		return nil, 0, fmt.Errorf("nftables: reading map %s: %w", name, err)
	}
	type kv struct {
		key   uint32
		chain string
	}
	var kvs []kv
	for _, e := range elems {
		chain, ok := jumpTarget(e)
		if len(e.Key) != 4 || !ok {
			return nil, 0, errForeign
		}
		kvs = append(kvs, kv{binaryutil.BigEndian.Uint32(e.Key), chain})
	}
	sort.Slice(kvs, func(i, j int) bool { return kvs[i].key < kvs[j].key })
	var out []Slot
	for i, x := range kvs {
		if x.key != uint32(i) {
			return nil, 0, errors.New("nftables: the balance map has a gap")
		}
		if n := len(out); n > 0 && out[n-1].Chain == x.chain {
			out[n-1].To = x.key
			continue
		}
		out = append(out, Slot{From: x.key, To: x.key, Chain: x.chain})
	}
	return out, uint32(len(kvs)), nil
}
