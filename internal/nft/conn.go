package nft

import (
	"bytes"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sort"

	"github.com/google/nftables"
	"github.com/google/nftables/binaryutil"
	"github.com/google/nftables/expr"
	"github.com/mdlayher/netlink"
	"github.com/pathpin/pathpin/internal/nlraw"
	"golang.org/x/sys/unix"
)

// Conn reads and writes pathpin's table over lasting netlink sockets. It
// is not safe for concurrent use.
type Conn struct {
	c *nftables.Conn
	// raw carries the requests the library does not make (dump.go).
	raw *nlraw.Conn

	// The last read, and the ruleset generation it was made at; cached
	// says whether it may answer the next Read.
	last   *Table
	gen    uint32
	cached bool
	hits   int
	// pending is what the last Update touched, for the Read after it.
	pending  *partial
	partials int
	// known are the rules the last read decoded and verified, by the
	// kernel's encoding of their expressions.
	known map[string]Rule
}

// Open opens the netlink socket, in the caller's network namespace.
func Open() (*Conn, error) {
	c, err := nftables.New(nftables.AsLasting(), nftables.WithSockOptions(smallAcks))
	if err != nil {
		return nil, fmt.Errorf("nftables: opening netlink: %w", err)
	}
	raw, err := nlraw.Dial(unix.NETLINK_NETFILTER)
	if err != nil {
		c.CloseLasting()
		return nil, fmt.Errorf("nftables: opening netlink: %w", err)
	}
	return &Conn{c: c, raw: raw}, nil
}

// discard drops what is queued on the socket and not sent, after an
// error while queueing: the next transaction must not carry it. The
// library keeps no way to empty its queue but a new connection.
func (c *Conn) discard() {
	c.c.CloseLasting()
	if nc, err := nftables.New(nftables.AsLasting(), nftables.WithSockOptions(smallAcks)); err == nil {
		c.c = nc
	}
	c.cached, c.pending = false, nil
}

// smallAcks has the kernel acknowledge each message of a transaction
// without echoing it back (NETLINK_CAP_ACK), into a receive buffer large
// enough for them all: a table of hundreds of policies is a thousand
// messages, each acknowledged at once, and the default buffer overflows
// (ENOBUFS) at about two hundred. The buffer is forced past rmem_max
// (pathpin runs with CAP_NET_ADMIN); where it cannot be, the default
// stays and large tables fail with the kernel's ENOBUFS.
func smallAcks(c *netlink.Conn) error {
	if err := c.SetOption(netlink.CapAcknowledge, true); err != nil {
		return err
	}
	raw, err := c.SyscallConn()
	if err != nil {
		return nil
	}
	_ = raw.Control(func(fd uintptr) {
		_ = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, ackBuffer)
	})
	return nil
}

// ackBuffer holds the acknowledgements of the largest table pathpin
// writes (a thousand policies).
const ackBuffer = 8 << 20

// Close releases the sockets.
func (c *Conn) Close() error { return errors.Join(c.c.CloseLasting(), c.raw.Close()) }

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
//
// The sources a sticky set holds now are carried into the new table's set
// of the same name, with the time each has left: the packet path fills
// sticky sets, and a rewrite must not forget them. (A source added between
// this read and the commit, a fraction of a millisecond, is not carried.)
func (c *Conn) Apply(t *Table) error {
	t, err := c.carrySticky(t, func(string) bool { return true })
	if err != nil {
		return err
	}
	c.cached, c.pending = false, nil
	c.c.AddTable(table())
	c.c.DelTable(table())
	if t != nil {
		if err := c.define(table(), t); err != nil {
			c.discard()
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
		return fmt.Errorf("%w (the kernel lacks an nftables expression pathpin uses: modules nft_numgen, nft_nat, nft_masq, nft_ct, nft_exthdr, nft_rt; for domain policies nft_queue and nfnetlink_queue, for pathpin exec and programs nft_socket; and for policies concatenated interval sets, Linux 5.6 or later; load them)", err)
	}
	return err
}

// checkTable is where Check writes: made and removed in one transaction.
const checkTable = "pathpin_check"

// Check has the kernel validate t without it ever taking effect: t is
// written to a scratch table that the same transaction deletes.
func (c *Conn) Check(t *Table) error {
	c.cached = false
	c.c.AddTable(named(checkTable))
	c.c.DelTable(named(checkTable))
	if err := c.define(named(checkTable), t); err != nil {
		c.discard()
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
		nc, err := addChain(c.c, nt, ch)
		if err != nil {
			return err
		}
		chains[ch.Name] = nc
	}
	ids := setIDs{named: map[string]uint32{}}
	for i := range t.Sets {
		s := &t.Sets[i]
		if s.Foreign {
			continue
		}
		id, err := c.addSet(nt, s)
		if err != nil {
			return err
		}
		ids.named[s.Name] = id
	}
	for _, ch := range t.Chains {
		if err := c.addRules(nt, chains[ch.Name], ch.Rules, ids); err != nil {
			return err
		}
	}
	return nil
}

// addChain queues chain ch (a base chain with its hook) into nt.
func addChain(c *nftables.Conn, nt *nftables.Table, ch Chain) (*nftables.Chain, error) {
	nc := &nftables.Chain{Name: ch.Name, Table: nt}
	if ch.Hook != "" {
		hook, ok := hooks[ch.Hook]
		if !ok {
			return nil, fmt.Errorf("nftables: chain %s: unknown hook %q", ch.Name, ch.Hook)
		}
		accept := nftables.ChainPolicyAccept
		nc.Type, nc.Hooknum, nc.Priority, nc.Policy = nftables.ChainType(ch.Type), hook, nftables.ChainPriorityRef(nftables.ChainPriority(ch.Priority)), &accept
	}
	return c.AddChain(nc), nil
}

// addRules queues rules at the end of chain; a balance rule's anonymous
// map goes with it. A foreign rule (read back) is not pathpin's to write.
func (c *Conn) addRules(nt *nftables.Table, chain *nftables.Chain, rules []Rule, ids setIDs) error {
	for _, r := range rules {
		if r.Foreign {
			continue
		}
		set := ids
		set.balance = balanceMap{}
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
			set.balance = balanceMap{name: s.Name, id: s.ID}
		}
		c.c.AddRule(&nftables.Rule{Table: nt, Chain: chain, Exprs: r.exprs(set)})
	}
	return nil
}

