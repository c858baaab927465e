// Package publicaddr finds an uplink's public IPv4 address through that
// uplink: the address its traffic has once past the NAT of the ISP's box
// or of the ISP itself, as a server on the Internet sees it. It asks a
// STUN server (one Binding request, RFC 5389) or an HTTP echo (a GET
// answered with the caller's address as plain text, like api.ipify.org),
// from a socket bound as a health.Path says: the uplink's device, its
// source address and its mark.
//
// Every answer is untrusted input: it is read into a bounded buffer,
// checked strictly, and rejected with an error that says why.
package publicaddr

import (
	"errors"
	"fmt"
	"net/netip"
	"strconv"

	"github.com/pathpin/pathpin/internal/health"
)

var (
	// ErrNoAnswer is wrapped by the errors of a query that got no
	// acceptable answer in time: the server is down, unreachable through
	// the uplink, or only junk came back.
	ErrNoAnswer = errors.New("no answer")
	// ErrBadAnswer is wrapped by the errors of a query whose server
	// answered, but not with a usable public IPv4 address.
	ErrBadAnswer = errors.New("answer rejected")
)

var broadcast = netip.AddrFrom4([4]byte{255, 255, 255, 255})

// checkAddr accepts an IPv4 unicast address that can be seen from
// outside the host. Private and shared (100.64.0.0/10) addresses are
// accepted: a server inside the ISP's network sees one.
func checkAddr(a netip.Addr) error {
	switch {
	case !a.Is4():
		return fmt.Errorf("%s is not an IPv4 address", a)
	case a.IsUnspecified():
		return fmt.Errorf("%s is the unspecified address", a)
	case a.IsLoopback():
		return fmt.Errorf("%s is a loopback address", a)
	case a.IsMulticast():
		return fmt.Errorf("%s is a multicast address", a)
	case a.IsLinkLocalUnicast():
		return fmt.Errorf("%s is a link-local address", a)
	case a == broadcast:
		return fmt.Errorf("%s is the broadcast address", a)
	}
	return nil
}

// via names the path in errors: " via wan0 from 192.0.2.1".
func via(p health.Path) string {
	s := ""
	if p.Device != "" {
		s += " via " + p.Device
	}
	if p.Source.IsValid() {
		s += " from " + p.Source.String()
	}
	return s
}

// quote shows untrusted text in an error: quoted, at most 64 bytes of it.
func quote(b []byte) string {
	if len(b) > 64 {
		return strconv.Quote(string(b[:64])) + "..."
	}
	return strconv.Quote(string(b))
}
