package pppoe

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"net"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func mustHex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(strings.Join(strings.Fields(s), ""))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestPacketRoundTripEveryTag(t *testing.T) {
	tests := []struct {
		name string
		p    Packet
		wire string
	}{
		{"PADI any service", Packet{Code: CodePADI, Tags: []Tag{{Type: TagServiceName, Value: []byte{}}}},
			"11 09 0000 0004  0101 0000"},
		{"End-Of-List", Packet{Code: CodePADO, Tags: []Tag{{Type: TagEndOfList, Value: []byte{}}}},
			"11 07 0000 0004  0000 0000"},
		{"Service-Name", Packet{Code: CodePADI, Tags: []Tag{StringTag(TagServiceName, "isp")}},
			"11 09 0000 0007  0101 0003 697370"},
		{"AC-Name", Packet{Code: CodePADO, Tags: []Tag{StringTag(TagACName, "ac")}},
			"11 07 0000 0006  0102 0002 6163"},
		{"Host-Uniq", Packet{Code: CodePADR, Tags: []Tag{{Type: TagHostUniq, Value: []byte{1, 2, 3, 4}}}},
			"11 19 0000 0008  0103 0004 01020304"},
		{"AC-Cookie", Packet{Code: CodePADR, Tags: []Tag{{Type: TagACCookie, Value: []byte{0xaa, 0xbb}}}},
			"11 19 0000 0006  0104 0002 aabb"},
		{"Vendor-Specific", Packet{Code: CodePADO, Tags: []Tag{{Type: TagVendorSpecific, Value: []byte{0, 0, 0x0d, 0xe9, 1}}}},
			"11 07 0000 0009  0105 0005 00000de901"},
		{"Relay-Session-Id", Packet{Code: CodePADO, Tags: []Tag{{Type: TagRelaySessionID, Value: []byte{9, 9, 9}}}},
			"11 07 0000 0007  0110 0003 090909"},
		{"PPP-Max-Payload", Packet{Code: CodePADI, Tags: []Tag{MaxPayloadTag(1500)}},
			"11 09 0000 0006  0120 0002 05dc"},
		{"Service-Name-Error", Packet{Code: CodePADS, Tags: []Tag{StringTag(TagServiceNameError, "no")}},
			"11 65 0000 0006  0201 0002 6e6f"},
		{"AC-System-Error", Packet{Code: CodePADS, Tags: []Tag{StringTag(TagACSystemError, "full")}},
			"11 65 0000 0008  0202 0004 66756c6c"},
		{"Generic-Error", Packet{Code: CodePADT, SessionID: 0x1234, Tags: []Tag{StringTag(TagGenericError, "bye")}},
			"11 a7 1234 0007  0203 0003 627965"},
		{"unknown tag kept in order", Packet{Code: CodePADO, Tags: []Tag{
			StringTag(TagACName, "a"), {Type: 0x7777, Value: []byte{5}}, StringTag(TagServiceName, ""), StringTag(TagServiceName, "s")}},
			"11 07 0000 0013  0102 0001 61  7777 0001 05  0101 0000  0101 0001 73"},
		{"PADT without tags", Packet{Code: CodePADT, SessionID: 1},
			"11 a7 0001 0000"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			want := mustHex(t, tt.wire)
			got, err := tt.p.MarshalBinary()
			if err != nil {
				t.Fatalf("MarshalBinary: %v", err)
			}
			if !bytes.Equal(got, want) {
				t.Fatalf("MarshalBinary = % x, want % x", got, want)
			}
			var p Packet
			if err := p.UnmarshalBinary(want); err != nil {
				t.Fatalf("UnmarshalBinary: %v", err)
			}
			if diff := cmp.Diff(tt.p, p, cmp.Comparer(bytes.Equal)); diff != "" {
				t.Fatalf("decoded packet differs (-want +got):\n%s", diff)
			}
		})
	}
}

func TestPacketUnmarshalMalformed(t *testing.T) {
	tests := []struct {
		name string
		wire string
		want error // matched with errors.Is
		text string
	}{
		{"empty", "", io.ErrUnexpectedEOF, "header needs 6 octets"},
		{"truncated header", "11 09 00", io.ErrUnexpectedEOF, "have 3"},
		{"version 2", "21 09 0000 0000", ErrVersion, "0x21"},
		{"type 2", "12 09 0000 0000", ErrVersion, "0x12"},
		{"LENGTH past frame end", "11 07 0000 0010  0102 0002 6163", io.ErrUnexpectedEOF, "LENGTH says 16"},
		{"tag past payload", "11 07 0000 0006  0102 0009 6163", ErrTagOverrun, "AC-Name tag at offset 0 says 9"},
		{"stray octets", "11 07 0000 0006  0102 0000 0101", io.ErrUnexpectedEOF, "2 stray octets"},
		{"LENGTH cuts a tag", "11 07 0000 0005  0102 0002 6163", ErrTagOverrun, "says 2 octets, 1 remain"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var p Packet
			err := p.UnmarshalBinary(mustHex(t, tt.wire))
			if !errors.Is(err, tt.want) {
				t.Fatalf("UnmarshalBinary error = %v, want %v", err, tt.want)
			}
			if !strings.Contains(err.Error(), tt.text) {
				t.Fatalf("error %q does not say %q", err, tt.text)
			}
		})
	}
}

