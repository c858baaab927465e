package nft

import (
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/google/nftables"
	"github.com/google/nftables/expr"
	"github.com/mdlayher/netlink"
	"github.com/pathpin/pathpin/internal/nlraw"
	"golang.org/x/sys/unix"
)

// The nftables library lists rules one chain at a time, does not ask the
// kernel for its ruleset generation and cannot read rt and byteorder
// expressions or a ct set's source register back. These requests fill
// those gaps on a netlink socket of pathpin's own, read through one
// buffer (internal/nlraw); each expression is still decoded by the
// library's own unmarshalling where it has one.

// nftMsg is the netlink message type of an nftables request.
func nftMsg(t int) uint16 { return uint16(unix.NFNL_SUBSYS_NFTABLES<<8 | t) }

// decoder reads attributes (big-endian values, as nftables sends them).
func decoder(b []byte) (*netlink.AttributeDecoder, error) {
	ad, err := netlink.NewAttributeDecoder(b)
	if err != nil {
		return nil, err
	}
	ad.ByteOrder = binary.BigEndian
	return ad, nil
}

// generation is the kernel's ruleset generation in this network
// namespace: every committed nftables transaction, by anyone, changes it.
func generation(c *nlraw.Conn) (uint32, error) {
	if err := c.Send(nftMsg(unix.NFT_MSG_GETGEN), 0, unix.NFPROTO_UNSPEC, nil); err != nil {
		return 0, fmt.Errorf("nftables: asking for the ruleset generation: %w", err)
	}
	var gen uint32
	found := false
	err := c.Each(func(typ uint16, attrs []byte) {
		if typ != nftMsg(unix.NFT_MSG_NEWGEN) {
			return
		}
		ad, err := decoder(attrs)
		if err != nil {
			return
		}
		for ad.Next() {
			if ad.Type() == unix.NFTA_GEN_ID {
				gen, found = ad.Uint32(), true
			}
		}
	})
	if err != nil {
		return 0, fmt.Errorf("nftables: reading the ruleset generation: %w", err)
	}
	if !found {
		return 0, errors.New("nftables: the kernel did not say its ruleset generation")
	}
	return gen, nil
}

// kernelRule is one rule of a table-wide dump: its expressions as the
// kernel encoded them (decodeExprs reads them).
type kernelRule struct {
	Chain  string
	Handle uint64
	Exprs  []byte
}

// dumpRules lists every rule of table ip pathpin in one dump, in chain
// order; with a chain, only that chain's.
func dumpRules(c *nlraw.Conn, chain string) ([]kernelRule, error) {
	attrs := nlraw.Attr(nil, unix.NFTA_RULE_TABLE, []byte(TableName+"\x00"))
	if chain != "" {
		attrs = nlraw.Attr(attrs, unix.NFTA_RULE_CHAIN, []byte(chain+"\x00"))
	}
	if err := c.Send(nftMsg(unix.NFT_MSG_GETRULE), unix.NLM_F_DUMP, unix.NFPROTO_IPV4, attrs); err != nil {
		return nil, fmt.Errorf("nftables: asking for table ip %s's rules: %w", TableName, err)
	}
	var out []kernelRule
	var derr error
	err := c.Each(func(typ uint16, attrs []byte) {
		if typ != nftMsg(unix.NFT_MSG_NEWRULE) {
			return
		}
		ad, err := decoder(attrs)
		if err != nil {
			derr = err
			return
		}
		var r kernelRule
		for ad.Next() {
			switch ad.Type() {
			case unix.NFTA_RULE_CHAIN:
				r.Chain = ad.String()
			case unix.NFTA_RULE_HANDLE:
				r.Handle = ad.Uint64()
			case unix.NFTA_RULE_EXPRESSIONS:
				r.Exprs = ad.Bytes() // a copy
			}
		}
		if err := ad.Err(); err != nil {
			derr = err
			return
		}
		out = append(out, r)
	})
	if err == nil {
		err = derr
	}
	if err != nil {
		return nil, fmt.Errorf("nftables: reading table ip %s's rules: %w", TableName, err)
	}
	return out, nil
}

// wireExpr is one expression the kernel gave back: decoded, and encoded
// again as the library sends it (with a lookup's transaction id left out),
// which is what verification compares.
type wireExpr struct {
	e    expr.Any
	wire []byte
}

