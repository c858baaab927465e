package ipv4

import (
	"net/netip"
	"testing"
)

func TestLastAndPrefix(t *testing.T) {
	for _, tt := range []struct {
		from, to string
		prefix   string
	}{
		{"10.0.0.0", "10.0.0.255", "10.0.0.0/24"},
		{"0.0.0.0", "255.255.255.255", "0.0.0.0/0"},
		{"10.0.0.20", "10.0.0.20", "10.0.0.20/32"},
		{"10.0.0.30", "10.0.0.39", ""},
		{"10.0.0.1", "10.0.0.2", ""},
	} {
		p, ok := Prefix(netip.MustParseAddr(tt.from), netip.MustParseAddr(tt.to))
		if got := map[bool]string{true: p.String(), false: ""}[ok]; got != tt.prefix {
			t.Errorf("Prefix(%s, %s) = %q, want %q", tt.from, tt.to, got, tt.prefix)
		}
		if ok && Last(p).String() != tt.to {
			t.Errorf("Last(%s) = %s", p, Last(p))
		}
	}
}
