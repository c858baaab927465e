package pppoe

import (
	"encoding/binary"
	"fmt"
)

// A TagType identifies a discovery TLV (RFC 2516 Appendix A, RFC 4638).
type TagType uint16

// Tag types known to pathpin. Any other type is kept as it arrived.
const (
	TagEndOfList        TagType = 0x0000
	TagServiceName      TagType = 0x0101
	TagACName           TagType = 0x0102
	TagHostUniq         TagType = 0x0103
	TagACCookie         TagType = 0x0104
	TagVendorSpecific   TagType = 0x0105
	TagRelaySessionID   TagType = 0x0110
	TagPPPMaxPayload    TagType = 0x0120
	TagServiceNameError TagType = 0x0201
	TagACSystemError    TagType = 0x0202
	TagGenericError     TagType = 0x0203
)

var tagNames = map[TagType]string{
	TagEndOfList:        "End-Of-List",
	TagServiceName:      "Service-Name",
	TagACName:           "AC-Name",
	TagHostUniq:         "Host-Uniq",
	TagACCookie:         "AC-Cookie",
	TagVendorSpecific:   "Vendor-Specific",
	TagRelaySessionID:   "Relay-Session-Id",
	TagPPPMaxPayload:    "PPP-Max-Payload",
	TagServiceNameError: "Service-Name-Error",
	TagACSystemError:    "AC-System-Error",
	TagGenericError:     "Generic-Error",
}

// String returns the RFC name of the tag type, e.g. "AC-Name".
func (t TagType) String() string {
	if s, ok := tagNames[t]; ok {
		return s
	}
	return fmt.Sprintf("Tag(0x%04x)", uint16(t))
}

// IsError reports whether the tag type is one of the three error tags.
func (t TagType) IsError() bool {
	return t == TagServiceNameError || t == TagACSystemError || t == TagGenericError
}

// A Tag is one TLV of a discovery packet. Value is the raw tag value; its
// length is written as the tag's LENGTH field.
type Tag struct {
	Type  TagType
	Value []byte
}

// StringTag returns a tag carrying s as its value, for the UTF-8 tags
// (Service-Name, AC-Name and the error tags).
func StringTag(t TagType, s string) Tag {
	return Tag{Type: t, Value: []byte(s)}
}

// MaxPayloadTag returns a PPP-Max-Payload tag (RFC 4638) asking for n octets.
func MaxPayloadTag(n uint16) Tag {
	return Tag{Type: TagPPPMaxPayload, Value: binary.BigEndian.AppendUint16(nil, n)}
}

// String renders the tag for logs and test failures.
func (t Tag) String() string {
	switch t.Type {
	case TagServiceName, TagACName, TagServiceNameError, TagACSystemError, TagGenericError:
		return fmt.Sprintf("%s=%q", t.Type, t.Value)
	case TagPPPMaxPayload:
		if len(t.Value) == 2 {
			return fmt.Sprintf("%s=%d", t.Type, binary.BigEndian.Uint16(t.Value))
		}
	}
	return fmt.Sprintf("%s=%x", t.Type, t.Value)
}
