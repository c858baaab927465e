package conntrack

import (
	"encoding/binary"
	"net/netip"
	"testing"

	"github.com/pathpin/pathpin/internal/nlraw"
	"golang.org/x/sys/unix"
)

// entry is a conntrack entry's attributes as ctnetlink sends them.
func entry(src, dst string, proto uint8, sport, dport uint16, mark uint32) []byte {
	s, d := netip.MustParseAddr(src).As4(), netip.MustParseAddr(dst).As4()
	ip := nlraw.Attr(nlraw.Attr(nil, attrIPv4Src, s[:]), attrIPv4Dst, d[:])
	l4 := nlraw.Attr(nil, attrProtoNum, []byte{proto})
	l4 = nlraw.Attr(l4, attrSrcPort, binary.BigEndian.AppendUint16(nil, sport))
	l4 = nlraw.Attr(l4, attrDstPort, binary.BigEndian.AppendUint16(nil, dport))
	tuple := nlraw.Attr(nlraw.Attr(nil, attrTupleIP|unix.NLA_F_NESTED, ip), attrTupleProto|unix.NLA_F_NESTED, l4)
	b := nlraw.Attr(nil, attrTupleOrig|unix.NLA_F_NESTED, tuple)
	return nlraw.Attr(b, attrMark, binary.BigEndian.AppendUint32(nil, mark))
}

// TestParseFlow reads an entry's tuple and mark, and takes a truncated
// or mangled one (input from the kernel, bounded all the same) as
// unreadable without reading past it.
func TestParseFlow(t *testing.T) {
	b := entry("10.0.0.40", "203.0.113.10", 6, 40000, 80, 0x200)
	f, ok := parseFlow(b)
	want := Flow{Proto: 6, Src: netip.MustParseAddr("10.0.0.40"), Dst: netip.MustParseAddr("203.0.113.10"), SPort: 40000, DPort: 80, Mark: 0x200}
	if !ok || f != want {
		t.Fatalf("parsed %+v, %v; want %+v", f, ok, want)
	}
	// Short of the whole original tuple (all but the last 8 bytes, the
	// mark), no flow.
	for n := 0; n < len(b)-8; n++ {
		if f, ok := parseFlow(b[:n]); ok {
			t.Errorf("%d of %d bytes read as a whole flow: %+v", n, len(b), f)
		}
	}
	bad := append([]byte{}, b...)
	binary.NativeEndian.PutUint16(bad[0:], 0xffff) // a length past the end
	if _, ok := parseFlow(bad); ok {
		t.Error("an attribute longer than the entry was read")
	}
}
