package pppoe

import (
	"net"
	"testing"
)

func TestPrintable(t *testing.T) {
	for in, want := range map[string]string{
		"BT-AC":                        "BT-AC",
		"bras\nlevel=ERROR msg=forged": `bras\x0alevel=ERROR msg=forged`,
		"\x1b[2Jclear":                 `\x1b[2Jclear`,
		"caf\xc3\xa9":                  "café",
		"bad\xffbyte":                  `bad\xffbyte`,
		`back\slash`:                   `back\\slash`,
		"\u0085next line (C1 control)": `\xc2\x85next line (C1 control)`,
	} {
		if got := Printable([]byte(in)); got != want {
			t.Errorf("Printable(%q) = %s, want %s", in, got, want)
		}
	}
}

// TestOfferEscapesTheACName: an AC-Name with a newline cannot add a line
// to pathpin's log or status.
func TestOfferEscapesTheACName(t *testing.T) {
	hu := []byte{1, 2, 3, 4}
	p := &Packet{Code: CodePADO, Tags: []Tag{{Type: TagHostUniq, Value: hu}, {Type: TagACName, Value: []byte("ac\nforged")}, StringTag(TagServiceName, "")}}
	o, err := parseOffer(net.HardwareAddr{2, 0, 0, 0, 0, 1}, p, hu, &Config{})
	if err != nil {
		t.Fatal(err)
	}
	if o.ACName != `ac\x0aforged` {
		t.Fatalf("AC-Name %q", o.ACName)
	}
}
