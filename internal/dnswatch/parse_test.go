package dnswatch

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"golang.org/x/net/dns/dnsmessage"
)

// brief writes each address of an answer as "addr ttl name>name>...".
func brief(addrs []Addr) []string {
	out := []string{}
	for _, a := range addrs {
		out = append(out, fmt.Sprintf("%s %s %s", a.Addr, a.TTL, strings.Join(a.Names, ">")))
	}
	return out
}

func TestParsePacket(t *testing.T) {
	udp := func(s msgSpec) []byte { return udpPacket(resolverAddr, clientAddr, dnsMsg(t, s)) }
	one := func(q string, answers ...rr) msgSpec { return msgSpec{questions: []string{q}, answers: answers} }
	chainAnswer := one("www.chain.example",
		rr{name: "www.chain.example", ttl: 300, cname: "edge.chain.example"},
		rr{name: "edge.chain.example", ttl: 60, cname: "host.cdn.example"},
		rr{name: "host.cdn.example", ttl: 120, a: "198.51.100.7"})
	var longChain []rr
	for i := range MaxChain + 1 {
		longChain = append(longChain, rr{name: fmt.Sprintf("n%d.example", i), ttl: 100, cname: fmt.Sprintf("n%d.example", i+1)})
	}
	longChain = append(longChain,
		rr{name: fmt.Sprintf("n%d.example", MaxChain), ttl: 100, a: "203.0.113.8"},   // 8 CNAMEs away: reached
		rr{name: fmt.Sprintf("n%d.example", MaxChain+1), ttl: 100, a: "203.0.113.9"}, // 9 away: not
	)
	var many []rr
	for i := range 40 {
		many = append(many, rr{name: "many.example", ttl: 60, a: fmt.Sprintf("10.0.0.%d", i+1)})
	}
	var manyWant []string
	for i := range MaxAddrs {
		manyWant = append(manyWant, fmt.Sprintf("10.0.0.%d 1m0s many.example", i+1))
	}
	// fill is n records that are not A records, before the ones that matter.
	fill := func(n int, rest ...rr) []rr {
		var out []rr
		for range n {
			out = append(out, rr{name: "big.example", ttl: 60})
		}
		return append(out, rest...)
	}
	wholeMsg := dnsMsg(t, one("stream.example", rr{name: "stream.example", ttl: 30, a: "192.0.2.80"}))
	truncated := dnsMsg(t, chainAnswer)
	truncated = truncated[:len(truncated)-3]

	for _, tt := range []struct {
		name     string
		pkt      []byte
		wantErr  error
		question string
		want     []string
	}{
		{name: "A records", pkt: udp(one("stream.example",
			rr{name: "stream.example", ttl: 300, a: "192.0.2.10"},
			rr{name: "stream.example", ttl: 200, a: "192.0.2.11"},
			rr{name: "stream.example", ttl: 300, a: "192.0.2.12"})),
			question: "stream.example",
			want:     []string{"192.0.2.10 5m0s stream.example", "192.0.2.11 3m20s stream.example", "192.0.2.12 5m0s stream.example"}},
		{name: "CNAME chain", pkt: udp(chainAnswer), question: "www.chain.example",
			want: []string{"198.51.100.7 1m0s www.chain.example>edge.chain.example>host.cdn.example"}},
		{name: "CNAME chain in any order", pkt: udp(one("www.chain.example",
			rr{name: "host.cdn.example", ttl: 120, a: "198.51.100.7"},
			rr{name: "edge.chain.example", ttl: 60, cname: "host.cdn.example"},
			rr{name: "www.chain.example", ttl: 300, cname: "edge.chain.example"})),
			question: "www.chain.example",
			want:     []string{"198.51.100.7 1m0s www.chain.example>edge.chain.example>host.cdn.example"}},
		{name: "TTL: the A record's is smallest", pkt: udp(one("a.example",
			rr{name: "a.example", ttl: 300, cname: "b.example"},
			rr{name: "b.example", ttl: 200, cname: "c.example"},
			rr{name: "c.example", ttl: 5, a: "192.0.2.1"})),
			question: "a.example", want: []string{"192.0.2.1 5s a.example>b.example>c.example"}},
		{name: "TTL: the first CNAME's is smallest", pkt: udp(one("a.example",
			rr{name: "a.example", ttl: 7, cname: "b.example"},
			rr{name: "b.example", ttl: 200, cname: "c.example"},
			rr{name: "c.example", ttl: 300, a: "192.0.2.1"},
			rr{name: "b.example", ttl: 300, a: "192.0.2.2"})),
			question: "a.example", want: []string{"192.0.2.1 7s a.example>b.example>c.example", "192.0.2.2 7s a.example>b.example"}},
		{name: "CNAME loop", pkt: udp(one("a.example",
			rr{name: "a.example", ttl: 60, cname: "b.example"},
			rr{name: "b.example", ttl: 60, cname: "a.example"},
			rr{name: "b.example", ttl: 60, a: "192.0.2.2"})),
			question: "a.example", want: []string{"192.0.2.2 1m0s a.example>b.example"}},
		{name: "CNAME to itself", pkt: udp(one("a.example",
			rr{name: "a.example", ttl: 60, cname: "a.example"},
			rr{name: "a.example", ttl: 60, a: "192.0.2.2"})),
			question: "a.example", want: []string{"192.0.2.2 1m0s a.example"}},
		{name: "chain longer than MaxChain", pkt: udp(one("n0.example", longChain...)), question: "n0.example",
			want: []string{"203.0.113.8 1m40s n0.example>n1.example>n2.example>n3.example>n4.example>n5.example>n6.example>n7.example>n8.example"}},
		{name: "unrelated names ignored", pkt: udp(one("stream.example",
			rr{name: "stream.example", ttl: 60, a: "192.0.2.10"},
			rr{name: "bank.example", ttl: 60, a: "203.0.113.66"},
			rr{name: "other.example", ttl: 60, cname: "victim.example"},
			rr{name: "victim.example", ttl: 60, a: "203.0.113.67"},
			rr{name: "x.stream.example", ttl: 60, a: "203.0.113.68"})),
			question: "stream.example", want: []string{"192.0.2.10 1m0s stream.example"}},
		{name: "additional section not read", pkt: udp(msgSpec{questions: []string{"stream.example"},
			answers: []rr{{name: "stream.example", ttl: 60, a: "192.0.2.10"}},
			extra:   []rr{{name: "stream.example", ttl: 60, a: "203.0.113.66"}}}),
			question: "stream.example", want: []string{"192.0.2.10 1m0s stream.example"}},
		{name: "mixed case", pkt: udp(one("StReAm.EXAMPLE.",
			rr{name: "stream.Example", ttl: 60, cname: "Edge.CDN.example"},
			rr{name: "EDGE.cdn.EXAMPLE", ttl: 60, a: "192.0.2.20"})),
			question: "stream.example", want: []string{"192.0.2.20 1m0s stream.example>edge.cdn.example"}},
		{name: "other record types skipped", pkt: udp(one("stream.example",
			rr{name: "stream.example", ttl: 60},
			rr{name: "stream.example", ttl: 60, cname: "edge.example"},
			rr{name: "edge.example", ttl: 60},
			rr{name: "edge.example", ttl: 60, a: "192.0.2.30"})),
			question: "stream.example", want: []string{"192.0.2.30 1m0s stream.example>edge.example"}},
		{name: "no address records", pkt: udp(one("stream.example", rr{name: "stream.example", ttl: 60})),
			question: "stream.example", want: []string{}},
		{name: "duplicate address: smallest TTL, nearest name", pkt: udp(one("a.example",
			rr{name: "a.example", ttl: 300, cname: "b.example"},
			rr{name: "b.example", ttl: 300, a: "192.0.2.1"},
			rr{name: "a.example", ttl: 100, a: "192.0.2.1"},
			rr{name: "b.example", ttl: 20, a: "192.0.2.1"})),
			question: "a.example", want: []string{"192.0.2.1 20s a.example"}},
		{name: "more than MaxAddrs addresses", pkt: udp(one("many.example", many...)), question: "many.example", want: manyWant},
		{name: "A record as the 64th answer record", pkt: udp(one("big.example", fill(MaxRecords-1, rr{name: "big.example", ttl: 60, a: "192.0.2.64"})...)),
			question: "big.example", want: []string{"192.0.2.64 1m0s big.example"}},
		{name: "A record past the 64th answer record", pkt: udp(one("big.example", fill(MaxRecords, rr{name: "big.example", ttl: 60, a: "192.0.2.65"})...)),
			question: "big.example", want: []string{}},
		{name: "CNAME past the 64th answer record", pkt: udp(one("big.example", fill(MaxRecords-1,
			rr{name: "big.example", ttl: 60, a: "192.0.2.64"},
			rr{name: "big.example", ttl: 60, cname: "far.example"},
			rr{name: "far.example", ttl: 60, a: "192.0.2.66"})...)),
			question: "big.example", want: []string{"192.0.2.64 1m0s big.example"}},
		{name: "TCP with one whole message", pkt: tcpPacket(resolverAddr, clientAddr, withLength(wholeMsg)),
			question: "stream.example", want: []string{"192.0.2.80 30s stream.example"}},
		{name: "IPv4 options", pkt: withIPOptions(udpPacket(resolverAddr, clientAddr, wholeMsg)),
			question: "stream.example", want: []string{"192.0.2.80 30s stream.example"}},

		{name: "TCP with part of a message", pkt: tcpPacket(resolverAddr, clientAddr, withLength(wholeMsg)[:20]), wantErr: errPacket},
		{name: "TCP with the rest of a message", pkt: tcpPacket(resolverAddr, clientAddr, wholeMsg[10:]), wantErr: errPacket},
		{name: "TCP with two messages", pkt: tcpPacket(resolverAddr, clientAddr, append(withLength(wholeMsg), withLength(wholeMsg)...)), wantErr: errPacket},
		{name: "TCP without payload", pkt: tcpPacket(resolverAddr, clientAddr, nil), wantErr: errUncounted},
		{name: "TCP from another port", pkt: tcpPacket(netip.AddrPortFrom(resolverAddr.Addr(), 853), clientAddr, withLength(wholeMsg)), wantErr: errPort},
		{name: "UDP from another port", pkt: udpPacket(netip.AddrPortFrom(resolverAddr.Addr(), 5353), clientAddr, wholeMsg), wantErr: errPort},
		{name: "UDP to port 53 (a query's way)", pkt: udpPacket(clientAddr, resolverAddr, wholeMsg), wantErr: errPort},
		{name: "truncated message", pkt: udpPacket(resolverAddr, clientAddr, truncated), wantErr: errMessage},
		{name: "header only", pkt: udpPacket(resolverAddr, clientAddr, wholeMsg[:12]), wantErr: errMessage},
		{name: "shorter than a DNS header", pkt: udpPacket(resolverAddr, clientAddr, wholeMsg[:11]), wantErr: errMessage},
		{name: "empty", pkt: nil, wantErr: errPacket},
		{name: "truncated IP header", pkt: udpPacket(resolverAddr, clientAddr, wholeMsg)[:19], wantErr: errPacket},
		{name: "truncated UDP header", pkt: cutIP(udpPacket(resolverAddr, clientAddr, wholeMsg), 20+7), wantErr: errPacket},
		{name: "truncated TCP header", pkt: cutIP(tcpPacket(resolverAddr, clientAddr, withLength(wholeMsg)), 20+19), wantErr: errPacket},
		{name: "IP total length past the buffer", pkt: udpPacket(resolverAddr, clientAddr, wholeMsg)[:60], wantErr: errPacket},
		{name: "UDP length past the IP packet", pkt: setUDPLength(udpPacket(resolverAddr, clientAddr, wholeMsg), uint16(8+len(wholeMsg)+1)), wantErr: errPacket},
		{name: "UDP length shorter than its header", pkt: setUDPLength(udpPacket(resolverAddr, clientAddr, wholeMsg), 7), wantErr: errPacket},
		{name: "IP header length 4 words", pkt: setByte(udpPacket(resolverAddr, clientAddr, wholeMsg), 0, 0x44), wantErr: errPacket},
		{name: "IP header length past the packet", pkt: setByte(udpPacket(resolverAddr, clientAddr, nil)[:28], 0, 0x4f), wantErr: errPacket},
		{name: "non-first fragment", pkt: setByte(udpPacket(resolverAddr, clientAddr, wholeMsg), 7, 0x10), wantErr: errPacket},
		{name: "first fragment", pkt: setByte(udpPacket(resolverAddr, clientAddr, wholeMsg), 6, 0x20), wantErr: errPacket},
		{name: "another IP protocol", pkt: setByte(udpPacket(resolverAddr, clientAddr, wholeMsg), 9, 1), wantErr: errPacket},
		{name: "IPv6", pkt: ipv6Packet(wholeMsg), wantErr: errPacket},
		{name: "NXDOMAIN", pkt: udp(msgSpec{rcode: dnsmessage.RCodeNameError, questions: []string{"nx.example"}}), wantErr: errUncounted},
		{name: "SERVFAIL", pkt: udp(msgSpec{rcode: dnsmessage.RCodeServerFailure, questions: []string{"stream.example"}}), wantErr: errUncounted},
		{name: "query", pkt: udpPacket(resolverAddr, clientAddr, dnsMsg(t, msgSpec{query: true, questions: []string{"stream.example"}})), wantErr: errUncounted},
		{name: "no question", pkt: udp(msgSpec{answers: []rr{{name: "stream.example", ttl: 60, a: "192.0.2.10"}}}), wantErr: errUncounted},
		{name: "two questions", pkt: udp(msgSpec{questions: []string{"stream.example", "other.example"},
			answers: []rr{{name: "stream.example", ttl: 60, a: "192.0.2.10"}}}), wantErr: errUncounted},
		{name: "class CHAOS", pkt: udp(msgSpec{qclass: dnsmessage.ClassCHAOS, questions: []string{"stream.example"},
			answers: []rr{{name: "stream.example", ttl: 60, a: "192.0.2.10"}}}), wantErr: errUncounted},
		{name: "A record of 3 bytes", pkt: udp(msgSpec{questions: []string{"stream.example"}, build: func(b *dnsmessage.Builder) error {
			return b.UnknownResource(dnsmessage.ResourceHeader{Name: dnsmessage.MustNewName("stream.example."), Type: dnsmessage.TypeA, Class: dnsmessage.ClassINET, TTL: 60},
				dnsmessage.UnknownResource{Type: dnsmessage.TypeA, Data: []byte{192, 0, 2}})
		}}), wantErr: errMessage},
	} {
		t.Run(tt.name, func(t *testing.T) {
			orig := slices.Clone(tt.pkt)
			got, err := ParsePacket(tt.pkt)
			if !slices.Equal(orig, tt.pkt) {
				t.Fatal("ParsePacket changed the packet")
			}
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("got %+v, %v; want an error of kind %q", got, err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got.Question != tt.question {
				t.Errorf("question %q, want %q", got.Question, tt.question)
			}
			if b := brief(got.Addrs); !slices.Equal(b, tt.want) {
				t.Errorf("addresses:\n got %q\nwant %q", b, tt.want)
			}
		})
	}
}

// TestParseMessageTooBig: a message over MaxMessage is refused before it
// is read (no IPv4 packet can carry one; DNS over TCP's length cannot
// say more).
func TestParseMessageTooBig(t *testing.T) {
	msg := dnsMsg(t, msgSpec{questions: []string{"stream.example"}, answers: []rr{{name: "stream.example", ttl: 60, a: "192.0.2.10"}}})
	if _, err := parseMessage(msg); err != nil {
		t.Fatal(err)
	}
	big := append(msg, make([]byte, MaxMessage+1-len(msg))...)
	if _, err := parseMessage(big); !errors.Is(err, errMessage) {
		t.Fatalf("a %d-byte message: %v", len(big), err)
	}
}

// TestAddrNamesDoNotShare: a caller appending to one address's Names
// must not change another's.
func TestAddrNamesDoNotShare(t *testing.T) {
	a, err := ParsePacket(response(t, "a.example",
		rr{name: "a.example", ttl: 60, cname: "b.example"},
		rr{name: "a.example", ttl: 60, a: "192.0.2.1"},
		rr{name: "b.example", ttl: 60, a: "192.0.2.2"}))
	if err != nil || len(a.Addrs) != 2 {
		t.Fatalf("%+v, %v", a, err)
	}
	_ = append(a.Addrs[0].Names, "changed")
	if a.Addrs[1].Names[1] != "b.example" {
		t.Fatalf("names: %q", a.Addrs[1].Names)
	}
}

func TestTTLs(t *testing.T) {
	a, err := ParsePacket(response(t, "a.example", rr{name: "a.example", ttl: 1<<32 - 1, a: "192.0.2.1"}))
	if err != nil {
		t.Fatal(err)
	}
	if want := time.Duration(1<<32-1) * time.Second; a.Addrs[0].TTL != want {
		t.Fatalf("TTL %v, want %v", a.Addrs[0].TTL, want)
	}
}

// cutIP is pkt cut to n bytes, with the IPv4 total length saying so.
func cutIP(pkt []byte, n int) []byte {
	pkt = slices.Clone(pkt[:n])
	binary.BigEndian.PutUint16(pkt[2:4], uint16(n))
	return pkt
}

func setByte(pkt []byte, i int, v byte) []byte {
	pkt = slices.Clone(pkt)
	pkt[i] = v
	return pkt
}

func setUDPLength(pkt []byte, n uint16) []byte {
	pkt = slices.Clone(pkt)
	binary.BigEndian.PutUint16(pkt[24:26], n)
	return pkt
}

// withIPOptions is the IPv4 packet pkt with a 4-byte option (NOPs and
// an end) in its header.
func withIPOptions(pkt []byte) []byte {
	out := append(slices.Clone(pkt[:20]), 1, 1, 1, 0)
	out = append(out, pkt[20:]...)
	out[0] = 0x46
	binary.BigEndian.PutUint16(out[2:4], uint16(len(out)))
	return out
}

// ipv6Packet is an IPv6 UDP datagram from port 53 carrying msg.
func ipv6Packet(msg []byte) []byte {
	pkt := make([]byte, 48, 48+len(msg))
	pkt[0] = 0x60
	binary.BigEndian.PutUint16(pkt[4:6], uint16(8+len(msg)))
	pkt[6] = protoUDP
	pkt[7] = 64
	src, dst := netip.MustParseAddr("2001:db8::53").As16(), netip.MustParseAddr("2001:db8::10").As16()
	copy(pkt[8:24], src[:])
	copy(pkt[24:40], dst[:])
	binary.BigEndian.PutUint16(pkt[40:42], 53)
	binary.BigEndian.PutUint16(pkt[42:44], 40000)
	binary.BigEndian.PutUint16(pkt[44:46], uint16(8+len(msg)))
	return append(pkt, msg...)
}
