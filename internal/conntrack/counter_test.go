package conntrack

import (
	"encoding/binary"
	"fmt"
	"testing"
	"time"

	"github.com/pathpin/pathpin/internal/nlraw"
	"golang.org/x/sys/unix"
)

func TestAddCountsNewAndDestroyedEntries(t *testing.T) {
	marked := func(m uint32) []byte { return nlraw.Attr(nil, attrMark, binary.BigEndian.AppendUint32(nil, m)) }
	ct := func(t uint16) uint16 { return unix.NFNL_SUBSYS_CTNETLINK<<8 | t }
	type ev struct {
		typ    uint16
		family uint8
		attrs  []byte
	}
	for _, tc := range []struct {
		name   string
		events []ev
		want   string
	}{
		{"new entries by masked mark", []ev{
			{ct(msgNew), unix.AF_INET, marked(0x100)},
			{ct(msgNew), unix.AF_INET, marked(0x10100)},
			{ct(msgNew), unix.AF_INET, marked(0x200)},
			{ct(msgNew), unix.AF_INET, nil}, // no mark: 0
		}, "map[0:1 256:2 512:1]"},
		{"destroyed entries", []ev{
			{ct(msgNew), unix.AF_INET, marked(0x100)},
			{ct(msgNew), unix.AF_INET, marked(0x100)},
			{ct(msgDelete), unix.AF_INET, marked(0x100)},
		}, "map[256:1]"},
		{"a count never goes below zero", []ev{
			{ct(msgDelete), unix.AF_INET, marked(0x100)},
			{ct(msgNew), unix.AF_INET, marked(0x100)},
		}, "map[256:1]"},
		{"IPv6 and expectations are not counted", []ev{
			{ct(msgNew), unix.AF_INET6, marked(0x100)},
			{unix.NFNL_SUBSYS_CTNETLINK_EXP<<8 | msgNew, unix.AF_INET, marked(0x100)},
		}, "map[]"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			counts := map[uint32]int{}
			for _, e := range tc.events {
				_, _ = add(counts, 0xff00, e.typ, e.family, e.attrs)
			}
			if got := fmt.Sprint(counts); got != tc.want {
				t.Fatalf("counts %s, want %s", got, tc.want)
			}
		})
	}
}

func TestCountsNeedTheCountersMask(t *testing.T) {
	c := NewCounter(0xff00, nil)
	if _, ok := c.Counts(0xff00); ok {
		t.Fatal("counts before the first dump")
	}
	c.mu.Lock()
	c.synced, c.counts = true, map[uint32]int{0x100: 3}
	c.mu.Unlock()
	if got, ok := c.Counts(0xff00); !ok || got[0x100] != 3 {
		t.Fatalf("counts %v %v", got, ok)
	}
	if _, ok := c.Counts(0xffff); ok {
		t.Fatal("counts under another mask")
	}
}

// The dumps a counter plans: a retry ladder for dumps that overlapped a
// few events, the spacing alone once events were lost, however far off
// the planned dump was.
func TestCounterPlansDumps(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	const took = 100 * time.Millisecond
	type step struct {
		at         time.Duration // after t0
		overlapped int
		lost       bool
		failed     bool
		overrun    bool // the socket overran instead of a dump
		wantDue    time.Duration
		wantExact  bool
	}
	for _, tc := range []struct {
		name  string
		steps []step
	}{
		{"an exact dump is kept for the period", []step{
			{at: 0, wantDue: resyncPeriod, wantExact: true},
		}},
		{"overlapped dumps are retried, doubling, then kept", []step{
			{at: 0, overlapped: 3, wantDue: 2 * time.Second},
			{at: 2 * time.Second, overlapped: 1, wantDue: 6 * time.Second},
			{at: 6 * time.Second, overlapped: 2, wantDue: 14 * time.Second},
			{at: 14 * time.Second, overlapped: 1, wantDue: 30 * time.Second},
			{at: 30 * time.Second, overlapped: 1, wantDue: 62 * time.Second},
			{at: 62 * time.Second, overlapped: 1, wantDue: 62*time.Second + resyncPeriod},
		}},
		{"a dump that lost events is taken again once spaced", []step{
			{at: 0, lost: true, overlapped: 9000, wantDue: took * burstCostShare},
			{at: took * burstCostShare, lost: true, wantDue: 2 * took * burstCostShare},
			{at: 2 * took * burstCostShare, wantDue: 2*took*burstCostShare + resyncPeriod, wantExact: true},
		}},
		{"lost events bring a far retry forward", []step{
			{at: 0, overlapped: 1, wantDue: 2 * time.Second},
			{at: 2 * time.Second, overlapped: 1, wantDue: 6 * time.Second},
			{at: 6 * time.Second, overlapped: 1, wantDue: 14 * time.Second},
			{at: 14 * time.Second, overlapped: 1, wantDue: 30 * time.Second},
			{at: 15 * time.Second, overrun: true, wantDue: 15 * time.Second},
			{at: 15 * time.Second, overlapped: 1, wantDue: 17 * time.Second},
		}},
		{"lost events wait for the spacing after a dump", []step{
			{at: 0, wantDue: resyncPeriod, wantExact: true},
			{at: took, overrun: true, wantDue: took * burstCostShare},
		}},
		{"a failed dump is retried, doubling", []step{
			{at: 0, failed: true, wantDue: 2 * time.Second},
			{at: 2 * time.Second, failed: true, wantDue: 6 * time.Second},
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := NewCounter(0xff00, nil)
			for i, s := range tc.steps {
				now := t0.Add(s.at)
				if s.overrun {
					c.eventsLost(now)
				} else {
					c.dumped(now, took, false, s.failed, s.overlapped, s.lost)
				}
				if got := c.due.Sub(t0); got != s.wantDue || c.exact != s.wantExact {
					t.Fatalf("step %d: next dump at %v, exact %v; want %v, %v", i, got, c.exact, s.wantDue, s.wantExact)
				}
			}
		})
	}
}
