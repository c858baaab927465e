package pppoe

import (
	"bytes"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// FuzzPacket decodes arbitrary input; whatever decodes must encode and
// decode again to the same packet. The corpus in testdata/fuzz/FuzzPacket
// holds frames captured from rp-pppoe's pppoe and pppoe-server.
func FuzzPacket(f *testing.F) {
	f.Add(mustHex(f, "11 09 0000 0004 0101 0000"))
	f.Add(mustHex(f, "11 07 0000 0013 0102 0001 61 7777 0001 05 0101 0000 0101 0001 73"))
	f.Add(mustHex(f, "11 a7 1234 0007 0203 0003 627965 0000"))
	f.Fuzz(func(t *testing.T, b []byte) {
		var p1 Packet
		if err := p1.UnmarshalBinary(b); err != nil {
			return
		}
		wire, err := p1.MarshalBinary()
		if err != nil {
			t.Fatalf("decoded packet does not encode: %v", err)
		}
		var p2 Packet
		if err := p2.UnmarshalBinary(wire); err != nil {
			t.Fatalf("encoded packet does not decode: %v", err)
		}
		if diff := cmp.Diff(p1, p2, cmp.Comparer(bytes.Equal)); diff != "" {
			t.Fatalf("round trip changed the packet (-first +second):\n%s", diff)
		}
		again, _ := p2.MarshalBinary()
		if !bytes.Equal(wire, again) {
			t.Fatalf("encoding is not stable: % x vs % x", wire, again)
		}
	})
}
