package pppoe

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
)

const (
	headerLen = 6 // VER/TYPE, CODE, SESSION_ID, LENGTH
	tagHeader = 4 // TAG_TYPE, TAG_LENGTH

	verType = 0x11 // VER = 1, TYPE = 1
)

// Errors returned by Packet.UnmarshalBinary.
var (
	// ErrVersion means the VER or TYPE nibble is not 1.
	ErrVersion = errors.New("pppoe: unsupported VER/TYPE (want 1/1)")
	// ErrTagOverrun means a tag's LENGTH runs past the end of the payload.
	ErrTagOverrun = errors.New("pppoe: tag length runs past the end of the payload")
)

// A Packet is a PPPoE discovery packet: the header fields and the tags in
// the order they appeared on the wire, unknown types included.
type Packet struct {
	Code      Code
	SessionID uint16
	Tags      []Tag
}

// payloadLen returns the length of the encoded tags.
func (p *Packet) payloadLen() int {
	n := 0
	for _, t := range p.Tags {
		n += tagHeader + len(t.Value)
	}
	return n
}

// MarshalBinary encodes the packet as the payload of an Ethernet frame of
// type EtherTypeDiscovery.
func (p *Packet) MarshalBinary() ([]byte, error) {
	n := p.payloadLen()
	if n > 0xffff {
		return nil, fmt.Errorf("pppoe: %s payload of %d octets does not fit the 16-bit LENGTH field", p.Code, n)
	}
	b := make([]byte, headerLen, headerLen+n)
	b[0] = verType
	b[1] = byte(p.Code)
	binary.BigEndian.PutUint16(b[2:4], p.SessionID)
	binary.BigEndian.PutUint16(b[4:6], uint16(n))
	for _, t := range p.Tags {
		if len(t.Value) > 0xffff {
			return nil, fmt.Errorf("pppoe: %s tag of %d octets is too long", t.Type, len(t.Value))
		}
		b = binary.BigEndian.AppendUint16(b, uint16(t.Type))
		b = binary.BigEndian.AppendUint16(b, uint16(len(t.Value)))
		b = append(b, t.Value...)
	}
	return b, nil
}

// UnmarshalBinary decodes a discovery packet. The payload is cut to the
// header's LENGTH field, so Ethernet padding after it is ignored. Tags are
// kept in wire order, including unknown types and an End-Of-List tag;
// nothing after End-Of-List is read (RFC 2516 Appendix A).
func (p *Packet) UnmarshalBinary(b []byte) error {
	if len(b) < headerLen {
		return fmt.Errorf("pppoe: header needs %d octets, have %d: %w", headerLen, len(b), io.ErrUnexpectedEOF)
	}
	if b[0] != verType {
		return fmt.Errorf("%w: got 0x%02x", ErrVersion, b[0])
	}
	n := int(binary.BigEndian.Uint16(b[4:6]))
	payload := b[headerLen:]
	if len(payload) < n {
		return fmt.Errorf("pppoe: LENGTH says %d octets of tags, frame has %d: %w", n, len(payload), io.ErrUnexpectedEOF)
	}
	// One owned copy; tag values slice into it.
	payload = append([]byte(nil), payload[:n]...)

	var tags []Tag
	for off := 0; off < len(payload); {
		if len(payload)-off < tagHeader {
			return fmt.Errorf("pppoe: %d stray octets at tag offset %d: %w", len(payload)-off, off, io.ErrUnexpectedEOF)
		}
		typ := TagType(binary.BigEndian.Uint16(payload[off:]))
		l := int(binary.BigEndian.Uint16(payload[off+2:]))
		off += tagHeader
		if len(payload)-off < l {
			return fmt.Errorf("%w: %s tag at offset %d says %d octets, %d remain", ErrTagOverrun, typ, off-tagHeader, l, len(payload)-off)
		}
		tags = append(tags, Tag{Type: typ, Value: payload[off : off+l : off+l]})
		off += l
		if typ == TagEndOfList {
			break
		}
	}
	p.Code = Code(b[1])
	p.SessionID = binary.BigEndian.Uint16(b[2:4])
	p.Tags = tags
	return nil
}

// Tag returns the first tag of type t.
func (p *Packet) Tag(t TagType) (Tag, bool) {
	for _, tag := range p.Tags {
		if tag.Type == t {
			return tag, true
		}
	}
	return Tag{}, false
}

// TagsOf returns every tag of type t, in wire order.
func (p *Packet) TagsOf(t TagType) []Tag {
	var out []Tag
	for _, tag := range p.Tags {
		if tag.Type == t {
			out = append(out, tag)
		}
	}
	return out
}

// ErrorText returns the text of the first error tag (Service-Name-Error,
// AC-System-Error or Generic-Error) and whether there was one. An error
// tag with no text is reported by its name.
func (p *Packet) ErrorText() (string, bool) {
	for _, t := range p.Tags {
		if t.Type.IsError() {
			if len(t.Value) == 0 {
				return t.Type.String(), true
			}
			return fmt.Sprintf("%s: %s", t.Type, Printable(t.Value)), true
		}
	}
	return "", false
}

// String renders the packet for logs, e.g. `PADO sid=0 [AC-Name="x" ...]`.
func (p *Packet) String() string {
	return fmt.Sprintf("%s sid=%d %v", p.Code, p.SessionID, p.Tags)
}
