// Package conntrack counts and deletes the kernel's IPv4 conntrack entries
// by mark over ctnetlink, at any table size without work per entry in
// pathpin: a count reads the dump through one fixed buffer and looks at
// each entry's mark attribute in place, and a delete by mark is one
// request the kernel carries out itself (no dump at all).
//
// The sockets are opened per call in the calling thread's network
// namespace.
package conntrack

import (
	"encoding/binary"
	"fmt"

	"github.com/pathpin/pathpin/internal/nlraw"
	"golang.org/x/sys/unix"
)

// The ctnetlink message types and attributes pathpin uses
// (linux/netfilter/nfnetlink_conntrack.h).
const (
	msgGet    = 1 // IPCTNL_MSG_CT_GET
	msgDelete = 2 // IPCTNL_MSG_CT_DELETE

	attrMark     = 8  // CTA_MARK
	attrMarkMask = 21 // CTA_MARK_MASK

	// attrTypeMask strips the nested and byte-order flags from an
	// attribute's type.
	attrTypeMask = 0x3fff
)

// msg is a ctnetlink message type.
func msg(t uint16) uint16 { return unix.NFNL_SUBSYS_CTNETLINK<<8 | t }

// markOf finds the mark attribute among an entry's attributes.
func markOf(attrs []byte) (mark uint32, ok bool) {
	each(attrs, func(typ uint16, data []byte) {
		if typ == attrMark && len(data) == 4 {
			mark, ok = binary.BigEndian.Uint32(data), true
		}
	})
	return mark, ok
}

// markAttrs are CTA_MARK and CTA_MARK_MASK, big-endian as ctnetlink wants.
func markAttrs(mark, mask uint32) []byte {
	b := nlraw.Attr(nil, attrMark, binary.BigEndian.AppendUint32(nil, mark))
	return nlraw.Attr(b, attrMarkMask, binary.BigEndian.AppendUint32(nil, mask))
}

func dial() (*nlraw.Conn, error) {
	c, err := nlraw.Dial(unix.NETLINK_NETFILTER)
	if err != nil {
		return nil, fmt.Errorf("conntrack: %w", err)
	}
	return c, nil
}

// CountByMark counts the IPv4 entries per mark (under mask) in one dump.
// Entries whose mark is outside mask count under 0.
func CountByMark(mask uint32) (map[uint32]int, error) {
	c, err := dial()
	if err != nil {
		return nil, err
	}
	defer c.Close()
	return countByMark(c, mask)
}

// countByMark is CountByMark on an open socket.
func countByMark(c *nlraw.Conn, mask uint32) (map[uint32]int, error) {
	if err := c.Send(msg(msgGet), unix.NLM_F_DUMP, unix.AF_INET, nil); err != nil {
		return nil, fmt.Errorf("conntrack: asking for the table: %w", err)
	}
	out := map[uint32]int{}
	err := c.Each(func(_ uint16, attrs []byte) {
		m, _ := markOf(attrs)
		out[m&mask]++
	})
	if err != nil {
		return nil, fmt.Errorf("conntrack: reading the table: %w", err)
	}
	return out, nil
}

// CountMark counts the IPv4 entries whose mark under mask is mark, in a
// dump the kernel filters.
func CountMark(mark, mask uint32) (int, error) {
	c, err := dial()
	if err != nil {
		return 0, err
	}
	defer c.Close()
	if err := c.Send(msg(msgGet), unix.NLM_F_DUMP, unix.AF_INET, markAttrs(mark, mask)); err != nil {
		return 0, fmt.Errorf("conntrack: asking for the table: %w", err)
	}
	n := 0
	if err := c.Each(func(uint16, []byte) { n++ }); err != nil {
		return 0, fmt.Errorf("conntrack: reading the table: %w", err)
	}
	return n, nil
}

// DeleteMark deletes every IPv4 entry whose mark under mask is mark: one
// request, carried out by the kernel.
func DeleteMark(mark, mask uint32) error {
	c, err := dial()
	if err != nil {
		return err
	}
	defer c.Close()
	err = c.Send(msg(msgDelete), unix.NLM_F_ACK, unix.AF_INET, markAttrs(mark, mask))
	if err == nil {
		err = c.Each(func(uint16, []byte) {})
	}
	if err != nil {
		return fmt.Errorf("conntrack: deleting entries with mark %#x/%#x: %w", mark, mask, err)
	}
	return nil
}
