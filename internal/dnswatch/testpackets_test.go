package dnswatch

import (
	"encoding/binary"
	"net/netip"
	"testing"

	"golang.org/x/net/dns/dnsmessage"
)

// The addresses of the test packets: a resolver answering a client.
var (
	resolverAddr = netip.MustParseAddrPort("192.0.2.53:53")
	clientAddr   = netip.MustParseAddrPort("192.0.2.10:40000")
)

// ipv4Packet is an IPv4 packet from src to dst carrying the transport
// segment l4 of protocol proto, with correct checksums.
func ipv4Packet(proto byte, src, dst netip.Addr, l4 []byte) []byte {
	pkt := make([]byte, 20, 20+len(l4))
	pkt[0] = 0x45
	binary.BigEndian.PutUint16(pkt[2:4], uint16(20+len(l4)))
	binary.BigEndian.PutUint16(pkt[4:6], 0x1234)
	pkt[6] = 0x40 // don't fragment
	pkt[8] = 64
	pkt[9] = proto
	s, d := src.As4(), dst.As4()
	copy(pkt[12:16], s[:])
	copy(pkt[16:20], d[:])
	binary.BigEndian.PutUint16(pkt[10:12], checksum(0, pkt))
	pkt = append(pkt, l4...)
	// The transport checksum covers the pseudo-header and the segment.
	var pseudo [12]byte
	copy(pseudo[0:4], s[:])
	copy(pseudo[4:8], d[:])
	pseudo[9] = proto
	binary.BigEndian.PutUint16(pseudo[10:12], uint16(len(l4)))
	at := 20 + 6 // UDP
	if proto == protoTCP {
		at = 20 + 16
	}
	sum := checksum(sum16(0, pseudo[:]), pkt[20:])
	if proto == protoUDP && sum == 0 {
		sum = 0xffff
	}
	binary.BigEndian.PutUint16(pkt[at:at+2], sum)
	return pkt
}

func sum16(sum uint32, b []byte) uint32 {
	for len(b) >= 2 {
		sum += uint32(binary.BigEndian.Uint16(b))
		b = b[2:]
	}
	if len(b) == 1 {
		sum += uint32(b[0]) << 8
	}
	return sum
}

func checksum(sum uint32, b []byte) uint16 {
	sum = sum16(sum, b)
	for sum > 0xffff {
		sum = sum>>16 + sum&0xffff
	}
	return ^uint16(sum)
}

// udpPacket is an IPv4 UDP datagram from src to dst.
func udpPacket(src, dst netip.AddrPort, payload []byte) []byte {
	l4 := make([]byte, 8, 8+len(payload))
	binary.BigEndian.PutUint16(l4[0:2], src.Port())
	binary.BigEndian.PutUint16(l4[2:4], dst.Port())
	binary.BigEndian.PutUint16(l4[4:6], uint16(8+len(payload)))
	return ipv4Packet(protoUDP, src.Addr(), dst.Addr(), append(l4, payload...))
}

// tcpPacket is an IPv4 TCP segment (PSH, ACK) from src to dst.
func tcpPacket(src, dst netip.AddrPort, payload []byte) []byte {
	l4 := make([]byte, 20, 20+len(payload))
	binary.BigEndian.PutUint16(l4[0:2], src.Port())
	binary.BigEndian.PutUint16(l4[2:4], dst.Port())
	binary.BigEndian.PutUint32(l4[4:8], 1)
	binary.BigEndian.PutUint32(l4[8:12], 1)
	l4[12] = 5 << 4
	l4[13] = 0x18
	binary.BigEndian.PutUint16(l4[14:16], 65535)
	return ipv4Packet(protoTCP, src.Addr(), dst.Addr(), append(l4, payload...))
}

// withLength is msg with the two-byte length DNS over TCP puts before it.
func withLength(msg []byte) []byte {
	return append(binary.BigEndian.AppendUint16(nil, uint16(len(msg))), msg...)
}

// rr is a test resource record: an A record when a is set, a CNAME
// record when cname is, otherwise a TXT record.
type rr struct {
	name  string
	ttl   uint32
	a     string
	cname string
}

// msgSpec describes a test DNS message.
type msgSpec struct {
	query     bool                            // a query rather than a response
	rcode     dnsmessage.RCode                // RCodeSuccess unless set
	questions []string                        // one question of type A, class IN, each
	qclass    dnsmessage.Class                // ClassINET unless set
	answers   []rr                            // the answer section
	extra     []rr                            // the additional section
	build     func(*dnsmessage.Builder) error // appends to the answer section after answers
}

// dnsMsg builds the message s describes.
func dnsMsg(t testing.TB, s msgSpec) []byte {
	t.Helper()
	b := dnsmessage.NewBuilder(nil, dnsmessage.Header{ID: 0x4242, Response: !s.query, RecursionDesired: true, RecursionAvailable: !s.query, RCode: s.rcode})
	b.EnableCompression()
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	class := s.qclass
	if class == 0 {
		class = dnsmessage.ClassINET
	}
	must(b.StartQuestions())
	for _, q := range s.questions {
		must(b.Question(dnsmessage.Question{Name: dnsName(t, q), Type: dnsmessage.TypeA, Class: class}))
	}
	must(b.StartAnswers())
	for _, r := range s.answers {
		must(addRR(t, &b, r))
	}
	if s.build != nil {
		must(s.build(&b))
	}
	must(b.StartAdditionals())
	for _, r := range s.extra {
		must(addRR(t, &b, r))
	}
	msg, err := b.Finish()
	must(err)
	return msg
}

func addRR(t testing.TB, b *dnsmessage.Builder, r rr) error {
	t.Helper()
	h := dnsmessage.ResourceHeader{Name: dnsName(t, r.name), Class: dnsmessage.ClassINET, TTL: r.ttl}
	switch {
	case r.a != "":
		return b.AResource(h, dnsmessage.AResource{A: netip.MustParseAddr(r.a).As4()})
	case r.cname != "":
		return b.CNAMEResource(h, dnsmessage.CNAMEResource{CNAME: dnsName(t, r.cname)})
	default:
		return b.TXTResource(h, dnsmessage.TXTResource{TXT: []string{"v=test"}})
	}
}

func dnsName(t testing.TB, s string) dnsmessage.Name {
	t.Helper()
	if s == "" || s[len(s)-1] != '.' {
		s += "."
	}
	n, err := dnsmessage.NewName(s)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// response is a NOERROR response to one question, as a UDP packet.
func response(t testing.TB, question string, answers ...rr) []byte {
	t.Helper()
	return udpPacket(resolverAddr, clientAddr, dnsMsg(t, msgSpec{questions: []string{question}, answers: answers}))
}
