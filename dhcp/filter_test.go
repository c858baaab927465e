package dhcp

import (
	"encoding/binary"
	"testing"

	"golang.org/x/net/bpf"
	"golang.org/x/sys/unix"
)

// ipv4UDP is an IPv4 header of 20 bytes and a UDP header, as the packet
// socket hands them to the filter (no link header).
func ipv4UDP(proto byte, fragment uint16, sport, dport uint16) []byte {
	p := make([]byte, 28)
	p[0] = 0x45
	binary.BigEndian.PutUint16(p[6:], fragment)
	p[9] = proto
	binary.BigEndian.PutUint16(p[20:], sport)
	binary.BigEndian.PutUint16(p[22:], dport)
	return p
}

// TestFilterTakesServersAnswersOnAnyPort: the kernel filter copies what is
// for the client (to port 68), and a server's answer sent to the port a
// request came from (from port 67), and nothing else.
func TestFilterTakesServersAnswersOnAnyPort(t *testing.T) {
	vm, err := bpf.NewVM(dhcpToClient)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		pkt  []byte
		want bool
	}{
		{"to port 68", ipv4UDP(unix.IPPROTO_UDP, 0, 67, 68), true},
		{"from a server to a rewritten port", ipv4UDP(unix.IPPROTO_UDP, 0, 67, 133), true},
		{"other UDP", ipv4UDP(unix.IPPROTO_UDP, 0, 53, 5353), false},
		{"TCP to 68", ipv4UDP(unix.IPPROTO_TCP, 0, 67, 68), false},
		{"a later fragment", ipv4UDP(unix.IPPROTO_UDP, 0x0010, 67, 68), false},
	} {
		n, err := vm.Run(tc.pkt)
		if err != nil {
			t.Fatal(err)
		}
		if got := n > 0; got != tc.want {
			t.Errorf("%s: taken %v, want %v", tc.name, got, tc.want)
		}
	}
}
