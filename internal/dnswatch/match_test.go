package dnswatch

import (
	"slices"
	"testing"
)

func TestDomainsMatch(t *testing.T) {
	d := NewDomains(map[string][]string{
		"video":  {"stream.example", "CDN.Example.", "stream.example"},
		"work":   {"corp.example", "vpn.corp.example"},
		"games":  {"cdn.example"},
		"nobody": {"", "."},
	})
	for _, tt := range []struct {
		names []string
		want  []string
	}{
		{[]string{"stream.example"}, []string{"video"}},
		{[]string{"a.b.stream.example"}, []string{"video"}},
		{[]string{"xstream.example"}, nil},
		{[]string{"stream.example.org"}, nil},
		{[]string{"example"}, nil},
		{[]string{"STREAM.Example."}, []string{"video"}},
		{[]string{"edge.cdn.example"}, []string{"games", "video"}},
		{[]string{"vpn.corp.example"}, []string{"work"}},
		{[]string{"www.shop.example", "edge.cdn.example", "x.stream.example"}, []string{"games", "video"}},
		{[]string{"www.shop.example", "host.corp.example"}, []string{"work"}},
		{[]string{"www.shop.example"}, nil},
		{[]string{""}, nil},
		{[]string{"."}, nil},
		{nil, nil},
	} {
		if got := d.Match(tt.names); !slices.Equal(got, tt.want) {
			t.Errorf("Match(%q) = %q, want %q", tt.names, got, tt.want)
		}
	}
	if got := (*Domains)(nil).Match([]string{"stream.example"}); got != nil {
		t.Errorf("a nil Domains matched %q", got)
	}
	if got := NewDomains(nil).Match([]string{"stream.example"}); got != nil {
		t.Errorf("empty Domains matched %q", got)
	}
}

// TestDomainsMatchResultIsOwn: changing what Match returned changes
// nothing in the Domains.
func TestDomainsMatchResultIsOwn(t *testing.T) {
	d := NewDomains(map[string][]string{"b": {"stream.example"}, "a": {"stream.example"}})
	got := d.Match([]string{"stream.example"})
	got[0] = "changed"
	if again := d.Match([]string{"stream.example"}); !slices.Equal(again, []string{"a", "b"}) {
		t.Fatalf("second Match: %q", again)
	}
}