// decodeExprs reads a rule's expression list. unknown is true when one of
// them is not an expression pathpin writes, or does not decode.
func decodeExprs(data []byte) (es []wireExpr, unknown bool) {
	ad, err := netlink.NewAttributeDecoder(data)
	if err != nil {
		return nil, true
	}
	for ad.Next() {
		if ad.Type() != unix.NFTA_LIST_ELEM {
			continue
		}
		w, ok := decodeElem(ad.Bytes())
		if !ok {
			return nil, true
		}
		es = append(es, w)
	}
	return es, ad.Err() != nil
}

// decodeElem decodes one list element: an expression's name and data.
func decodeElem(raw []byte) (wireExpr, bool) {
	ad, err := decoder(raw)
	if err != nil {
		return wireExpr{}, false
	}
	name := ""
	var e expr.Any
	for ad.Next() {
		switch ad.Type() {
		case unix.NFTA_EXPR_NAME:
			name = ad.String()
		case unix.NFTA_EXPR_DATA:
			if e, err = decodeExpr(name, ad.Bytes()); err != nil {
				return wireExpr{}, false
			}
		}
	}
	if e == nil && name == "notrack" {
		// notrack carries no data attribute.
		e = &expr.Notrack{}
	}
	if e == nil || ad.Err() != nil {
		return wireExpr{}, false
	}
	wire, err := expr.Marshal(unix.NFPROTO_IPV4, readable(e))
	if err != nil {
		return wireExpr{}, false
	}
	return wireExpr{e: e, wire: wire}, true
}

// decodeExpr decodes one expression's data, for the expressions pathpin
// writes.
func decodeExpr(name string, data []byte) (expr.Any, error) {
	var e expr.Any
	switch name {
	case "meta":
		e = &expr.Meta{}
	case "cmp":
		e = &expr.Cmp{}
	case "bitwise":
		e = &expr.Bitwise{}
	case "payload":
		e = &expr.Payload{}
	case "immediate":
		e = &expr.Immediate{}
	case "numgen":
		e = &expr.Numgen{}
	case "lookup":
		e = &expr.Lookup{}
	case "dynset":
		e = &expr.Dynset{}
	case "exthdr":
		e = &expr.Exthdr{}
	case "nat":
		e = &expr.NAT{}
	case "masq":
		e = &expr.Masq{}
	case "counter":
		e = &expr.Counter{}
	case "queue":
		e = &expr.Queue{}
	case "socket":
		e = &expr.Socket{}
	case "ct":
		return decodeCt(data)
	case "rt":
		return decodeRt(data)
	case "byteorder":
		return decodeByteorder(data)
	default:
		return nil, errForeign
	}
	if err := expr.Unmarshal(unix.NFPROTO_IPV4, data, e); err != nil {
		return nil, err
	}
	// A verdict is an immediate into the verdict register.
	if imm, ok := e.(*expr.Immediate); ok && imm.Register == unix.NFT_REG_VERDICT && len(imm.Data) == 0 {
		v := &expr.Verdict{}
		if err := expr.Unmarshal(unix.NFPROTO_IPV4, data, v); err != nil {
			return nil, err
		}
		return v, nil
	}
	return e, nil
}

// decodeCt reads a ct load with the library, and a ct store's source
// register, which the library does not.
func decodeCt(data []byte) (expr.Any, error) {
	e := &expr.Ct{}
	if err := expr.Unmarshal(unix.NFPROTO_IPV4, data, e); err != nil {
		return nil, err
	}
	ad, err := netlink.NewAttributeDecoder(data)
	if err != nil {
		return nil, err
	}
	ad.ByteOrder = binary.BigEndian
	for ad.Next() {
		if ad.Type() == unix.NFTA_CT_SREG {
			e.Register, e.SourceRegister = ad.Uint32(), true
		}
	}
	return e, ad.Err()
}

func decodeRt(data []byte) (expr.Any, error) {
	ad, err := netlink.NewAttributeDecoder(data)
	if err != nil {
		return nil, err
	}
	ad.ByteOrder = binary.BigEndian
	e := &expr.Rt{}
	for ad.Next() {
		switch ad.Type() {
		case unix.NFTA_RT_DREG:
			e.Register = ad.Uint32()
		case unix.NFTA_RT_KEY:
			e.Key = expr.RtKey(ad.Uint32())
		}
	}
	return e, ad.Err()
}

