package nft

import (
	"net"
	"slices"

	"github.com/google/nftables/binaryutil"
	"github.com/google/nftables/expr"
	"golang.org/x/sys/unix"
)

// Register 1 is the only one pathpin's rules use (4 bytes, and 16 for an
// interface name spread over 1-4).
const reg = 1

// ctStateNew is conntrack's NEW bit as nft's ct state tests it.
const ctStateNew = 1 << 3

// ctStateBad is conntrack's INVALID and UNTRACKED bits.
const ctStateBad = 1<<0 | 1<<6

// ctDirReply is IP_CT_DIR_REPLY, as ct direction loads it.
const ctDirReply = 1

// l4proto is the protocol number of "tcp" or "udp".
func l4proto(name string) byte {
	if name == "udp" {
		return unix.IPPROTO_UDP
	}
	return unix.IPPROTO_TCP
}

// ctStatusDNAT is IPS_DST_NAT, the status bit of a destination-NATed
// connection.
const ctStatusDNAT = 1 << 5

// balanceMap is the anonymous verdict map a balance rule looks up: its
// name and its id in the transaction that makes it.
type balanceMap struct {
	name string
	id   uint32
}

// setIDs are the ids, in the transaction that makes them, of the sets a
// rule looks up: its balance map and the named sets (none when a rule read
// back is built again for comparison, which leaves ids out).
type setIDs struct {
	balance balanceMap
	named   map[string]uint32
}

