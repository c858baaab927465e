package conntrack

import (
	"encoding/binary"
	"fmt"
	"net/netip"

	"github.com/pathpin/pathpin/internal/nlraw"
	"golang.org/x/sys/unix"
)

// The tuple attributes of a conntrack entry (nfnetlink_conntrack.h).
const (
	attrTupleOrig  = 1 // CTA_TUPLE_ORIG
	attrTupleIP    = 1 // CTA_TUPLE_IP
	attrTupleProto = 2 // CTA_TUPLE_PROTO
	attrIPv4Src    = 1 // CTA_IP_V4_SRC
	attrIPv4Dst    = 2 // CTA_IP_V4_DST
	attrProtoNum   = 1 // CTA_PROTO_NUM
	attrSrcPort    = 2 // CTA_PROTO_SRC_PORT
	attrDstPort    = 3 // CTA_PROTO_DST_PORT
)

// Flow is one connection as its first packet had it, and its mark.
type Flow struct {
	Proto        uint8
	Src, Dst     netip.Addr
	SPort, DPort uint16
	Mark         uint32
}

// FlowsFrom lists the IPv4 entries whose original source is src, at most
// limit of them (more is a sign to narrow the question, not to read on).
func FlowsFrom(src netip.Addr, limit int) ([]Flow, error) {
	c, err := dial()
	if err != nil {
		return nil, err
	}
	defer c.Close()
	if err := c.Send(msg(msgGet), unix.NLM_F_DUMP, unix.AF_INET, nil); err != nil {
		return nil, fmt.Errorf("conntrack: asking for the table: %w", err)
	}
	var out []Flow
	err = c.Each(func(_ uint16, attrs []byte) {
		f, ok := parseFlow(attrs)
		if ok && f.Src == src && len(out) < limit {
			out = append(out, f)
		}
	})
	if err != nil {
		return nil, fmt.Errorf("conntrack: reading the table: %w", err)
	}
	return out, nil
}

// parseFlow reads an entry's original tuple and mark; ok is false for an
// entry it cannot read (not IPv4, truncated).
func parseFlow(attrs []byte) (f Flow, ok bool) {
	var haveSrc bool
	each(attrs, func(typ uint16, data []byte) {
		switch typ {
		case attrMark:
			if len(data) == 4 {
				f.Mark = binary.BigEndian.Uint32(data)
			}
		case attrTupleOrig:
			each(data, func(typ uint16, data []byte) {
				switch typ {
				case attrTupleIP:
					each(data, func(typ uint16, data []byte) {
						if len(data) != 4 {
							return
						}
						switch typ {
						case attrIPv4Src:
							f.Src, haveSrc = netip.AddrFrom4([4]byte(data)), true
						case attrIPv4Dst:
							f.Dst = netip.AddrFrom4([4]byte(data))
						}
					})
				case attrTupleProto:
					each(data, func(typ uint16, data []byte) {
						switch {
						case typ == attrProtoNum && len(data) == 1:
							f.Proto = data[0]
						case typ == attrSrcPort && len(data) == 2:
							f.SPort = binary.BigEndian.Uint16(data)
						case typ == attrDstPort && len(data) == 2:
							f.DPort = binary.BigEndian.Uint16(data)
						}
					})
				}
			})
		}
	})
	return f, haveSrc && f.Dst.IsValid()
}

// each calls fn for every well-formed attribute in b; it stops at the
// first that claims more than b holds.
func each(b []byte, fn func(typ uint16, data []byte)) {
	for len(b) >= 4 {
		l := int(binary.NativeEndian.Uint16(b[0:]))
		if l < 4 || l > len(b) {
			return
		}
		fn(binary.NativeEndian.Uint16(b[2:])&attrTypeMask, b[4:l])
		b = b[min(nlraw.Align(l), len(b)):]
	}
}
