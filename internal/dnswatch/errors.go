package dnswatch

import "errors"

// The kinds of error ParsePacket returns; each error it returns wraps one
// of them with the details.
var (
	// errPacket: the IP, UDP or TCP framing is not that of a whole
	// IPv4 datagram or segment carrying one DNS message.
	errPacket = errors.New("not a DNS response packet")
	// errPort: a UDP or TCP packet whose source port is not 53.
	errPort = errors.New("not from port 53")
	// errMessage: the DNS message itself is malformed.
	errMessage = errors.New("malformed DNS message")
	// errUncounted: a well-formed DNS message that is not an answer
	// pathpin reads (a query, an error, another class or opcode).
	errUncounted = errors.New("not a DNS answer to read")
)

// Malformed reports whether err, from ParsePacket, says the packet or its
// message is broken, rather than a well-formed packet that is not an
// answer to read (a query, NXDOMAIN, a TCP acknowledgement).
func Malformed(err error) bool {
	return err != nil && !errors.Is(err, errUncounted)
}