func decodeByteorder(data []byte) (expr.Any, error) {
	ad, err := netlink.NewAttributeDecoder(data)
	if err != nil {
		return nil, err
	}
	ad.ByteOrder = binary.BigEndian
	e := &expr.Byteorder{}
	for ad.Next() {
		switch ad.Type() {
		case unix.NFTA_BYTEORDER_SREG:
			e.SourceRegister = ad.Uint32()
		case unix.NFTA_BYTEORDER_DREG:
			e.DestRegister = ad.Uint32()
		case unix.NFTA_BYTEORDER_OP:
			e.Op = expr.ByteorderOp(ad.Uint32())
		case unix.NFTA_BYTEORDER_LEN:
			e.Len = ad.Uint32()
		case unix.NFTA_BYTEORDER_SIZE:
			e.Size = ad.Uint32()
		}
	}
	return e, ad.Err()
}

// mapElement is one element of a verdict map: its key (and the end of
// its range, in an interval map) and the chain it jumps to or goes to
// ("" when its verdict is neither).
type mapElement struct {
	Key, KeyEnd []byte
	Chain, Goto string
}

// dumpMap lists the elements of one of pathpin's verdict maps.
func dumpMap(c *nlraw.Conn, set string) ([]mapElement, error) {
	attrs := nlraw.Attr(nil, unix.NFTA_SET_ELEM_LIST_TABLE, []byte(TableName+"\x00"))
	attrs = nlraw.Attr(attrs, unix.NFTA_SET_ELEM_LIST_SET, []byte(set+"\x00"))
	if err := c.Send(nftMsg(unix.NFT_MSG_GETSETELEM), unix.NLM_F_DUMP, unix.NFPROTO_IPV4, attrs); err != nil {
		return nil, fmt.Errorf("nftables: asking for map %s: %w", set, err)
	}
	var out []mapElement
	var derr error
	err := c.Each(func(_ uint16, attrs []byte) {
		ad, err := decoder(attrs)
		if err != nil {
			derr = err
			return
		}
		for ad.Next() {
			if ad.Type() != unix.NFTA_SET_ELEM_LIST_ELEMENTS {
				continue
			}
			ad.Nested(func(lad *netlink.AttributeDecoder) error {
				for lad.Next() {
					if lad.Type() != unix.NFTA_LIST_ELEM {
						continue
					}
					var el mapElement
					lad.Nested(func(ead *netlink.AttributeDecoder) error {
						for ead.Next() {
							switch ead.Type() {
							case unix.NFTA_SET_ELEM_KEY:
								el.Key = dataValue(ead)
							case nftables.NFTA_SET_ELEM_KEY_END:
								el.KeyEnd = dataValue(ead)
							case unix.NFTA_SET_ELEM_DATA:
								code, chain := verdictOf(ead.Bytes())
								switch code {
								case unix.NFT_JUMP:
									el.Chain = chain
								case unix.NFT_GOTO:
									el.Goto = chain
								}
							}
						}
						return nil
					})
					out = append(out, el)
				}
				return nil
			})
		}
		if err := ad.Err(); err != nil {
			derr = err
		}
	})
	if err == nil {
		err = derr
	}
	if err != nil {
		return nil, fmt.Errorf("nftables: reading map %s: %w", set, err)
	}
	return out, nil
}

// dataValue is the value (NFTA_DATA_VALUE) nested in the current
// attribute.
func dataValue(ad *netlink.AttributeDecoder) []byte {
	var v []byte
	ad.Nested(func(kad *netlink.AttributeDecoder) error {
		for kad.Next() {
			if kad.Type() == unix.NFTA_DATA_VALUE {
				v = kad.Bytes()
			}
		}
		return nil
	})
	return v
}

// verdictOf is a map element's verdict (NFTA_DATA_VERDICT): its code and
// the chain it names; code 0 when there is none or it does not decode.
func verdictOf(data []byte) (code int32, chain string) {
	ad, err := netlink.NewAttributeDecoder(data)
	if err != nil {
		return 0, ""
	}
	ad.ByteOrder = binary.BigEndian
	for ad.Next() {
		if ad.Type() != unix.NFTA_DATA_VERDICT {
			continue
		}
		ad.Nested(func(vad *netlink.AttributeDecoder) error {
			for vad.Next() {
				switch vad.Type() {
				case unix.NFTA_VERDICT_CODE:
					code = int32(vad.Uint32())
				case unix.NFTA_VERDICT_CHAIN:
					chain = vad.String()
				}
			}
			return nil
		})
	}
	if ad.Err() != nil {
		return 0, ""
	}
	return code, chain
}
