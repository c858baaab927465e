// Package nft is pathpin's firewall on nftables, through netlink with no
// exec: one table (ip pathpin) holding every chain pathpin needs, written
// in one atomic transaction and read back structurally.
//
// Each rule is described by a small model (Rule). The model renders to nft
// syntax for `pathpin plan` and builds the rule's expressions. Reading back
// decodes the kernel's expressions into the model, builds them again from
// it and compares the two byte for byte: a rule pathpin did not write, or
// one changed behind its back, reads as foreign, and the next apply
// rewrites the table.
package nft

import (
	"net/netip"
	"slices"
	"time"
)

// TableName is pathpin's table, in the ip family (pathpin handles IPv4).
const TableName = "pathpin"

// Table is the whole of pathpin's table.
type Table struct {
	Chains []Chain
	// Sets are the named sets the rules look up, by name.
	Sets []Set
}

// Chain is one chain; Hook is empty for a regular chain (jump target).
type Chain struct {
	Name string
	// Type, Hook and Priority make a base chain: e.g. filter, prerouting,
	// -150 (mangle).
	Type     string
	Hook     string
	Priority int
	Rules    []Rule
}

// MarkMatch matches (mark & Mask) == Value, or != with Not.
type MarkMatch struct {
	Mask, Value uint32
	Not         bool
}

// MarkSet sets the bits of Mask to Value and keeps the others:
// mark = (mark & ^Mask) | Value.
type MarkSet struct {
	Mask, Value uint32
}

// UDPPorts are a UDP datagram's source and destination ports.
type UDPPorts struct {
	Src, Dst uint16
}

// L4Port is a TCP or UDP destination port.
type L4Port struct {
	Proto string // tcp or udp
	Port  uint16
}

// Slot is one share of the balance: new connections whose random number
// falls in [From, To] jump to Chain.
type Slot struct {
	From, To uint32
	Chain    string
}

// Rule is one rule: its matches (zero values match everything), then a
// mark set, a verdict or another action; a mark set may be followed by
// Return.
type Rule struct {
	IIf   string
	OIf   string
	SAddr netip.Addr
	// SNet matches a source address in a prefix shorter than /32.
	SNet  netip.Prefix
	CtNew bool
	// CtBad matches packets conntrack could not place (invalid) or was
	// told to leave alone (untracked): ct state invalid,untracked.
	CtBad bool
	// CtDNAT matches connections the kernel destination-NATed (port
	// forwards, whichever tool made them): ct status dnat.
	CtDNAT bool
	CtMark *MarkMatch
	Mark   *MarkMatch
	// TCPSyn matches TCP segments with SYN and without RST.
	TCPSyn bool
	// UDP matches UDP datagrams between these ports.
	UDP *UDPPorts
	// DPort matches TCP or UDP to a destination port.
	DPort *L4Port

	// Classify looks the connection up in a classification map by the
	// map's key; the element found goes to its chain.
	Classify *Lookup
	// InSticky matches a source address held in the sticky set named.
	InSticky string
	// Stick adds the source address to a sticky set, or refreshes its
	// timeout there.
	Stick *Stick
	// InDest matches a destination address held in the named set (a
	// domain policy's addresses).
	InDest string
	// Cgroup matches the router's own packets whose socket was made in a
	// cgroup: its ancestor at Level is the cgroup with ID (socket
	// cgroupv2).
	Cgroup *CgroupMatch
	// SrcPort matches TCP or UDP from a source port.
	SrcPort *L4Port
	// CtReply matches packets that go in the reply direction of their
	// connection (ct direction reply).
	CtReply bool

	SetMark   *MarkSet
	SetCtMark *MarkSet
	Return    bool
	Jump      string
	// Goto continues in another chain and does not come back.
	Goto string
	// Queue hands the packet to the program reading that nfqueue number;
	// with none reading it, the packet goes on (bypass).
	Queue *QueueTo
	// Balance: numgen random mod Modulus, looked up in a verdict map.
	Modulus uint32
	Balance []Slot
	// ClampMSS: -1 clamps to the route's MTU, above 0 sets that MSS.
	ClampMSS   int
	SNAT       netip.Addr
	Masquerade bool
	// NoTrack keeps the packet out of connection tracking (and so out of
	// NAT).
	NoTrack bool
	// Drop drops the packet.
	Drop bool
	// Counter counts the packets the rule matches; Packets and Bytes are
	// the counts read back (never compared).
	Counter        bool
	Packets, Bytes uint64

	// Comment says why; plan shows it, the kernel is not given it.
	Comment string
	// Foreign is a rule read back that pathpin did not write (or that was
	// changed): Text is what it is.
	Foreign bool
	Text    string
}

// Lookup names a classification map and the fields of its key.
type Lookup struct {
	Set string
	Key []Field
}

// CgroupMatch is a cgroup v2 by its ID (its directory's inode number)
// and its level in the hierarchy (the root is 0).
type CgroupMatch struct {
	Level uint32
	ID    uint64
	// Path is the cgroup's path, for plan (not compared).
	Path string
}

// QueueTo is an nfqueue number.
type QueueTo struct {
	Num uint16
}

// Stick names a sticky set and how long an entry it adds lives.
type Stick struct {
	Set     string
	Timeout time.Duration
}

// Set returns the named set, if the table has it.
func (t *Table) Set(name string) (*Set, bool) {
	for i := range t.Sets {
		if t.Sets[i].Name == name {
			return &t.Sets[i], true
		}
	}
	return nil, false
}

// Clone copies t's chains and rules, so that a caller may change them.
func (t *Table) Clone() *Table {
	if t == nil {
		return nil
	}
	out := &Table{Chains: slices.Clone(t.Chains), Sets: slices.Clone(t.Sets)}
	for i := range out.Chains {
		out.Chains[i].Rules = slices.Clone(out.Chains[i].Rules)
	}
	return out
}
