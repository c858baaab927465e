package conntrack

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/pathpin/pathpin/internal/nlraw"
	"golang.org/x/sys/unix"
)

// The conntrack event groups (NFNLGRP_CONNTRACK_*): entries confirmed
// and entries destroyed. Updates (state changes) are not asked for.
const (
	groupNew     = 1
	groupDestroy = 3

	msgNew = 0 // IPCTNL_MSG_CT_NEW
)

// How often the counts are read again from the kernel when nothing asked
// for it: entries made before anyone listened send no destroy event (the
// kernel's nf_conntrack_events=2 gives events only to entries created
// while a listener exists), so a count taken at start drifts as those
// entries end. The period is long next to the dump's own cost (at most
// one part in periodCostShare of the time is spent dumping).
const (
	resyncPeriod    = 5 * time.Minute
	periodCostShare = 500
	// A dump that overlapped events is taken again after resyncRetry,
	// doubling, up to resyncTries times, then kept until the next period.
	// Not sooner: the first dump overlaps the starting daemon's own
	// connections (probes, DHCP), and the error is a few entries.
	resyncRetry = 2 * time.Second
	resyncTries = 5
	// Dumps in a row are spaced so that at most one part in
	// burstCostShare of the time is spent dumping, however often events
	// are lost.
	burstCostShare = 10
)

// batchDelay is how long events gather after the first one before they
// are read, all together: the counts are at most this far behind. Read as
// they come, one wake-up each, the events took a quarter of a saturated
// router's new connections per second (0.68× plain NAT against 0.88× in
// batches, BenchmarkDataPlane).
const batchDelay = 100 * time.Millisecond

// EventBuffer is the event socket's receive buffer: about 8,000 events
// waiting. A burst beyond it loses events, and the counts are read again
// from the kernel.
const EventBuffer = 8 << 20

// Counter keeps the number of IPv4 conntrack entries per mark (under a
// mask) from the kernel's new and destroy events, so that asking costs
// nothing per connection: the table is dumped only at start, after the
// socket overran, when the mask changes and every few minutes, never on
// the way to an answer.
type Counter struct {
	log    *slog.Logger
	rcvbuf int

	mu     sync.Mutex
	mask   uint32
	counts map[uint32]int // by mark&mask
	// news counts the new entries the events told of, by mark&mask,
	// since the counter started (or the mask changed).
	news   map[uint32]uint64
	synced bool      // counts come from a dump under mask, then events
	exact  bool      // the last dump overlapped no event and no event was lost since
	due    time.Time // when to dump next (zero: not planned)
	tries  int       // dumps in a row that overlapped events
	next   time.Time // no dump before this: the last one's cost, spaced
	l      *nlraw.Listener
}

// NewCounter returns a counter of entries by mark&mask; Run makes it
// count.
func NewCounter(mask uint32, log *slog.Logger) *Counter {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Counter{log: log, rcvbuf: EventBuffer, mask: mask, counts: map[uint32]int{}, news: map[uint32]uint64{}}
}

// News returns the new entries the kernel's events told of since the
// counter started, per mark&mask; false when the counter counts under
// another mask. Entries the events missed (a burst beyond the buffer) are
// not in it.
func (c *Counter) News(mask uint32) (map[uint32]uint64, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if mask != c.mask {
		return nil, false
	}
	out := make(map[uint32]uint64, len(c.news))
	for m, n := range c.news {
		out[m] = n
	}
	return out, true
}

// Counts returns the entries per mark&mask and whether they were counted
// under that mask; when not (the counter has not read the table yet, or
// is not running), ask the kernel with CountByMark.
func (c *Counter) Counts(mask uint32) (map[uint32]int, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.synced || mask != c.mask {
		return nil, false
	}
	out := make(map[uint32]int, len(c.counts))
	for m, n := range c.counts {
		out[m] = n
	}
	return out, true
}

// isExact says whether the counts are the kernel's exactly: the last dump
// overlapped no event and no event was lost since.
func (c *Counter) isExact() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.synced && c.exact
}

// SetMask makes the counter count under a new mask, reading the table
// again.
func (c *Counter) SetMask(mask uint32) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if mask == c.mask {
		return
	}
	c.mask, c.synced, c.counts, c.news = mask, false, map[uint32]int{}, map[uint32]uint64{}
	c.resyncNow()
}

// resyncNow plans a dump at once and wakes the reader; c.mu is held.
func (c *Counter) resyncNow() {
	c.due, c.tries = time.Now(), 0
	if c.l != nil {
		c.l.Wake()
	}
}

// eventsOff says whether the calling thread's network namespace sends no
// conntrack events (net.netfilter.nf_conntrack_events=0).
func eventsOff() bool {
	b, err := os.ReadFile("/proc/sys/net/netfilter/nf_conntrack_events")
	return err == nil && strings.TrimSpace(string(b)) == "0"
}