// exprs builds the rule's expressions; a balance rule looks its slots up
// in ids.balance.
func (r Rule) exprs(ids setIDs) []expr.Any {
	set := ids.balance
	var e []expr.Any
	if r.IIf != "" {
		e = append(e, &expr.Meta{Key: expr.MetaKeyIIFNAME, Register: reg}, &expr.Cmp{Op: expr.CmpOpEq, Register: reg, Data: ifname(r.IIf)})
	}
	if r.OIf != "" {
		e = append(e, &expr.Meta{Key: expr.MetaKeyOIFNAME, Register: reg}, &expr.Cmp{Op: expr.CmpOpEq, Register: reg, Data: ifname(r.OIf)})
	}
	if r.SAddr.IsValid() {
		a := r.SAddr.As4()
		e = append(e, &expr.Payload{DestRegister: reg, Base: expr.PayloadBaseNetworkHeader, Offset: 12, Len: 4},
			&expr.Cmp{Op: expr.CmpOpEq, Register: reg, Data: a[:]})
	}
	if r.SNet.IsValid() {
		a, m := r.SNet.Masked().Addr().As4(), net.CIDRMask(r.SNet.Bits(), 32)
		e = append(e, &expr.Payload{DestRegister: reg, Base: expr.PayloadBaseNetworkHeader, Offset: 12, Len: 4},
			&expr.Bitwise{SourceRegister: reg, DestRegister: reg, Len: 4, Mask: m, Xor: []byte{0, 0, 0, 0}},
			&expr.Cmp{Op: expr.CmpOpEq, Register: reg, Data: a[:]})
	}
	if r.CtNew {
		e = append(e, &expr.Ct{Key: expr.CtKeySTATE, Register: reg},
			&expr.Bitwise{SourceRegister: reg, DestRegister: reg, Len: 4, Mask: native(ctStateNew), Xor: native(0)},
			&expr.Cmp{Op: expr.CmpOpNeq, Register: reg, Data: native(0)})
	}
	if r.CtBad {
		e = append(e, &expr.Ct{Key: expr.CtKeySTATE, Register: reg},
			&expr.Bitwise{SourceRegister: reg, DestRegister: reg, Len: 4, Mask: native(ctStateBad), Xor: native(0)},
			&expr.Cmp{Op: expr.CmpOpNeq, Register: reg, Data: native(0)})
	}
	if r.CtReply {
		e = append(e, &expr.Ct{Key: expr.CtKeyDIRECTION, Register: reg},
			&expr.Cmp{Op: expr.CmpOpEq, Register: reg, Data: []byte{ctDirReply}})
	}
	if r.CtDNAT {
		e = append(e, &expr.Ct{Key: expr.CtKeySTATUS, Register: reg},
			&expr.Bitwise{SourceRegister: reg, DestRegister: reg, Len: 4, Mask: native(ctStatusDNAT), Xor: native(0)},
			&expr.Cmp{Op: expr.CmpOpNeq, Register: reg, Data: native(0)})
	}
	if m := r.CtMark; m != nil {
		e = append(e, &expr.Ct{Key: expr.CtKeyMARK, Register: reg})
		e = append(e, markMatch(*m)...)
	}
	if m := r.Mark; m != nil {
		e = append(e, &expr.Meta{Key: expr.MetaKeyMARK, Register: reg})
		e = append(e, markMatch(*m)...)
	}
	if r.TCPSyn {
		e = append(e, &expr.Meta{Key: expr.MetaKeyL4PROTO, Register: reg}, &expr.Cmp{Op: expr.CmpOpEq, Register: reg, Data: []byte{unix.IPPROTO_TCP}},
			&expr.Payload{DestRegister: reg, Base: expr.PayloadBaseTransportHeader, Offset: 13, Len: 1},
			&expr.Bitwise{SourceRegister: reg, DestRegister: reg, Len: 1, Mask: []byte{0x06}, Xor: []byte{0}},
			&expr.Cmp{Op: expr.CmpOpEq, Register: reg, Data: []byte{0x02}})
	}
	if u := r.UDP; u != nil {
		e = append(e, &expr.Meta{Key: expr.MetaKeyL4PROTO, Register: reg}, &expr.Cmp{Op: expr.CmpOpEq, Register: reg, Data: []byte{unix.IPPROTO_UDP}},
			&expr.Payload{DestRegister: reg, Base: expr.PayloadBaseTransportHeader, Offset: 0, Len: 2},
			&expr.Cmp{Op: expr.CmpOpEq, Register: reg, Data: binaryutil.BigEndian.PutUint16(u.Src)},
			&expr.Payload{DestRegister: reg, Base: expr.PayloadBaseTransportHeader, Offset: 2, Len: 2},
			&expr.Cmp{Op: expr.CmpOpEq, Register: reg, Data: binaryutil.BigEndian.PutUint16(u.Dst)})
	}
	if d := r.DPort; d != nil {
		e = append(e, &expr.Meta{Key: expr.MetaKeyL4PROTO, Register: reg}, &expr.Cmp{Op: expr.CmpOpEq, Register: reg, Data: []byte{l4proto(d.Proto)}},
			&expr.Payload{DestRegister: reg, Base: expr.PayloadBaseTransportHeader, Offset: 2, Len: 2},
			&expr.Cmp{Op: expr.CmpOpEq, Register: reg, Data: binaryutil.BigEndian.PutUint16(d.Port)})
	}
	if d := r.SrcPort; d != nil {
		e = append(e, &expr.Meta{Key: expr.MetaKeyL4PROTO, Register: reg}, &expr.Cmp{Op: expr.CmpOpEq, Register: reg, Data: []byte{l4proto(d.Proto)}},
			&expr.Payload{DestRegister: reg, Base: expr.PayloadBaseTransportHeader, Offset: 0, Len: 2},
			&expr.Cmp{Op: expr.CmpOpEq, Register: reg, Data: binaryutil.BigEndian.PutUint16(d.Port)})
	}
	if c := r.Cgroup; c != nil {
		e = append(e, &expr.Socket{Key: expr.SocketKeyCgroupv2, Level: c.Level, Register: reg},
			&expr.Cmp{Op: expr.CmpOpEq, Register: reg, Data: binaryutil.NativeEndian.PutUint64(c.ID)})
	}
	if r.InDest != "" {
		e = append(e, FieldDAddr.load(reg), &expr.Lookup{SourceRegister: reg, SetName: r.InDest, SetID: ids.named[r.InDest]})
	}
	if l := r.Classify; l != nil {
		// A source MAC is read only from an Ethernet header: the test
		// nft itself puts before ether saddr (meta iiftype ether).
		if slices.Contains(l.Key, FieldEtherSrc) {
			e = append(e, &expr.Meta{Key: expr.MetaKeyIIFTYPE, Register: reg},
				&expr.Cmp{Op: expr.CmpOpEq, Register: reg, Data: binaryutil.NativeEndian.PutUint16(unix.ARPHRD_ETHER)})
		}
		// Each field into the registers after the last one's, so that
		// the key lies in them as the map's elements do.
		w := uint32(0)
		for _, f := range l.Key {
			e = append(e, f.load(regAt(w)))
			w += uint32(f.words())
		}
		e = append(e, &expr.Lookup{SourceRegister: regAt(0), DestRegister: 0, IsDestRegSet: true, SetName: l.Set, SetID: ids.named[l.Set]})
	}
	if r.InSticky != "" {
		e = append(e, FieldSAddr.load(reg), &expr.Lookup{SourceRegister: reg, SetName: r.InSticky, SetID: ids.named[r.InSticky]})
	}
	if s := r.Stick; s != nil {
		e = append(e, FieldSAddr.load(reg), &expr.Dynset{SrcRegKey: reg, SetName: s.Set, SetID: ids.named[s.Set],
			Operation: unix.NFT_DYNSET_OP_UPDATE, Timeout: s.Timeout})
	}
	switch {
	case r.SetMark != nil:
		e = append(e, &expr.Meta{Key: expr.MetaKeyMARK, Register: reg}, markSet(*r.SetMark),
			&expr.Meta{Key: expr.MetaKeyMARK, SourceRegister: true, Register: reg})
	case r.SetCtMark != nil:
		e = append(e, &expr.Ct{Key: expr.CtKeyMARK, Register: reg}, markSet(*r.SetCtMark),
			&expr.Ct{Key: expr.CtKeyMARK, SourceRegister: true, Register: reg})
	}
	if r.Counter {
		e = append(e, &expr.Counter{})
	}
	switch {
	case r.Drop:
		e = append(e, &expr.Verdict{Kind: expr.VerdictDrop})
	case r.Return:
		e = append(e, &expr.Verdict{Kind: expr.VerdictReturn})
	case r.Jump != "":
		e = append(e, &expr.Verdict{Kind: expr.VerdictJump, Chain: r.Jump})
	case r.Goto != "":
		e = append(e, &expr.Verdict{Kind: expr.VerdictGoto, Chain: r.Goto})
	case r.Queue != nil:
		e = append(e, &expr.Queue{Num: r.Queue.Num, Total: 1, Flag: expr.QueueFlagBypass})
	case len(r.Balance) > 0:
		// The map's keys are big-endian, as nft lists an anonymous map's
		// integers: the random number is turned around before the lookup.
		e = append(e, &expr.Numgen{Register: reg, Modulus: r.Modulus, Type: unix.NFT_NG_RANDOM},
			&expr.Byteorder{SourceRegister: reg, DestRegister: reg, Op: expr.ByteorderHton, Len: 4, Size: 4},
			&expr.Lookup{SourceRegister: reg, DestRegister: 0, IsDestRegSet: true, SetName: set.name, SetID: set.id})
	case r.ClampMSS < 0:
		e = append(e, &expr.Rt{Register: reg, Key: expr.RtTCPMSS},
			&expr.Byteorder{SourceRegister: reg, DestRegister: reg, Op: expr.ByteorderHton, Len: 2, Size: 2},
			&expr.Exthdr{SourceRegister: reg, Type: 2, Offset: 2, Len: 2, Op: expr.ExthdrOpTcpopt})
	case r.ClampMSS > 0:
		e = append(e, &expr.Immediate{Register: reg, Data: binaryutil.BigEndian.PutUint16(uint16(r.ClampMSS))},
			&expr.Exthdr{SourceRegister: reg, Type: 2, Offset: 2, Len: 2, Op: expr.ExthdrOpTcpopt})
	case r.SNAT.IsValid():
		a := r.SNAT.As4()
		e = append(e, &expr.Immediate{Register: reg, Data: a[:]},
			&expr.NAT{Type: expr.NATTypeSourceNAT, Family: unix.NFPROTO_IPV4, RegAddrMin: reg, RegAddrMax: reg})
	case r.Masquerade:
		e = append(e, &expr.Masq{})
	case r.NoTrack:
		e = append(e, &expr.Notrack{})
	}
	return e
}

