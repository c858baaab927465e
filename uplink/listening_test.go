package uplink

import (
	"net/netip"
	"testing"
)

func TestProcAddr(t *testing.T) {
	for in, want := range map[string]string{"0100007F:0016": "127.0.0.1:22", "00000000:1F90": "0.0.0.0:8080", "0201A8C0:0035": "192.168.1.2:53"} {
		a, p, ok := procAddr(in)
		if !ok || netip.AddrPortFrom(a, p).String() != want {
			t.Errorf("procAddr(%s) = %v:%d %v, want %s", in, a, p, ok, want)
		}
	}
	for _, bad := range []string{"", "0100007F", "zz00007F:0016", "0100007F:zz"} {
		if _, _, ok := procAddr(bad); ok {
			t.Errorf("procAddr(%q) read as an address", bad)
		}
	}
}
