package conntrack

import (
	"encoding/binary"
	"fmt"
	"testing"

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
				add(counts, 0xff00, e.typ, e.family, e.attrs)
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