func TestPacketUnmarshalIgnoresPaddingAndAfterEndOfList(t *testing.T) {
	tests := []struct {
		name string
		wire string
		want Packet
	}{
		{"Ethernet padding after LENGTH", "11 09 0000 0004 0101 0000" + strings.Repeat(" 00", 36),
			Packet{Code: CodePADI, Tags: []Tag{{Type: TagServiceName, Value: []byte{}}}}},
		{"junk padding", "11 a7 0003 0000 ffffffff",
			Packet{Code: CodePADT, SessionID: 3}},
		{"tags after End-Of-List", "11 07 0000 000a 0000 0000 0102 0002 6163",
			Packet{Code: CodePADO, Tags: []Tag{{Type: TagEndOfList, Value: []byte{}}}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var p Packet
			if err := p.UnmarshalBinary(mustHex(t, tt.wire)); err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, p, cmp.Comparer(bytes.Equal)); diff != "" {
				t.Fatalf("(-want +got):\n%s", diff)
			}
		})
	}
}

func TestPacketUnmarshalOwnsItsMemory(t *testing.T) {
	b := mustHex(t, "11 07 0000 0006 0102 0002 6163")
	var p Packet
	if err := p.UnmarshalBinary(b); err != nil {
		t.Fatal(err)
	}
	b[10] = 'X'
	if got := string(p.Tags[0].Value); got != "ac" {
		t.Fatalf("tag value changed with the input buffer: %q", got)
	}
	// Appending to one tag's value must not overwrite the next tag.
	_ = append(p.Tags[0].Value, 'z')
}

func TestPacketMarshalTooLong(t *testing.T) {
	p := Packet{Code: CodePADI, Tags: []Tag{{Type: TagVendorSpecific, Value: make([]byte, 0x10000)}}}
	if _, err := p.MarshalBinary(); err == nil {
		t.Fatal("MarshalBinary accepted a tag longer than 65535 octets")
	}
}

func TestErrorText(t *testing.T) {
	tests := []struct {
		tags []Tag
		want string
		ok   bool
	}{
		{nil, "", false},
		{[]Tag{StringTag(TagACName, "x")}, "", false},
		{[]Tag{StringTag(TagServiceNameError, "unknown service")}, "Service-Name-Error: unknown service", true},
		{[]Tag{StringTag(TagACSystemError, "")}, "AC-System-Error", true},
		{[]Tag{StringTag(TagGenericError, "busy"), StringTag(TagACSystemError, "x")}, "Generic-Error: busy", true},
	}
	for _, tt := range tests {
		p := Packet{Tags: tt.tags}
		got, ok := p.ErrorText()
		if got != tt.want || ok != tt.ok {
			t.Errorf("ErrorText(%v) = %q, %v; want %q, %v", tt.tags, got, ok, tt.want, tt.ok)
		}
	}
}

func TestParseSession(t *testing.T) {
	id, mac, err := ParseSession("4660:02:00:00:00:00:01")
	if err != nil || id != 4660 || mac.String() != "02:00:00:00:00:01" {
		t.Fatalf("ParseSession = %d, %s, %v", id, mac, err)
	}
	for _, bad := range []string{"", "1", "0:02:00:00:00:00:01", "65535:02:00:00:00:00:01", "x:02:00:00:00:00:01", "1:ff:ff:ff:ff:ff:ff", "1:zz"} {
		if _, _, err := ParseSession(bad); err == nil {
			t.Errorf("ParseSession(%q) succeeded", bad)
		}
	}
	s := Session{ID: 7, ACMAC: mac}
	if s.String() != "7:"+mac.String() {
		t.Fatalf("Session.String = %q", s.String())
	}
}

func TestJSONWritesMACAsText(t *testing.T) {
	mac := net.HardwareAddr{2, 0, 0, 0, 0, 1}
	for _, v := range []any{Session{ACMAC: mac, ID: 3}, Offer{ACMAC: mac, ACName: "ac"}} {
		b, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(string(b), `"ac_mac":"02:00:00:00:00:01"`) {
			t.Errorf("JSON %s does not carry the MAC as text", b)
		}
	}
}
