package daemon

import (
	"context"
	"log/slog"
	"net/netip"
	"slices"
	"sort"
	"sync"
	"time"

	"github.com/pathpin/pathpin/internal/config"
	"github.com/pathpin/pathpin/internal/dnswatch"
	"github.com/pathpin/pathpin/internal/nft"
	"github.com/pathpin/pathpin/internal/status"
	"github.com/pathpin/pathpin/uplink"
)

// domainOwner reads the DNS answers pathpin's table queues and puts their
// addresses into the domain policies' sets before letting each answer go
// on: the client's first connection already meets its address there. The
// applier declares the sets; their elements are this owner's alone (and
// dnsmasq's, with its nftset= line).
type domainOwner struct {
	log *slog.Logger

	mu sync.Mutex // guards what follows
	// queue is the queue number being read; stop ends its reader.
	queue   uint16
	stop    context.CancelFunc
	done    chan struct{}
	match   *dnswatch.Domains
	dns     config.DNS
	domains map[string][]string      // by policy, as last reconciled
	sets    map[string]*domainRecord // by policy
	answers uint64                   // answers read
	bad     uint64                   // answers that were malformed
	failed  uint64                   // fills the kernel refused
}

// domainRecord is what pathpin put into one domain set: each address, until
// when, and the names of the answers that gave it.
type domainRecord struct {
	addrs map[netip.Addr]*domainAddr
}

type domainAddr struct {
	until time.Time
	names []string
}

// maxNamesPerAddr bounds the names kept for one address.
const maxNamesPerAddr = 4

func newDomainOwner(log *slog.Logger) *domainOwner {
	return &domainOwner{log: log, sets: map[string]*domainRecord{}}
}

// reconcile starts, restarts or stops the reader for cfg: one runs while
// a policy matches by domain, on cfg's queue.
//
// It runs after the apply that makes cfg's sets: a policy whose domains
// changed has its set emptied (its addresses are for names it no longer
// names), and the reader finds every set there.
func (o *domainOwner) reconcile(cfg *config.Config) {
	byPolicy, changed := o.reconcileMatch(cfg)
	if len(changed) > 0 {
		if err := flushSets(changed); err != nil {
			o.log.Warn("a domain policy's set keeps the addresses of domains it no longer names until they time out", "err", err)
		}
	}
	o.mu.Lock()
	running := o.stop != nil
	same := running && o.queue == cfg.DNS.Queue
	o.mu.Unlock()
	want := len(byPolicy) > 0
	if want && same || !want && !running {
		return
	}
	o.close()
	if len(byPolicy) == 0 {
		return
	}
	q, err := dnswatch.Open(cfg.DNS.Queue, o.log)
	if err != nil {
		o.log.Error("domain policies cannot read DNS answers, which pass unread meanwhile (the queue's bypass): load nfnetlink_queue, or if another program reads this queue set dns.queue to another number, then reload pathpin; dnsmasq's nftset= can still fill the sets",
			"queue", cfg.DNS.Queue, "err", err)
		return
	}
	conn, err := nft.Open()
	if err != nil {
		q.Close()
		o.log.Error("domain policies cannot write their sets", "err", err)
		return
	}
	ctx, stop := context.WithCancel(context.Background())
	done := make(chan struct{})
	o.mu.Lock()
	o.queue, o.stop, o.done = cfg.DNS.Queue, stop, done
	o.mu.Unlock()
	go func() {
		defer close(done)
		defer conn.Close()
		defer q.Close()
		if err := q.Run(ctx, func(pkt []byte) { o.handle(conn, pkt, time.Now()) }); err != nil && ctx.Err() == nil {
			o.log.Error("reading DNS answers stopped", "err", err)
		}
	}()
	o.log.Info("reading DNS answers for the domain policies", "queue", cfg.DNS.Queue)
}

