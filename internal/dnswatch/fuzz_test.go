package dnswatch

import (
	"slices"
	"testing"
)

// FuzzParsePacket feeds ParsePacket arbitrary packets, from the seed
// corpus in testdata (answers of a real dnsmasq, captured by
// TestCaptureResolverAnswers) and a few built here, and checks that it
// never panics, never changes its input, and returns only what its
// bounds allow.
func FuzzParsePacket(f *testing.F) {
	wholeMsg := dnsMsg(f, msgSpec{questions: []string{"stream.example"}, answers: []rr{
		{name: "stream.example", ttl: 60, cname: "a.example"},
		{name: "a.example", ttl: 30, cname: "stream.example"},
		{name: "a.example", ttl: 10, a: "192.0.2.1"},
		{name: "stream.example", ttl: 10, a: "192.0.2.1"},
		{name: "other.example", ttl: 10, a: "192.0.2.2"},
		{name: "a.example", ttl: 10},
	}})
	f.Add(udpPacket(resolverAddr, clientAddr, wholeMsg))
	f.Add(tcpPacket(resolverAddr, clientAddr, withLength(wholeMsg)))
	f.Add(withIPOptions(udpPacket(resolverAddr, clientAddr, wholeMsg)))
	f.Fuzz(func(t *testing.T, pkt []byte) {
		orig := slices.Clone(pkt)
		a, err := ParsePacket(pkt)
		if !slices.Equal(pkt, orig) {
			t.Fatal("ParsePacket changed its input")
		}
		if err != nil {
			if a.Question != "" || a.Addrs != nil {
				t.Fatalf("an error (%v) with a result: %+v", err, a)
			}
			return
		}
		if canonical(a.Question) != a.Question {
			t.Fatalf("question %q is not lower-case without a trailing dot", a.Question)
		}
		if len(a.Addrs) > MaxAddrs {
			t.Fatalf("%d addresses", len(a.Addrs))
		}
		for i, ad := range a.Addrs {
			if !ad.Addr.Is4() {
				t.Fatalf("address %v", ad.Addr)
			}
			if slices.ContainsFunc(a.Addrs[:i], func(o Addr) bool { return o.Addr == ad.Addr }) {
				t.Fatalf("address %v twice", ad.Addr)
			}
			if ad.TTL < 0 {
				t.Fatalf("TTL %v", ad.TTL)
			}
			if len(ad.Names) == 0 || len(ad.Names) > MaxChain+1 || ad.Names[0] != a.Question {
				t.Fatalf("names %q for question %q", ad.Names, a.Question)
			}
			for j, n := range ad.Names {
				if canonical(n) != n || slices.Contains(ad.Names[:j], n) {
					t.Fatalf("names %q", ad.Names)
				}
			}
		}
	})
}
