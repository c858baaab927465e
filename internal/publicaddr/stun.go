package publicaddr

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"strconv"
	"syscall"
	"time"

	"github.com/pion/stun/v3"

	"github.com/pathpin/pathpin/internal/health"
)

// The retransmission schedule of RFC 5389, section 7.2.1: a request is
// sent again after RTO, then after twice as long each time, Rc times in
// all; the answer to the last one is awaited Rm times RTO. A context
// that ends first cuts it short.
const (
	stunRTO = 500 * time.Millisecond
	stunRc  = 7
	stunRm  = 16
)

// maxDatagram is the most of an answer read: a larger datagram is cut
// there, and its header's length then no longer matches, so it is
// ignored.
const maxDatagram = 1500

// STUN asks the STUN server at server (host:port, IPv4) for the address
// a Binding request from path arrives from, and returns it. The request
// is sent again on the RFC 5389 schedule until an acceptable answer comes
// or ctx ends; datagrams that are not an answer to it (junk, another
// transaction) are ignored, while an answer to it that is unusable (an
// error response, no IPv4 mapped address) fails at once with
// ErrBadAnswer. A host name is resolved by the system's resolver.
func STUN(ctx context.Context, path health.Path, server string) (netip.Addr, error) {
	to, err := resolveSTUN(ctx, server)
	if err != nil {
		return netip.Addr{}, err
	}
	c, err := path.Dialer("udp4").DialContext(ctx, "udp4", to.String())
	if err != nil {
		return netip.Addr{}, fmt.Errorf("opening a UDP socket to STUN server %s%s: %w (is the uplink up, with that address?)", server, via(path), err)
	}
	defer c.Close()
	req, err := stun.Build(stun.TransactionID, stun.BindingRequest, stun.Fingerprint)
	if err != nil {
		return netip.Addr{}, fmt.Errorf("building a STUN Binding request: %w", err)
	}
	// A context that ends before its deadline (a reload, shutdown) ends
	// the wait at once; the loop sets each read's deadline before it
	// checks ctx, so that this can never be overwritten unnoticed.
	stop := context.AfterFunc(ctx, func() { _ = c.SetReadDeadline(time.Now()) })
	defer stop()
	deadline, hasDeadline := ctx.Deadline()
	expired := func() bool {
		return ctx.Err() != nil || hasDeadline && !time.Now().Before(deadline)
	}
	noAnswer := func(sent int, ignored error) error {
		detail := ""
		if ignored != nil {
			detail = " (ignored " + ignored.Error() + ")"
		}
		requests := "1 Binding request"
		if sent > 1 {
			requests = strconv.Itoa(sent) + " Binding requests"
		}
		err := fmt.Errorf("%w from STUN server %s%s to %s%s: check the server's address, and that the uplink passes UDP to its port %d",
			ErrNoAnswer, server, via(path), requests, detail, to.Port())
		// The read's deadline can pass a moment before the context's
		// timer marks it done.
		if cerr := ctx.Err(); cerr != nil {
			err = fmt.Errorf("%w: %w", err, cerr)
		} else if hasDeadline && !time.Now().Before(deadline) {
			err = fmt.Errorf("%w: %w", err, context.DeadlineExceeded)
		}
		return err
	}
	refused := func(err error) error {
		return fmt.Errorf("%w from STUN server %s%s: nothing listens on its port %d (%w); check the server's address", ErrNoAnswer, server, via(path), to.Port(), err)
	}
	buf := make([]byte, maxDatagram)
	var ignored error // why the last datagram was not an answer
	wait := stunRTO
	for sent := 1; ; sent++ {
		if _, err := c.Write(req.Raw); err != nil {
			if errors.Is(err, syscall.ECONNREFUSED) {
				// The port unreachable that came back for the last request.
				return netip.Addr{}, refused(err)
			}
			return netip.Addr{}, fmt.Errorf("sending a Binding request to STUN server %s%s: %w (has the uplink a route to it?)", server, via(path), err)
		}
		if sent == stunRc {
			wait = stunRm * stunRTO
		}
		until := time.Now().Add(wait)
		for {
			dl := until
			if hasDeadline && deadline.Before(dl) {
				dl = deadline
			}
			_ = c.SetReadDeadline(dl)
			if expired() {
				return netip.Addr{}, noAnswer(sent, ignored)
			}
			n, err := c.Read(buf)
			if errors.Is(err, os.ErrDeadlineExceeded) {
				break
			}
			if err != nil {
				if expired() {
					return netip.Addr{}, noAnswer(sent, ignored)
				}
				if errors.Is(err, syscall.ECONNREFUSED) {
					return netip.Addr{}, refused(err)
				}
				return netip.Addr{}, fmt.Errorf("reading the answer of STUN server %s%s: %w", server, via(path), err)
			}
			addr, answered, err := parseBinding(buf[:n], req.TransactionID)
			if !answered {
				ignored = err
				continue
			}
			if err != nil {
				return netip.Addr{}, fmt.Errorf("STUN server %s%s: %w; configure another server", server, via(path), err)
			}
			return addr, nil
		}
		if sent == stunRc || expired() {
			return netip.Addr{}, noAnswer(sent, ignored)
		}
		wait *= 2
	}
}

