package nft

import (
	"net/netip"
	"time"
)

// Supported reports whether the kernel runs everything pathpin's table
// uses (marks, conntrack, numgen, the TCP option write, NAT, a policy's
// concatenated interval map and sticky set): a table with one rule of each
// kind is validated and never takes effect. nf_tables
// alone is not enough; its expressions are modules of their own.
func (c *Conn) Supported() error { return c.Check(probeTable()) }

func probeTable() *Table {
	m := uint32(0xff00)
	key := []Field{FieldEtherSrc, FieldSAddr, FieldDAddr, FieldProto, FieldDPort}
	from, to := make([]byte, KeyLen(key)), make([]byte, KeyLen(key))
	for i := range to {
		to[i] = 0xff
	}
	return &Table{Sets: []Set{
		// A policy's classification map (a concatenation with ranges:
		// nft_set_pipapo) and a sticky set (a dynamic set with timeouts).
		{Name: "steer", Key: key, Elems: []Elem{{From: from, To: to, Goto: "to_a"}}},
		{Name: "sticky", Timeout: time.Minute},
	}, Chains: []Chain{
		{Name: "steer_lo", Rules: []Rule{{Classify: &Lookup{Set: "steer", Key: key}}}},
		{Name: "stick", Rules: []Rule{{InSticky: "sticky", Stick: &Stick{Set: "sticky", Timeout: time.Minute}, Jump: "to_a"}}},
		{Name: "to_a", Rules: []Rule{{SetMark: &MarkSet{Mask: m, Value: 0x100}}}},
		{Name: "balance", Rules: []Rule{{Mark: &MarkMatch{Mask: m}, Modulus: 1, Balance: []Slot{{0, 0, "to_a"}}}}},
		{Name: "prerouting", Type: "filter", Hook: "prerouting", Priority: -150, Rules: []Rule{
			{CtMark: &MarkMatch{Mask: m, Value: 0x100}, SetMark: &MarkSet{Mask: m, Value: 0x100}},
			{IIf: "lo", CtNew: true, Jump: "balance"},
			{Mark: &MarkMatch{Mask: m, Value: 0x100}, SetCtMark: &MarkSet{Mask: m, Value: 0x100}},
		}},
		{Name: "output", Type: "route", Hook: "output", Priority: -150, Rules: []Rule{
			{SAddr: netip.MustParseAddr("192.0.2.1"), Return: true}}},
		{Name: "forward", Type: "filter", Hook: "forward", Priority: -150, Rules: []Rule{
			{OIf: "lo", TCPSyn: true, ClampMSS: -1}, {OIf: "lo", TCPSyn: true, ClampMSS: 1452}}},
		{Name: "filter_forward", Type: "filter", Hook: "forward", Priority: 0, Rules: []Rule{
			{IIf: "lo", SNet: netip.MustParsePrefix("10.0.0.0/8"), Counter: true, Drop: true},
			{IIf: "lo", CtNew: true, CtDNAT: true, Return: true},
			{IIf: "lo", CtNew: true, DPort: &L4Port{Proto: "tcp", Port: 22}, Counter: true, Drop: true}}},
		{Name: "raw_output", Type: "filter", Hook: "output", Priority: -300, Rules: []Rule{
			{OIf: "lo", UDP: &UDPPorts{Src: 68, Dst: 67}, NoTrack: true}}},
		{Name: "postrouting", Type: "nat", Hook: "postrouting", Priority: 100, Rules: []Rule{
			{OIf: "lo", SNAT: netip.MustParseAddr("192.0.2.1")}, {OIf: "lo", Masquerade: true}}},
	}}
}