// Read returns pathpin's table as the kernel holds it, or nil when there
// is none. Each rule is decoded and checked against the expressions pathpin
// builds for what it decoded; a rule that does not match is Foreign.
//
// A read is kept with the kernel's ruleset generation asked for before
// it: while the generation is unchanged, no transaction (pathpin's or
// anyone else's) has committed since, so the read still holds, and Read
// answers from it after one round trip. A commit during a read changes
// the generation, and the next Read reads again.
func (c *Conn) Read() (*Table, error) {
	gen, err := generation(c.raw)
	if err != nil {
		return nil, err
	}
	if c.cached && c.gen == gen {
		c.hits++
		return c.last.Clone(), nil
	}
	var p *partial
	if c.pending != nil && gen == c.pending.gen+1 {
		// Only pathpin's own update has committed since the read it
		// started from: what it did not touch is as that read found it.
		p = c.pending
		c.partials++
	}
	c.pending = nil
	t, err := c.readFrom(p)
	if err != nil {
		return nil, err
	}
	c.cached, c.gen, c.last = true, gen, t
	return t.Clone(), nil
}

// partial is what an Update touched, over the read it started from: the
// next Read dumps only those chains' rules and those maps' elements, when
// the update's is the only commit since.
type partial struct {
	base *Table
	// headers are the chains the update left, without rules.
	headers []Chain
	// gen is the generation base was read at.
	gen          uint32
	chains, sets map[string]bool
}

// listChains lists the table's chains with their hooks, without rules:
// nil when there is no table.
func (c *Conn) listChains() (*Table, error) {
	chains, err := c.c.ListChainsOfTableFamily(nftables.TableFamilyIPv4)
	if err != nil {
		return nil, fmt.Errorf("nftables: listing chains: %w", err)
	}
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
		out.Chains = append(out.Chains, ch)
	}
	if len(out.Chains) == 0 {
		// An empty table, or none.
		tables, err := c.c.ListTablesOfFamily(nftables.TableFamilyIPv4)
		if err != nil {
			return nil, fmt.Errorf("nftables: listing tables: %w", err)
		}
		if !slices.ContainsFunc(tables, func(t *nftables.Table) bool { return t.Name == TableName }) {
			return nil, nil
		}
	}
	return out, nil
}