// reconcileMatch takes cfg's domain policies and bounds, and forgets the
// record of policies that are gone or whose domains changed; it returns
// the domains by policy and the sets of the policies whose domains
// changed.
func (o *domainOwner) reconcileMatch(cfg *config.Config) (byPolicy map[string][]string, changed []string) {
	byPolicy = map[string][]string{}
	for _, p := range cfg.Policies {
		if len(p.Match.Domains) > 0 {
			byPolicy[p.Name] = p.Match.Domains
		}
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	o.match, o.dns = dnswatch.NewDomains(byPolicy), cfg.DNS
	for name, was := range o.domains {
		if now, ok := byPolicy[name]; ok && !slices.Equal(now, was) {
			changed = append(changed, uplink.DomainSet(name))
		}
	}
	for name := range o.sets {
		if now, ok := byPolicy[name]; !ok || !slices.Equal(now, o.domains[name]) {
			delete(o.sets, name)
		}
	}
	o.domains = byPolicy
	return byPolicy, changed
}

// flushSets empties the named sets.
func flushSets(sets []string) error {
	c, err := nft.Open()
	if err != nil {
		return err
	}
	defer c.Close()
	return c.FlushSets(sets)
}

// close stops the reader, if one runs; the queue's bypass lets answers
// through meanwhile.
func (o *domainOwner) close() {
	o.mu.Lock()
	stop, done := o.stop, o.done
	o.stop, o.done = nil, nil
	o.mu.Unlock()
	if stop != nil {
		stop()
		<-done
	}
}

// setFiller is the part of *nft.Conn that fills sets.
type setFiller interface {
	FillSets([]nft.Fill) error
}

// handle reads one queued answer and fills the sets its addresses belong
// to. Anything that does not parse is left alone: the answer goes on
// unchanged, and nothing is added.
func (o *domainOwner) handle(conn setFiller, pkt []byte, now time.Time) {
	a, err := dnswatch.ParsePacket(pkt)
	o.mu.Lock()
	o.answers++
	if err != nil {
		if dnswatch.Malformed(err) {
			o.bad++
		}
		o.mu.Unlock()
		return
	}
	match, dns := o.match, o.dns
	var fills []nft.Fill
	type noted struct {
		policy string
		addr   dnswatch.Addr
		ttl    time.Duration
	}
	var notes []noted
	for _, ad := range a.Addrs {
		ttl := min(max(ad.TTL, dns.MinTTL), dns.MaxTTL)
		// The question decides: the names behind it are the answering
		// server's to choose (a CNAME to bank.example in an answer for a
		// name of its own must not fill bank's set).
		for _, p := range match.Match(ad.Names[:1]) {
			rec := o.sets[p]
			refresh := false
			if rec != nil {
				if e, ok := rec.addrs[ad.Addr]; ok && e.until.After(now) {
					// Longer only where it would leave before this
					// answer's clients are done with it; added again
					// anyway (a no-op if it is there), in case the set
					// was emptied behind the record's back.
					refresh = e.until.Before(now.Add(ttl / 2))
					if !refresh {
						fills = append(fills, nft.Fill{Set: uplink.DomainSet(p), Addr: ad.Addr, Timeout: e.until.Sub(now)})
						notes = append(notes, noted{p, ad, 0})
						continue
					}
				}
			}
			fills = append(fills, nft.Fill{Set: uplink.DomainSet(p), Addr: ad.Addr, Timeout: ttl, Refresh: refresh})
			notes = append(notes, noted{p, ad, ttl})
		}
	}
	o.mu.Unlock()
	if len(notes) == 0 {
		return
	}
	if len(fills) > 0 {
		if err := conn.FillSets(fills); err != nil {
			o.mu.Lock()
			o.failed++
			n := o.failed
			o.mu.Unlock()
			if n&(n-1) == 0 { // 1, 2, 4, 8, ...: a flood is not a log line per answer
				o.log.Warn("the kernel refused a DNS answer's addresses", "question", a.Question, "failures", n, "err", err)
			}
			return
		}
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	for _, n := range notes {
		rec := o.sets[n.policy]
		if rec == nil {
			rec = &domainRecord{addrs: map[netip.Addr]*domainAddr{}}
			o.sets[n.policy] = rec
		}
		e := rec.addrs[n.addr.Addr]
		if e == nil {
			if len(rec.addrs) >= nft.StickySize {
				rec.prune(now)
			}
			if len(rec.addrs) >= nft.StickySize {
				continue
			}
			e = &domainAddr{}
			rec.addrs[n.addr.Addr] = e
		}
		if n.ttl > 0 {
			e.until = now.Add(n.ttl)
		}
		name := n.addr.Names[0]
		if !slices.Contains(e.names, name) {
			e.names = append(e.names, name)
			if len(e.names) > maxNamesPerAddr {
				e.names = e.names[1:]
			}
		}
	}
}

// prune forgets the addresses whose time has run out.
func (r *domainRecord) prune(now time.Time) {
	for a, e := range r.addrs {
		if !e.until.After(now) {
			delete(r.addrs, a)
		}
	}
}

// DomainAddr is one address of a domain set as pathpin filled it.
type DomainAddr struct {
	Addr  netip.Addr
	Until time.Time
	Names []string
}

// record is what pathpin put into policy's set and has not run out, by
// address (nothing without an owner: no daemon runs).
func (o *domainOwner) record(policy string, now time.Time) []DomainAddr {
	if o == nil {
		return nil
	}
	var out []DomainAddr
	o.mu.Lock()
	if rec := o.sets[policy]; rec != nil {
		out = make([]DomainAddr, 0, len(rec.addrs))
		for a, e := range rec.addrs {
			if e.until.After(now) {
				out = append(out, DomainAddr{Addr: a, Until: e.until, Names: slices.Clone(e.names)})
			}
		}
	}
	// Sorted with the lock let go: answers wait for it.
	o.mu.Unlock()
	sort.Slice(out, func(i, j int) bool { return out[i].Addr.Less(out[j].Addr) })
	return out
}

// counts are the answers read, those that did not parse, and the fills
// the kernel refused.
func (o *domainOwner) counts() (answers, bad, failed uint64) {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.answers, o.bad, o.failed
}

// addDomains reports each domain policy's set: the kernel's addresses
// now, with the names of the answers pathpin read for them.
func addDomains(r *status.Report, cfg *config.Config, c *nft.Conn, o *domainOwner, now time.Time) {
	for _, p := range cfg.Policies {
		if len(p.Match.Domains) == 0 {
			continue
		}
		set := uplink.DomainSet(p.Name)
		d := status.Domain{Policy: p.Name, Set: set, Domains: p.Match.Domains, Dnsmasq: uplink.DnsmasqLine(p.Name, p.Match.Domains)}
		live, err := c.Sticky(set)
		if err != nil {
			continue
		}
		known := map[netip.Addr][]string{}
		for _, a := range o.record(p.Name, now) {
			known[a.Addr] = a.Names
		}
		slices.SortFunc(live, func(a, b nft.Entry) int { return a.Addr.Compare(b.Addr) })
		d.Size = len(live)
		names := map[string]bool{}
		for _, e := range live {
			for _, n := range known[e.Addr] {
				if !names[n] && len(d.Names) < 16 {
					names[n] = true
					d.Names = append(d.Names, n)
				}
			}
			if len(d.Addrs) < status.MaxDomainAddrs {
				d.Addrs = append(d.Addrs, status.DomainAddr{Addr: e.Addr.String(), Expires: e.Expires.Seconds(), Names: known[e.Addr]})
			}
		}
		r.Domains = append(r.Domains, d)
	}
	if o != nil && len(r.Domains) > 0 {
		read, bad, refused := o.counts()
		r.DNS = &status.DNSAnswers{Read: read, Malformed: bad, Refused: refused}
	}
}
