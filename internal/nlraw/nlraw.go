// Package nlraw sends netfilter netlink requests and reads their replies
// through one fixed buffer: a dump of any size costs pathpin one read per
// kernel batch and no allocation per message. internal/conntrack counts
// conntrack entries with it, internal/nft reads pathpin's table.
package nlraw

import (
	"encoding/binary"
	"errors"
	"fmt"
	"os"

	"golang.org/x/sys/unix"
)

// bufSize is the receive buffer: the kernel fills each dump batch up to
// the size the reader offers (32 KiB at most).
const bufSize = 64 << 10

// Conn is one netlink socket and its receive buffer. It is not safe for
// concurrent use.
type Conn struct {
	fd  int
	seq uint32
	buf []byte
}

// Dial opens a socket of the netlink protocol (unix.NETLINK_NETFILTER) in
// the calling thread's network namespace.
func Dial(protocol int) (*Conn, error) {
	fd, err := unix.Socket(unix.AF_NETLINK, unix.SOCK_RAW|unix.SOCK_CLOEXEC, protocol)
	if err != nil {
		return nil, fmt.Errorf("opening netlink: %w", err)
	}
	if err := unix.Bind(fd, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("binding netlink: %w", err)
	}
	return &Conn{fd: fd, seq: uint32(os.Getpid()) << 8, buf: make([]byte, bufSize)}, nil
}

// Close closes the socket.
func (c *Conn) Close() error { return unix.Close(c.fd) }

// Send sends one netfilter request: the netlink header, the nfgenmsg
// header for family, then attrs (already encoded).
func (c *Conn) Send(msgType, flags uint16, family uint8, attrs []byte) error {
	c.seq++
	n := unix.SizeofNlMsghdr + 4 + len(attrs)
	b := make([]byte, n)
	binary.NativeEndian.PutUint32(b[0:], uint32(n))
	binary.NativeEndian.PutUint16(b[4:], msgType)
	binary.NativeEndian.PutUint16(b[6:], flags|unix.NLM_F_REQUEST)
	binary.NativeEndian.PutUint32(b[8:], c.seq)
	b[16], b[17] = family, unix.NFNETLINK_V0
	copy(b[20:], attrs)
	return unix.Sendto(c.fd, b, 0, &unix.SockaddrNetlink{Family: unix.AF_NETLINK})
}

// Each reads the replies to the last request and calls fn with each
// message's type and its attributes (after the nfgenmsg header), until the dump is done, the ack arrives, or a reply without
// either flag (a plain answer) has been read. The attributes alias the
// buffer: fn must copy what it keeps.
func (c *Conn) Each(fn func(msgType uint16, attrs []byte)) error {
	for {
		n, err := unix.Read(c.fd, c.buf)
		if err != nil {
			if errors.Is(err, unix.EINTR) {
				continue
			}
			return fmt.Errorf("reading netlink: %w", err)
		}
		multi, done, err := c.walk(c.buf[:n], fn)
		if done || err != nil {
			return err
		}
		if !multi {
			return nil
		}
	}
}

// walk calls fn for each reply to the last request in b. done is true
// when the dump's end, the ack or an error was among them; multi when a
// reply says more follow.
func (c *Conn) walk(b []byte, fn func(msgType uint16, attrs []byte)) (multi, done bool, err error) {
	err = Messages(b, func(typ, flags uint16, seq uint32, msg []byte) bool {
		if seq != c.seq {
			return true
		}
		switch typ {
		case unix.NLMSG_DONE:
			done = true
			return false
		case unix.NLMSG_ERROR:
			done = true
			if len(msg) < 4 {
				err = errors.New("a short netlink error")
			} else if code := int32(binary.NativeEndian.Uint32(msg)); code != 0 {
				err = unix.Errno(-code)
			}
			return false // an error, or the ack
		}
		multi = multi || flags&unix.NLM_F_MULTI != 0
		if len(msg) >= 4 {
			fn(typ, msg[4:])
		}
		return true
	})
	return multi, done || err != nil, err
}

// Messages calls fn with each netlink message in b: its type, flags,
// sequence number and the payload after the netlink header, until fn
// returns false.
func Messages(b []byte, fn func(msgType, flags uint16, seq uint32, payload []byte) bool) error {
	for len(b) >= unix.SizeofNlMsghdr {
		l := int(binary.NativeEndian.Uint32(b[0:]))
		if l < unix.SizeofNlMsghdr || l > len(b) {
			return errors.New("a malformed netlink message")
		}
		typ := binary.NativeEndian.Uint16(b[4:])
		flags := binary.NativeEndian.Uint16(b[6:])
		seq := binary.NativeEndian.Uint32(b[8:])
		if !fn(typ, flags, seq, b[unix.SizeofNlMsghdr:l]) {
			return nil
		}
		b = b[min(Align(l), len(b)):]
	}
	return nil
}

// Align rounds n up to netlink's 4-byte alignment.
func Align(n int) int { return (n + unix.NLA_ALIGNTO - 1) &^ (unix.NLA_ALIGNTO - 1) }

// Attr appends one attribute of type typ with data to b, padded.
func Attr(b []byte, typ uint16, data []byte) []byte {
	l := 4 + len(data)
	b = binary.NativeEndian.AppendUint16(b, uint16(l))
	b = binary.NativeEndian.AppendUint16(b, typ)
	b = append(b, data...)
	for i := l; i < Align(l); i++ {
		b = append(b, 0)
	}
	return b
}