// readFrom reads the table: its chains, their rules, the balance maps the
// rules name and the named sets. With p, only the rules of the chains p
// touched and the elements of the maps it touched are dumped; the others
// are p.base's.
func (c *Conn) readFrom(p *partial) (*Table, error) {
	var out *Table
	var err error
	if p != nil {
		// The chains the update left: nothing else committed since.
		out = &Table{Chains: slices.Clone(p.headers)}
	} else if out, err = c.listChains(); out == nil || err != nil || len(out.Chains) == 0 {
		return out, err
	}
	at := map[string]int{}
	for i, ch := range out.Chains {
		at[ch.Name] = i
	}
	var rules []kernelRule
	seen := map[string]Rule{}
	if p == nil {
		if rules, err = dumpRules(c.raw, ""); err != nil {
			return nil, err
		}
	} else {
		// Untouched chains keep base's rules, and the known encodings
		// stay known (while they are not many more than the table's).
		if len(c.known) < 4*len(p.base.Chains)+64 {
			maps.Copy(seen, c.known)
		}
		base := map[string]*Chain{}
		for i := range p.base.Chains {
			base[p.base.Chains[i].Name] = &p.base.Chains[i]
		}
		for i := range out.Chains {
			name := out.Chains[i].Name
			if b, ok := base[name]; ok && !p.chains[name] {
				out.Chains[i].Rules = slices.Clone(b.Rules)
				continue
			}
			rs, err := dumpRules(c.raw, name)
			if err != nil {
				return nil, err
			}
			rules = append(rules, rs...)
		}
	}
	for _, kr := range rules {
		i, ok := at[kr.Chain]
		if !ok {
			// A chain made after the chain listing: a commit since, so
			// the generation has moved and the next Read reads again.
			continue
		}
		// The same bytes decode to the same rule: a rule read before is
		// not decoded again, unless it looks a map up (the map is read
		// each time).
		r, ok := c.known[string(kr.Exprs)]
		if !ok {
			var usesMap bool
			r, usesMap = verified(kr, c.mapSlots)
			if !usesMap && !r.Foreign {
				seen[string(kr.Exprs)] = r
			}
		} else {
			seen[string(kr.Exprs)] = r
		}
		if r.Foreign {
			r.Text = foreignText(kr.Handle)
		}
		out.Chains[i].Rules = append(out.Chains[i].Rules, r)
	}
	c.known = seen
	// The named sets, each classification map keyed as the rule that
	// looks it up says.
	keys := map[string][]Field{}
	for _, ch := range out.Chains {
		for _, r := range ch.Rules {
			if r.Classify != nil {
				keys[r.Classify.Set] = r.Classify.Key
			}
		}
	}
	reuse := func(string) ([]Elem, bool) { return nil, false }
	if p != nil {
		reuse = func(name string) ([]Elem, bool) {
			if b, ok := p.base.Set(name); ok && !p.sets[name] && !b.Foreign {
				return b.Elems, true
			}
			return nil, false
		}
	}
	if out.Sets, err = c.readSets(keys, reuse); err != nil {
		return nil, err
	}
	return out, nil
}

func foreignText(handle uint64) string {
	return fmt.Sprintf("# a rule pathpin did not write (handle %d)", handle)
}

// verified decodes a kernel rule and checks it byte for byte. usesMap says
// that it looks a map up.
func verified(kr kernelRule, slots func(string) ([]Slot, uint32, error)) (r Rule, usesMap bool) {
	foreign := Rule{Foreign: true}
	ws, unknown := decodeExprs(kr.Exprs)
	if unknown || len(ws) == 0 {
		return foreign, false
	}
	es := make([]expr.Any, len(ws))
	for i, w := range ws {
		es[i] = w.e
	}
	var set setIDs
	if l, ok := es[len(es)-1].(*expr.Lookup); ok && l.IsDestRegSet && l.SourceRegister == reg {
		set.balance.name, usesMap = l.SetName, true
	}
	r, err := decode(es, slots)
	if err != nil {
		return foreign, usesMap
	}
	if !sameExprs(ws, r.exprs(set)) {
		return foreign, usesMap
	}
	return r, usesMap
}

// sameExprs compares the expressions read back with those pathpin builds,
// as the kernel would receive them. A map lookup is compared by its set's
// name only (its id is the transaction's).
func sameExprs(read []wireExpr, built []expr.Any) bool {
	if len(read) != len(built) {
		return false
	}
	for i, e := range built {
		b, err := expr.Marshal(unix.NFPROTO_IPV4, readable(e))
		if err != nil || !bytes.Equal(read[i].wire, b) {
			return false
		}
	}
	return true
}

// readable is e as the kernel gives it back: a map lookup names its set
// but not the transaction's id for it. A counter is compared without its
// counts.
func readable(e expr.Any) expr.Any {
	switch x := e.(type) {
	case *expr.Lookup:
		c := *x
		c.SetID = 0
		return &c
	case *expr.Dynset:
		c := *x
		c.SetID = 0
		return &c
	case *expr.Counter:
		return &expr.Counter{}
	}
	return e
}

// mapSlots reads a balance map: numbers 0..n-1, each jumping to a chain.
func (c *Conn) mapSlots(name string) ([]Slot, uint32, error) {
	elems, err := dumpMap(c.raw, name)
	if err != nil {
		return nil, 0, err
	}
	type kv struct {
		key   uint32
		chain string
	}
	var kvs []kv
	for _, e := range elems {
		if len(e.Key) != 4 || e.Chain == "" {
			return nil, 0, errForeign
		}
		kvs = append(kvs, kv{binaryutil.BigEndian.Uint32(e.Key), e.Chain})
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