// Run counts in the calling thread's network namespace until ctx ends.
// It fails when the kernel sends no events (then Counts says so, and a
// dump per question is the way).
func (c *Counter) Run(ctx context.Context) error {
	if eventsOff() {
		return errors.New("conntrack events are off (net.netfilter.nf_conntrack_events=0): flows are counted with a dump per status request")
	}
	dump, err := dial()
	if err != nil {
		return err
	}
	defer dump.Close()
	l, err := nlraw.Listen(unix.NETLINK_NETFILTER, c.rcvbuf, groupNew, groupDestroy)
	if err != nil {
		return fmt.Errorf("conntrack: listening for events: %w", err)
	}
	defer l.Close()
	stop := context.AfterFunc(ctx, l.Wake)
	defer stop()
	c.mu.Lock()
	c.l = l
	c.resyncNow()
	c.mu.Unlock()
	defer func() {
		c.mu.Lock()
		c.l, c.synced = nil, false
		c.mu.Unlock()
	}()
	batch := time.NewTimer(batchDelay)
	batch.Stop()
	for ctx.Err() == nil {
		c.mu.Lock()
		due := c.due
		c.mu.Unlock()
		wait := time.Duration(-1)
		if !due.IsZero() {
			if wait = time.Until(due); wait <= 0 {
				c.resync(l, dump)
				continue
			}
		}
		ready, err := l.Wait(wait)
		if err != nil {
			return err
		}
		if !ready || ctx.Err() != nil {
			continue
		}
		// Let the events of the next moment gather and take them in one
		// go: one wake-up per batch rather than per connection.
		batch.Reset(batchDelay)
		select {
		case <-ctx.Done():
			batch.Stop()
			return nil
		case <-batch.C:
		}
		if _, err := l.Drain(c.event); errors.Is(err, nlraw.ErrOverrun) {
			c.log.Debug("conntrack events were lost; counting the table again")
			c.mu.Lock()
			c.eventsLost(time.Now())
			c.mu.Unlock()
		} else if err != nil {
			return err
		}
	}
	return nil
}

// event counts one new or destroyed entry; c.mu is taken.
func (c *Counter) event(typ uint16, family uint8, attrs []byte) {
	c.mu.Lock()
	if k, isNew := add(c.counts, c.mask, typ, family, attrs); isNew {
		c.news[k]++
	}
	c.mu.Unlock()
}

// add applies one event to counts, and returns its mark&mask and whether
// it told of a new entry.
func add(counts map[uint32]int, mask uint32, typ uint16, family uint8, attrs []byte) (uint32, bool) {
	if family != unix.AF_INET || typ>>8 != unix.NFNL_SUBSYS_CTNETLINK {
		return 0, false
	}
	m, _ := markOf(attrs)
	k := m & mask
	switch typ & 0xff {
	case msgNew:
		counts[k]++
		return k, true
	case msgDelete:
		if counts[k] <= 1 {
			delete(counts, k)
		} else {
			counts[k]--
		}
	}
	return k, false
}

// resync reads the table: events already waiting are dropped (the dump
// sees what they say), the dump is counted, and the events that arrived
// while it ran are added. Those may count an entry twice or miss one
// (an event and the dump's pass over its bucket race), so a dump that
// overlapped events is taken again a little later, when a burst may have
// passed.
func (c *Counter) resync(l *nlraw.Listener, dump *nlraw.Conn) {
	c.mu.Lock()
	mask := c.mask
	c.mu.Unlock()
	if _, err := l.Drain(nil); err != nil && !errors.Is(err, nlraw.ErrOverrun) {
		c.log.Warn("reading conntrack events", "err", err)
	}
	start := time.Now()
	counts, err := countByMark(dump, mask)
	took := time.Since(start)
	overlapped, lost := 0, false
	if err == nil {
		var derr error
		overlapped, derr = l.Drain(func(typ uint16, family uint8, attrs []byte) { _, _ = add(counts, mask, typ, family, attrs) })
		lost = derr != nil
		c.log.Debug("conntrack entries counted", "took", took, "entries", counts, "events meanwhile", overlapped, "lost", lost)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if err != nil {
		c.log.Warn("counting conntrack entries", "err", err)
	}
	if err == nil && mask == c.mask {
		c.counts, c.synced = counts, true
	}
	c.dumped(time.Now(), took, mask != c.mask, err != nil, overlapped, lost)
}

// dumped plans the next dump after one that took took; c.mu is held.
// A dump made under a mask changed since, or whose events were lost
// (counts off by any number), is as good as none: the next comes as soon
// as the spacing allows. One that only overlapped events is off by at
// most that many entries: it is taken again after resyncRetry, doubling,
// and after resyncTries it is kept until the period. A failed one is
// retried, doubling, for as long as it fails.
func (c *Counter) dumped(now time.Time, took time.Duration, maskChanged, failed bool, overlapped int, lost bool) {
	c.next = now.Add(took * burstCostShare)
	switch {
	case maskChanged:
		c.due, c.tries = c.next, 0
	case failed:
		c.retry(now)
	case lost:
		c.exact, c.due, c.tries = false, c.next, 0
	case overlapped == 0 || c.tries >= resyncTries:
		c.exact = overlapped == 0
		c.due, c.tries = now.Add(max(resyncPeriod, took*periodCostShare)), 0
	default:
		c.exact = false
		c.retry(now)
	}
}

// retry plans the next dump after a failed or overlapped one; c.mu is
// held.
func (c *Counter) retry(now time.Time) {
	c.due = later(now.Add(resyncRetry<<min(c.tries, resyncTries)), c.next)
	c.tries++
}

// eventsLost plans a dump after the socket overran; c.mu is held. The
// counts may now be off by any number of entries, so the dump comes as
// soon as the spacing allows, sooner than a retry or the period planned.
func (c *Counter) eventsLost(now time.Time) {
	c.exact, c.tries = false, 0
	if soon := later(now, c.next); c.due.IsZero() || soon.Before(c.due) {
		c.due = soon
	}
}

func later(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}
