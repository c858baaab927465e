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
	"errors"
	"fmt"
	"os"

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

// bufSize is the receive buffer: the kernel fills each dump message up to
// the size the reader offers (32 KiB at most), so a large buffer means
// fewer system calls.
const bufSize = 64 << 10

// conn is one ctnetlink socket and its receive buffer.
type conn struct {
	fd  int
	seq uint32
	buf []byte
}

func dial() (*conn, error) {
	fd, err := unix.Socket(unix.AF_NETLINK, unix.SOCK_RAW|unix.SOCK_CLOEXEC, unix.NETLINK_NETFILTER)
	if err != nil {
		return nil, fmt.Errorf("conntrack: opening netlink: %w", err)
	}
	if err := unix.Bind(fd, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("conntrack: binding netlink: %w", err)
	}
	return &conn{fd: fd, seq: uint32(os.Getpid()), buf: make([]byte, bufSize)}, nil
}

func (c *conn) close() { unix.Close(c.fd) }

// send sends one ctnetlink request with attributes.
func (c *conn) send(msgType uint16, flags uint16, attrs []byte) error {
	c.seq++
	n := unix.SizeofNlMsghdr + 4 + len(attrs)
	b := make([]byte, n)
	binary.NativeEndian.PutUint32(b[0:], uint32(n))
	binary.NativeEndian.PutUint16(b[4:], unix.NFNL_SUBSYS_CTNETLINK<<8|msgType)
	binary.NativeEndian.PutUint16(b[6:], flags)
	binary.NativeEndian.PutUint32(b[8:], c.seq)
	// nfgenmsg: family, version, resource id.
	b[16], b[17] = unix.AF_INET, unix.NFNETLINK_V0
	copy(b[20:], attrs)
	return unix.Sendto(c.fd, b, 0, &unix.SockaddrNetlink{Family: unix.AF_NETLINK})
}

// each reads the replies to the last request, calling fn with each
// message's attributes (after the nfgenmsg header), until the dump is
// done or the ack arrives. The attributes alias the buffer: fn must not
// keep them.
func (c *conn) each(fn func(attrs []byte)) error {
	for {
		n, err := unix.Read(c.fd, c.buf)
		if err != nil {
			if errors.Is(err, unix.EINTR) {
				continue
			}
			return fmt.Errorf("conntrack: reading: %w", err)
		}
		b := c.buf[:n]
		for len(b) >= unix.SizeofNlMsghdr {
			l := int(binary.NativeEndian.Uint32(b[0:]))
			typ := binary.NativeEndian.Uint16(b[4:])
			seq := binary.NativeEndian.Uint32(b[8:])
			if l < unix.SizeofNlMsghdr || l > len(b) {
				return errors.New("conntrack: a malformed netlink message")
			}
			msg := b[unix.SizeofNlMsghdr:l]
			b = b[align(l):]
			if seq != c.seq {
				continue
			}
			switch typ {
			case unix.NLMSG_DONE:
				return nil
			case unix.NLMSG_ERROR:
				if len(msg) < 4 {
					return errors.New("conntrack: a short netlink error")
				}
				if code := int32(binary.NativeEndian.Uint32(msg)); code != 0 {
					return fmt.Errorf("conntrack: %w", unix.Errno(-code))
				}
				return nil // the ack
			}
			if len(msg) >= 4 {
				fn(msg[4:])
			}
		}
	}
}

func align(n int) int { return (n + unix.NLA_ALIGNTO - 1) &^ (unix.NLA_ALIGNTO - 1) }

// markOf finds the mark attribute among an entry's attributes.
func markOf(attrs []byte) (uint32, bool) {
	for len(attrs) >= 4 {
		l := int(binary.NativeEndian.Uint16(attrs[0:]))
		typ := binary.NativeEndian.Uint16(attrs[2:]) & attrTypeMask
		if l < 4 || l > len(attrs) {
			return 0, false
		}
		if typ == attrMark && l == 8 {
			return binary.BigEndian.Uint32(attrs[4:8]), true
		}
		attrs = attrs[align(l):]
	}
	return 0, false
}

// markAttrs are CTA_MARK and CTA_MARK_MASK, big-endian as ctnetlink wants.
func markAttrs(mark, mask uint32) []byte {
	b := make([]byte, 16)
	for i, a := range []struct {
		typ uint16
		v   uint32
	}{{attrMark, mark}, {attrMarkMask, mask}} {
		binary.NativeEndian.PutUint16(b[i*8:], 8)
		binary.NativeEndian.PutUint16(b[i*8+2:], a.typ)
		binary.BigEndian.PutUint32(b[i*8+4:], a.v)
	}
	return b
}

// CountByMark counts the IPv4 entries per mark (under mask) in one dump.
// Entries whose mark is outside mask count under 0.
func CountByMark(mask uint32) (map[uint32]int, error) {
	c, err := dial()
	if err != nil {
		return nil, err
	}
	defer c.close()
	if err := c.send(msgGet, unix.NLM_F_REQUEST|unix.NLM_F_DUMP, nil); err != nil {
		return nil, fmt.Errorf("conntrack: asking for the table: %w", err)
	}
	out := map[uint32]int{}
	err = c.each(func(attrs []byte) {
		m, _ := markOf(attrs)
		out[m&mask]++
	})
	return out, err
}

// CountMark counts the IPv4 entries whose mark under mask is mark, in a
// dump the kernel filters.
func CountMark(mark, mask uint32) (int, error) {
	c, err := dial()
	if err != nil {
		return 0, err
	}
	defer c.close()
	if err := c.send(msgGet, unix.NLM_F_REQUEST|unix.NLM_F_DUMP, markAttrs(mark, mask)); err != nil {
		return 0, fmt.Errorf("conntrack: asking for the table: %w", err)
	}
	n := 0
	err = c.each(func([]byte) { n++ })
	return n, err
}

// DeleteMark deletes every IPv4 entry whose mark under mask is mark: one
// request, carried out by the kernel.
func DeleteMark(mark, mask uint32) error {
	c, err := dial()
	if err != nil {
		return err
	}
	defer c.close()
	if err := c.send(msgDelete, unix.NLM_F_REQUEST|unix.NLM_F_ACK, markAttrs(mark, mask)); err != nil {
		return fmt.Errorf("conntrack: deleting entries with mark %#x/%#x: %w", mark, mask, err)
	}
	if err := c.each(func([]byte) {}); err != nil {
		return fmt.Errorf("deleting entries with mark %#x/%#x: %w", mark, mask, err)
	}
	return nil
}