// markMatch compares the loaded mark: (mark & Mask) ==/!= Value.
func markMatch(m MarkMatch) []expr.Any {
	op := expr.CmpOpEq
	if m.Not {
		op = expr.CmpOpNeq
	}
	return []expr.Any{
		&expr.Bitwise{SourceRegister: reg, DestRegister: reg, Len: 4, Mask: native(m.Mask), Xor: native(0)},
		&expr.Cmp{Op: op, Register: reg, Data: native(m.Value)},
	}
}

// markSet turns the loaded mark into (mark & ^Mask) | Value.
func markSet(m MarkSet) expr.Any {
	return &expr.Bitwise{SourceRegister: reg, DestRegister: reg, Len: 4, Mask: native(^m.Mask), Xor: native(m.Value & m.Mask)}
}

// native is a 32-bit value in host byte order, as marks and numgen's
// numbers are kept in registers.
func native(v uint32) []byte { return binaryutil.NativeEndian.PutUint32(v) }

// ifname is an interface name as nft compares it: NUL-padded to 16 bytes.
func ifname(name string) []byte {
	b := make([]byte, unix.IFNAMSIZ)
	copy(b, name)
	return b
}

// slotKeys expands a balance's slots into one map key per number.
func slotKeys(slots []Slot) []struct {
	key   uint32
	chain string
} {
	var out []struct {
		key   uint32
		chain string
	}
	for _, s := range slots {
		for k := s.From; k <= s.To; k++ {
			out = append(out, struct {
				key   uint32
				chain string
			}{k, s.Chain})
		}
	}
	return out
}
