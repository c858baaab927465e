package nlraw

import (
	"errors"
	"fmt"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// Listener is a netlink socket subscribed to multicast groups. It is kept
// out of Go's poller: the reader decides when to look (Wait for the first
// message, let more gather, Drain them all), so that thousands of
// messages a second cost a few wake-ups rather than one each.
type Listener struct {
	fd  int
	buf []byte

	mu     sync.Mutex // Wake against Close
	wake   int        // an eventfd: Wake ends a Wait early
	closed bool
}

// ErrOverrun is what Drain returns when the kernel dropped messages
// because the socket's receive buffer was full: whatever the messages
// kept count of must be read again from the kernel's tables.
var ErrOverrun = errors.New("netlink: messages were lost (the receive buffer overran)")

// Listen opens a socket of the netlink protocol in the calling thread's
// network namespace, subscribed to groups (numbered from 1, as the
// kernel's NFNLGRP_* are), with a receive buffer of rcvbuf bytes
// (forced above the system's limit, which needs CAP_NET_ADMIN; 0 keeps
// the default).
func Listen(protocol int, rcvbuf int, groups ...int) (*Listener, error) {
	fd, err := unix.Socket(unix.AF_NETLINK, unix.SOCK_RAW|unix.SOCK_CLOEXEC|unix.SOCK_NONBLOCK, protocol)
	if err != nil {
		return nil, fmt.Errorf("opening netlink: %w", err)
	}
	wake, err := unix.Eventfd(0, unix.EFD_CLOEXEC|unix.EFD_NONBLOCK)
	if err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("opening an eventfd: %w", err)
	}
	l := &Listener{fd: fd, wake: wake, buf: make([]byte, bufSize)}
	fail := func(what string, err error) (*Listener, error) {
		l.Close()
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	if err := unix.Bind(fd, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
		return fail("binding netlink", err)
	}
	if rcvbuf > 0 {
		if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, rcvbuf); err != nil {
			if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUF, rcvbuf); err != nil {
				return fail("sizing the netlink receive buffer", err)
			}
		}
	}
	for _, g := range groups {
		if err := unix.SetsockoptInt(fd, unix.SOL_NETLINK, unix.NETLINK_ADD_MEMBERSHIP, g); err != nil {
			return fail(fmt.Sprintf("joining netlink group %d", g), err)
		}
	}
	return l, nil
}

// Wait blocks until messages are waiting (true), Wake is called or
// timeout passes (false); a negative timeout waits for ever.
func (l *Listener) Wait(timeout time.Duration) (bool, error) {
	ms := -1
	if timeout >= 0 {
		ms = int((timeout + time.Millisecond - 1) / time.Millisecond)
	}
	fds := []unix.PollFd{{Fd: int32(l.fd), Events: unix.POLLIN}, {Fd: int32(l.wake), Events: unix.POLLIN}}
	for {
		_, err := unix.Poll(fds, ms)
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil {
			return false, fmt.Errorf("waiting for netlink: %w", err)
		}
		if fds[1].Revents != 0 {
			var b [8]byte
			_, _ = unix.Read(l.wake, b[:])
		}
		return fds[0].Revents != 0, nil
	}
}

// Wake ends a Wait that is under way, or the next one. It is safe to call
// from any goroutine, also after Close (it does nothing then).
func (l *Listener) Wake() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return
	}
	var one [8]byte
	one[0] = 1 // eventfd takes a native-endian uint64; 1 on either end is non-zero
	_, _ = unix.Write(l.wake, one[:])
}

// Drain reads, without waiting, every batch already in the socket and
// calls fn (when not nil) with each message's type, its nfgenmsg family
// and its attributes, which alias the buffer. It returns how many
// messages there were and ErrOverrun when some had been lost.
func (l *Listener) Drain(fn func(msgType uint16, family uint8, attrs []byte)) (int, error) {
	messages, overrun := 0, false
	for {
		n, _, err := unix.Recvfrom(l.fd, l.buf, unix.MSG_DONTWAIT)
		switch {
		case errors.Is(err, unix.EAGAIN):
			if overrun {
				return messages, ErrOverrun
			}
			return messages, nil
		case errors.Is(err, unix.ENOBUFS):
			overrun = true
		case errors.Is(err, unix.EINTR):
		case err != nil:
			return messages, fmt.Errorf("reading netlink: %w", err)
		default:
			err := Messages(l.buf[:n], func(typ, _ uint16, _ uint32, msg []byte) bool {
				if typ >= unix.NLMSG_MIN_TYPE && len(msg) >= 4 {
					messages++
					if fn != nil {
						fn(typ, msg[0], msg[4:])
					}
				}
				return true
			})
			if err != nil {
				return messages, err
			}
		}
	}
}

// Close closes the socket; again, it does nothing. No Wait or Drain may
// be under way.
func (l *Listener) Close() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return nil
	}
	l.closed = true
	unix.Close(l.wake)
	return unix.Close(l.fd)
}
