// Package ipv4 holds the address-range arithmetic that policies and
// pathpin's nftables maps share: an inclusive range of IPv4 addresses as
// the prefix it may be.
package ipv4

import (
	"encoding/binary"
	"net/netip"
)

// Last is the last address of an IPv4 prefix.
func Last(p netip.Prefix) netip.Addr {
	a := p.Masked().Addr().As4()
	n := binary.BigEndian.Uint32(a[:]) | uint32(1<<(32-p.Bits())-1)
	var out [4]byte
	binary.BigEndian.PutUint32(out[:], n)
	return netip.AddrFrom4(out)
}

// Prefix is the range from..to (inclusive) as a prefix, when it is one.
func Prefix(from, to netip.Addr) (netip.Prefix, bool) {
	for bits := 0; bits <= 32; bits++ {
		p := netip.PrefixFrom(from, bits).Masked()
		if p.Addr() == from && Last(p) == to {
			return p, true
		}
	}
	return netip.Prefix{}, false
}
