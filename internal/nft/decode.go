package nft

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"net/netip"

	"github.com/google/nftables/binaryutil"
	"github.com/google/nftables/expr"
	"golang.org/x/sys/unix"
)

var errForeign = errors.New("not a rule pathpin writes")

// decode reads the kernel's expressions of one rule back into the model.
// slots gives a verdict map's elements by set name. Anything pathpin would
// not have written is errForeign.
func decode(es []expr.Any, slots func(set string) ([]Slot, uint32, error)) (Rule, error) {
	var r Rule
	for i := 0; i < len(es); {
		if m, ok := es[i].(*expr.Meta); ok && m.Key == expr.MetaKeyIIFTYPE && isClassify(es[min(i+2, len(es)):]) {
			// meta iiftype ether, the test before a source MAC.
			n, err := decodeClassify(es[i+2:], &r)
			if err != nil {
				return r, err
			}
			i += 2 + n
			continue
		}
		if isClassify(es[i:]) {
			n, err := decodeClassify(es[i:], &r)
			if err != nil {
				return r, err
			}
			i += n
			continue
		}
		switch e := es[i].(type) {
		case *expr.Meta:
			switch {
			case e.Key == expr.MetaKeyIIFNAME || e.Key == expr.MetaKeyOIFNAME:
				c, ok := next(es, i+1).(*expr.Cmp)
				if !ok || c.Op != expr.CmpOpEq {
					return r, errForeign
				}
				name := string(bytes.TrimRight(c.Data, "\x00"))
				if e.Key == expr.MetaKeyIIFNAME {
					r.IIf = name
				} else {
					r.OIf = name
				}
				i += 2
			case e.Key == expr.MetaKeyMARK && !e.SourceRegister:
				n, err := markOp(es[i+1:], &r.Mark, &r.SetMark, func(x expr.Any) bool {
					ms, ok := x.(*expr.Meta)
					return ok && ms.Key == expr.MetaKeyMARK && ms.SourceRegister
				})
				if err != nil {
					return r, err
				}
				i += 1 + n
			case e.Key == expr.MetaKeyL4PROTO:
				c, ok := next(es, i+1).(*expr.Cmp)
				if !ok || len(c.Data) != 1 {
					return r, errForeign
				}
				// A port alone: tcp dport N, udp sport N.
				pair := false
				if p, ok := next(es, i+4).(*expr.Payload); ok && p.Base == expr.PayloadBaseTransportHeader && p.Offset == 2 {
					// udp sport N udp dport M: the pair below.
					pair = true
				}
				if p, ok := next(es, i+2).(*expr.Payload); ok && !pair && p.Base == expr.PayloadBaseTransportHeader && (p.Offset == 2 || p.Offset == 0) {
					port, ok := next(es, i+3).(*expr.Cmp)
					if !ok || len(port.Data) != 2 {
						return r, errForeign
					}
					lp := &L4Port{Proto: "tcp", Port: binaryutil.BigEndian.Uint16(port.Data)}
					if c.Data[0] == unix.IPPROTO_UDP {
						lp.Proto = "udp"
					}
					if p.Offset == 2 {
						r.DPort = lp
					} else {
						r.SrcPort = lp
					}
					i += 4
					break
				}
				switch c.Data[0] {
				case unix.IPPROTO_TCP:
					if len(es) < i+5 {
						return r, errForeign
					}
					r.TCPSyn = true
					i += 5
				case unix.IPPROTO_UDP:
					src, ok1 := next(es, i+3).(*expr.Cmp)
					dst, ok2 := next(es, i+5).(*expr.Cmp)
					if !ok1 || !ok2 || len(src.Data) != 2 || len(dst.Data) != 2 {
						return r, errForeign
					}
					r.UDP = &UDPPorts{Src: binaryutil.BigEndian.Uint16(src.Data), Dst: binaryutil.BigEndian.Uint16(dst.Data)}
					i += 6
				default:
					return r, errForeign
				}
			default:
				return r, errForeign
			}
		case *expr.Payload:
			if e.Base == expr.PayloadBaseNetworkHeader && e.Offset == 16 {
				// ip daddr @set: a domain policy's addresses.
				x, ok := next(es, i+1).(*expr.Lookup)
				if !ok || x.IsDestRegSet || x.Invert {
					return r, errForeign
				}
				r.InDest = x.SetName
				i += 2
				continue
			}
			if e.Base != expr.PayloadBaseNetworkHeader || e.Offset != 12 {
				return r, errForeign
			}
			switch x := next(es, i+1).(type) {
			case *expr.Lookup:
				if x.IsDestRegSet || x.Invert {
					return r, errForeign
				}
				r.InSticky = x.SetName
				i += 2
				continue
			case *expr.Dynset:
				if x.Operation != unix.NFT_DYNSET_OP_UPDATE || x.Invert || len(x.Exprs) > 0 {
					return r, errForeign
				}
				r.Stick = &Stick{Set: x.SetName, Timeout: x.Timeout}
				i += 2
				continue
			}
			if b, ok := next(es, i+1).(*expr.Bitwise); ok {
				// A prefix: the address masked, then compared.
				c, ok := next(es, i+2).(*expr.Cmp)
				if !ok || len(b.Mask) != 4 || len(c.Data) != 4 {
					return r, errForeign
				}
				ones, bits := net.IPMask(b.Mask).Size()
				if bits != 32 {
					return r, errForeign
				}
				r.SNet = netip.PrefixFrom(netip.AddrFrom4([4]byte(c.Data)), ones)
				i += 3
				break
			}
			c, ok := next(es, i+1).(*expr.Cmp)
			if !ok || len(c.Data) != 4 {
				return r, errForeign
			}
			r.SAddr = netip.AddrFrom4([4]byte(c.Data))
			i += 2
		case *expr.Socket:
			c, ok := next(es, i+1).(*expr.Cmp)
			if e.Key != expr.SocketKeyCgroupv2 || !ok || c.Op != expr.CmpOpEq || len(c.Data) != 8 {
				return r, errForeign
			}
			r.Cgroup = &CgroupMatch{Level: e.Level, ID: binaryutil.NativeEndian.Uint64(c.Data)}
			i += 2
		case *expr.Queue:
			if e.Flag != expr.QueueFlagBypass || e.Total != 1 {
				return r, errForeign
			}
			r.Queue = &QueueTo{Num: e.Num}
			i++
		case *expr.Ct:
			switch e.Key {
			case expr.CtKeyDIRECTION:
				c, ok := next(es, i+1).(*expr.Cmp)
				if !ok || c.Op != expr.CmpOpEq || len(c.Data) != 1 || c.Data[0] != ctDirReply {
					return r, errForeign
				}
				r.CtReply = true
				i += 2
			case expr.CtKeySTATE:
				b, ok := next(es, i+1).(*expr.Bitwise)
				if !ok || len(b.Mask) != 4 {
					return r, errForeign
				}
				switch binaryutil.NativeEndian.Uint32(b.Mask) {
				case ctStateNew:
					r.CtNew = true
				case ctStateBad:
					r.CtBad = true
				default:
					return r, errForeign
				}
				i += 3
			case expr.CtKeySTATUS:
				r.CtDNAT = true
				i += 3
			case expr.CtKeyMARK:
				if e.SourceRegister {
					return r, errForeign
				}
				n, err := markOp(es[i+1:], &r.CtMark, &r.SetCtMark, func(x expr.Any) bool {
					cs, ok := x.(*expr.Ct)
					return ok && cs.Key == expr.CtKeyMARK && cs.SourceRegister
				})
				if err != nil {
					return r, err
				}
				i += 1 + n
			default:
				return r, errForeign
			}
		case *expr.Counter:
			r.Counter, r.Packets, r.Bytes = true, e.Packets, e.Bytes
			i++
		case *expr.Verdict:
			switch e.Kind {
			case expr.VerdictDrop:
				r.Drop = true
			case expr.VerdictReturn:
				r.Return = true
			case expr.VerdictJump:
				r.Jump = e.Chain
			case expr.VerdictGoto:
				r.Goto = e.Chain
			default:
				return r, errForeign
			}
			i++
		case *expr.Numgen:
			_, turned := next(es, i+1).(*expr.Byteorder)
			l, ok := next(es, i+2).(*expr.Lookup)
			if !turned || !ok {
				return r, errForeign
			}
			s, mod, err := slots(l.SetName)
			if err != nil {
				return r, err
			}
			if mod != e.Modulus {
				return r, fmt.Errorf("%w: the balance map holds %d numbers for modulus %d", errForeign, mod, e.Modulus)
			}
			r.Modulus, r.Balance = e.Modulus, s
			i += 3
		case *expr.Rt:
			// The route's MSS, turned around and written into the option.
			_, turned := next(es, i+1).(*expr.Byteorder)
			x, ok := next(es, i+2).(*expr.Exthdr)
			if e.Key != expr.RtTCPMSS || !turned || !ok || x.Op != expr.ExthdrOpTcpopt {
				return r, errForeign
			}
			r.ClampMSS = -1
			i += 3
		case *expr.Immediate:
			switch n := next(es, i+1).(type) {
			case *expr.Exthdr:
				if len(e.Data) != 2 {
					return r, errForeign
				}
				r.ClampMSS = int(binaryutil.BigEndian.Uint16(e.Data))
			case *expr.NAT:
				if len(e.Data) != 4 || n.Type != expr.NATTypeSourceNAT {
					return r, errForeign
				}
				r.SNAT = netip.AddrFrom4([4]byte(e.Data))
			default:
				return r, errForeign
			}
			i += 2
		case *expr.Masq:
			r.Masquerade = true
			i++
		case *expr.Notrack:
			r.NoTrack = true
			i++
		default:
			return r, errForeign
		}
	}
	return r, nil
}

