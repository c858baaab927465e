package dnswatch

import (
	"net/netip"
	"time"
)

// Bounds on the work one DNS response can cause and on what ParsePacket
// returns for it.
const (
	// MaxMessage is the size of the largest DNS message ParsePacket
	// reads, in bytes; a bigger one is an error.
	MaxMessage = 65535
	// MaxRecords is the number of answer records ParsePacket examines;
	// the rest of a longer answer section is ignored.
	MaxRecords = 64
	// MaxChain is the number of CNAME records ParsePacket follows from
	// the question name; names further down a longer chain (or a loop)
	// are not reached.
	MaxChain = 8
	// MaxAddrs is the number of addresses one Answer holds at most; the
	// ones after it are ignored.
	MaxAddrs = 32
)

// Answer is what one DNS response says about IPv4 addresses.
type Answer struct {
	// Question is the name asked, lower-case, without a trailing dot.
	Question string
	// Addrs are the addresses in the order the answer gives them, each
	// once.
	Addrs []Addr
}

// Addr is an IPv4 address the answer gives and the names that lead to it.
type Addr struct {
	Addr netip.Addr
	// TTL is the smallest TTL along the chain: the CNAME records from
	// the question and the A record itself (the smallest of those when
	// the answer gives the address more than once).
	TTL time.Duration
	// Names is the chain from the question to the A record's owner, in
	// order: Names[0] is the question, and each further name is the
	// target of a CNAME record of the one before it. Names are
	// lower-case, without a trailing dot. When the answer gives the
	// address under more than one name of the chain, Names ends at the
	// one nearest the question.
	Names []string
}
