package conntrack

import (
	"encoding/binary"
	"testing"
)

// attr is one netlink attribute: its length and type, then the data.
func attr(typ uint16, data []byte) []byte {
	b := binary.NativeEndian.AppendUint16(nil, uint16(4+len(data)))
	b = binary.NativeEndian.AppendUint16(b, typ)
	return append(b, data...)
}

func TestMarkOf(t *testing.T) {
	mark := binary.BigEndian.AppendUint32(nil, 0x200)
	tests := []struct {
		name  string
		attrs []byte
		want  uint32
		ok    bool
	}{
		{"the mark after another attribute", append(attr(1, []byte{1, 2, 3, 4}), attr(attrMark, mark)...), 0x200, true},
		{"no mark", attr(1, []byte{1, 2, 3, 4}), 0, false},
		// A last attribute of 6 bytes without its padding: the walk must
		// stop at the end, not slice past it.
		{"a short last attribute", append(attr(1, []byte{1, 2, 3, 4}), attr(2, []byte{9, 9})...), 0, false},
		{"a length past the end", []byte{40, 0, 8, 0, 0, 0}, 0, false},
		{"a length below the header", []byte{2, 0, 8, 0, 0, 0, 0, 0}, 0, false},
		{"a mark of the wrong size", attr(attrMark, []byte{1, 2}), 0, false},
		{"three bytes", []byte{8, 0, 8}, 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := markOf(tt.attrs)
			if got != tt.want || ok != tt.ok {
				t.Fatalf("markOf = %#x, %v; want %#x, %v", got, ok, tt.want, tt.ok)
			}
		})
	}
}

// FuzzMarkOf: no input from the kernel makes the event decoder panic.
func FuzzMarkOf(f *testing.F) {
	f.Add(append(attr(1, []byte{1, 2, 3, 4}), attr(attrMark, []byte{0, 0, 2, 0})...))
	f.Add(append(attr(1, []byte{1, 2, 3, 4}), attr(2, []byte{9, 9})...))
	f.Add([]byte{6, 0, 1, 0, 1, 2})
	f.Fuzz(func(t *testing.T, b []byte) { markOf(b) })
}