// resolveSTUN turns host:port into one IPv4 address and port.
func resolveSTUN(ctx context.Context, server string) (netip.AddrPort, error) {
	host, port, err := splitSTUN(server)
	if err != nil {
		return netip.AddrPort{}, err
	}
	if a, err := netip.ParseAddr(host); err == nil {
		return netip.AddrPortFrom(a, port), nil
	}
	addrs, err := net.DefaultResolver.LookupNetIP(ctx, "ip4", host)
	if err != nil {
		return netip.AddrPort{}, fmt.Errorf("resolving STUN server %s: %w (check the name, or give an IPv4 address)", host, err)
	}
	if len(addrs) == 0 {
		return netip.AddrPort{}, fmt.Errorf("resolving STUN server %s: no IPv4 address (give one that has one)", host)
	}
	return netip.AddrPortFrom(addrs[0].Unmap(), port), nil
}

// splitSTUN checks a STUN server's host:port without resolving it.
func splitSTUN(server string) (string, uint16, error) {
	host, portText, err := net.SplitHostPort(server)
	if err != nil {
		return "", 0, fmt.Errorf("STUN server %q: %w (want host:port, e.g. stun.example.net:3478)", server, err)
	}
	port, err := strconv.ParseUint(portText, 10, 16)
	if err != nil || port == 0 || host == "" {
		return "", 0, fmt.Errorf("STUN server %q: want host:port with a port from 1 to 65535, e.g. stun.example.net:3478", server)
	}
	if a, err := netip.ParseAddr(host); err == nil && !a.Is4() {
		return "", 0, fmt.Errorf("STUN server %q: %s is not an IPv4 address; an uplink's public IPv4 address is only seen over IPv4", server, host)
	}
	return host, uint16(port), nil
}

// parseBinding checks one datagram against the Binding request with
// transaction tid. answered is false for a datagram that is no answer to
// that request (err says what it was); an answer is either an acceptable
// address or an error wrapping ErrBadAnswer.
func parseBinding(b []byte, tid [stun.TransactionIDSize]byte) (addr netip.Addr, answered bool, err error) {
	// A STUN message starts with two zero bits and the magic cookie.
	if !stun.IsMessage(b) || b[0]&0xc0 != 0 {
		return netip.Addr{}, false, fmt.Errorf("a datagram of %d bytes that is no STUN message", len(b))
	}
	m := stun.New()
	m.Raw = append(m.Raw[:0], b...)
	if err := m.Decode(); err != nil {
		return netip.Addr{}, false, fmt.Errorf("a malformed STUN message: %w", err)
	}
	if int(m.Length)+20 != len(b) {
		return netip.Addr{}, false, fmt.Errorf("a STUN message of %d bytes whose header says %d", len(b), int(m.Length)+20)
	}
	if m.TransactionID != tid {
		return netip.Addr{}, false, errors.New("a STUN message with another transaction ID")
	}
	if m.Contains(stun.AttrFingerprint) {
		if err := stun.Fingerprint.Check(m); err != nil {
			return netip.Addr{}, false, fmt.Errorf("a STUN message whose FINGERPRINT does not match: %w", err)
		}
	}
	switch m.Type {
	case stun.BindingSuccess:
	case stun.BindingError:
		var code stun.ErrorCodeAttribute
		if err := code.GetFrom(m); err != nil {
			return netip.Addr{}, true, fmt.Errorf("%w: a Binding error response", ErrBadAnswer)
		}
		return netip.Addr{}, true, fmt.Errorf("%w: a Binding error response, %d %s", ErrBadAnswer, int(code.Code), quote(code.Reason))
	default:
		return netip.Addr{}, false, fmt.Errorf("a STUN %s, not a Binding response", m.Type)
	}
	addr, err = mappedAddr(m, stun.AttrXORMappedAddress)
	if errors.Is(err, stun.ErrAttributeNotFound) {
		// A server of RFC 3489's time answers MAPPED-ADDRESS only.
		addr, err = mappedAddr(m, stun.AttrMappedAddress)
	}
	if errors.Is(err, stun.ErrAttributeNotFound) {
		return netip.Addr{}, true, fmt.Errorf("%w: a Binding response with neither XOR-MAPPED-ADDRESS nor MAPPED-ADDRESS", ErrBadAnswer)
	}
	if err != nil {
		return netip.Addr{}, true, fmt.Errorf("%w: %w", ErrBadAnswer, err)
	}
	if err := checkAddr(addr); err != nil {
		return netip.Addr{}, true, fmt.Errorf("%w: the mapped address %w", ErrBadAnswer, err)
	}
	return addr, true, nil
}

// mappedAddr reads an (XOR-)MAPPED-ADDRESS attribute that must hold an
// IPv4 address: 8 bytes, family 1.
func mappedAddr(m *stun.Message, t stun.AttrType) (netip.Addr, error) {
	v, err := m.Get(t)
	if err != nil {
		return netip.Addr{}, err
	}
	if len(v) >= 2 && binary.BigEndian.Uint16(v) == 2 {
		return netip.Addr{}, fmt.Errorf("%s holds an IPv6 address; an IPv4 one is wanted", t)
	}
	if len(v) != 8 || binary.BigEndian.Uint16(v) != 1 {
		return netip.Addr{}, fmt.Errorf("%s of %d bytes is no IPv4 address", t, len(v))
	}
	var ip net.IP
	if t == stun.AttrXORMappedAddress {
		var a stun.XORMappedAddress
		err = a.GetFrom(m)
		ip = a.IP
	} else {
		var a stun.MappedAddress
		err = a.GetFrom(m)
		ip = a.IP
	}
	if err != nil {
		return netip.Addr{}, fmt.Errorf("decoding %s: %w", t, err)
	}
	a, ok := netip.AddrFromSlice(ip)
	if !ok {
		return netip.Addr{}, fmt.Errorf("%s holds no address", t)
	}
	return a.Unmap(), nil
}
