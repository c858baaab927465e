package dnswatch

import (
	"encoding/binary"
	"fmt"
)

const (
	protoTCP = 6
	protoUDP = 17

	dnsPort = 53

	ipv4HeaderMin = 20
	udpHeaderLen  = 8
	tcpHeaderMin  = 20

	ipFlagMore  = 0x2000 // more fragments follow
	ipOffsetMax = 0x1fff // the fragment offset's bits
)

// dnsMessage returns the DNS message that the IPv4 packet pkt carries
// from port 53: a UDP datagram's payload, or a TCP segment whose payload
// is exactly one length-prefixed message. The message is a slice of pkt.
func dnsMessage(pkt []byte) ([]byte, error) {
	if len(pkt) == 0 {
		return nil, fmt.Errorf("%w: empty packet", errPacket)
	}
	switch v := pkt[0] >> 4; v {
	case 4:
	case 6:
		return nil, fmt.Errorf("%w: IPv6 (only IPv4 is read)", errPacket)
	default:
		return nil, fmt.Errorf("%w: IP version %d", errPacket, v)
	}
	if len(pkt) < ipv4HeaderMin {
		return nil, fmt.Errorf("%w: %d bytes, shorter than an IPv4 header", errPacket, len(pkt))
	}
	hlen := int(pkt[0]&0x0f) * 4
	total := int(binary.BigEndian.Uint16(pkt[2:4]))
	switch {
	case hlen < ipv4HeaderMin:
		return nil, fmt.Errorf("%w: IPv4 header length %d", errPacket, hlen)
	case total < hlen || total > len(pkt):
		return nil, fmt.Errorf("%w: IPv4 total length %d with a %d-byte header in %d bytes", errPacket, total, hlen, len(pkt))
	}
	if frag := binary.BigEndian.Uint16(pkt[6:8]); frag&(ipFlagMore|ipOffsetMax) != 0 {
		return nil, fmt.Errorf("%w: an IPv4 fragment", errPacket)
	}
	body := pkt[hlen:total]
	switch pkt[9] {
	case protoUDP:
		return udpMessage(body)
	case protoTCP:
		return tcpMessage(body)
	default:
		return nil, fmt.Errorf("%w: IP protocol %d", errPacket, pkt[9])
	}
}

// udpMessage is the payload of the UDP datagram b.
func udpMessage(b []byte) ([]byte, error) {
	if len(b) < udpHeaderLen {
		return nil, fmt.Errorf("%w: %d bytes, shorter than a UDP header", errPacket, len(b))
	}
	if port := binary.BigEndian.Uint16(b[0:2]); port != dnsPort {
		return nil, fmt.Errorf("%w: UDP from port %d", errPort, port)
	}
	n := int(binary.BigEndian.Uint16(b[4:6]))
	if n < udpHeaderLen || n > len(b) {
		return nil, fmt.Errorf("%w: UDP length %d in %d bytes", errPacket, n, len(b))
	}
	return b[udpHeaderLen:n], nil
}

// tcpMessage is the DNS message that fills the payload of the TCP segment
// b after its two-byte length.
func tcpMessage(b []byte) ([]byte, error) {
	if len(b) < tcpHeaderMin {
		return nil, fmt.Errorf("%w: %d bytes, shorter than a TCP header", errPacket, len(b))
	}
	if port := binary.BigEndian.Uint16(b[0:2]); port != dnsPort {
		return nil, fmt.Errorf("%w: TCP from port %d", errPort, port)
	}
	off := int(b[12]>>4) * 4
	if off < tcpHeaderMin || off > len(b) {
		return nil, fmt.Errorf("%w: TCP data offset %d in %d bytes", errPacket, off, len(b))
	}
	payload := b[off:]
	if len(payload) == 0 {
		return nil, fmt.Errorf("%w: a TCP segment without payload (a handshake or an acknowledgement)", errUncounted)
	}
	if len(payload) < 2 {
		return nil, fmt.Errorf("%w: a TCP segment with %d bytes of payload, not a whole DNS message", errPacket, len(payload))
	}
	n := int(binary.BigEndian.Uint16(payload[:2]))
	if len(payload)-2 != n {
		return nil, fmt.Errorf("%w: a TCP segment with %d bytes after a DNS message length of %d, not exactly one whole message", errPacket, len(payload)-2, n)
	}
	return payload[2:], nil
}