// isClassify reports whether es starts a classification lookup: field
// loads up to a map lookup that sets the verdict, nothing else between.
func isClassify(es []expr.Any) bool {
	for i, e := range es {
		if l, ok := e.(*expr.Lookup); ok {
			return i > 0 && l.IsDestRegSet
		}
		if _, _, ok := fieldOf(e); !ok {
			return false
		}
	}
	return false
}

// decodeClassify reads a classification lookup: the key's fields loaded
// side by side, then the map looked up. n is how many expressions it took.
func decodeClassify(es []expr.Any, r *Rule) (n int, err error) {
	l := &Lookup{}
	for ; n < len(es); n++ {
		if x, ok := es[n].(*expr.Lookup); ok {
			if !x.IsDestRegSet || x.SourceRegister != regAt(0) || len(l.Key) == 0 {
				return 0, errForeign
			}
			l.Set = x.SetName
			r.Classify = l
			return n + 1, nil
		}
		f, _, ok := fieldOf(es[n])
		if !ok {
			return 0, errForeign
		}
		l.Key = append(l.Key, f)
	}
	return 0, errForeign
}

// markOp reads what follows a mark load (meta or ct): a match into
// *match, or a set, ending in the store isStore accepts, into *set. It
// returns how many expressions it read after the load.
func markOp(es []expr.Any, match **MarkMatch, set **MarkSet, isStore func(expr.Any) bool) (int, error) {
	m, s, n, err := decodeMark(es)
	if err != nil {
		return 0, err
	}
	if s == nil {
		*match = m
		return n, nil
	}
	if !isStore(next(es, n)) {
		return 0, errForeign
	}
	*set = s
	return n + 1, nil
}

// decodeMark reads what follows a mark load: a mask and compare (a
// match), or a mask and xor (a set). n is how many expressions it took.
func decodeMark(es []expr.Any) (m *MarkMatch, set *MarkSet, n int, err error) {
	if len(es) < 1 {
		return nil, nil, 0, errForeign
	}
	b, ok := es[0].(*expr.Bitwise)
	if !ok || len(b.Mask) != 4 || len(b.Xor) != 4 {
		return nil, nil, 0, errForeign
	}
	mask, xor := binaryutil.NativeEndian.Uint32(b.Mask), binaryutil.NativeEndian.Uint32(b.Xor)
	if c, ok := next(es, 1).(*expr.Cmp); ok && len(c.Data) == 4 {
		return &MarkMatch{Mask: mask, Value: binaryutil.NativeEndian.Uint32(c.Data), Not: c.Op == expr.CmpOpNeq}, nil, 2, nil
	}
	return nil, &MarkSet{Mask: ^mask, Value: xor}, 1, nil
}

func next(es []expr.Any, i int) expr.Any {
	if i < len(es) {
		return es[i]
	}
	return nil
}
