package nft

import (
	"testing"

	"github.com/google/nftables/expr"
	"golang.org/x/sys/unix"
)

// TestRuleRoundTrip: each rule kind decodes, from the expressions it
// builds as the kernel gives them back, into the same rule; the nft
// queue among them, which not every kernel runs.
func TestRuleRoundTrip(t *testing.T) {
	for _, r := range []Rule{
		{SrcPort: &L4Port{Proto: "udp", Port: 53}, CtReply: true, Queue: &QueueTo{Num: 5353}},
		{SrcPort: &L4Port{Proto: "tcp", Port: 53}, CtReply: true, Queue: &QueueTo{Num: 7}},
		{Cgroup: &CgroupMatch{Level: 2, ID: 1 << 40}, Mark: &MarkMatch{Mask: 0xff00}, Jump: "to_a"},
		{InDest: "domains_stream", Goto: "policy_stream"},
		{OIf: "lan0", SrcPort: &L4Port{Proto: "udp", Port: 53}, CtReply: true, Queue: &QueueTo{Num: 5353}},
		{InDest: "domains_bank", Classify: &Lookup{Set: "steer_lan.lan0/bank", Key: []Field{FieldSAddr, FieldDAddr, FieldProto, FieldDPort}}},
		{Cgroup: &CgroupMatch{Level: 2, ID: 77}, Classify: &Lookup{Set: "m", Key: []Field{FieldSAddr, FieldDAddr}}},
		{UDP: &UDPPorts{Src: 67, Dst: 68}, NoTrack: true},
		{DPort: &L4Port{Proto: "tcp", Port: 22}, Return: true},
	} {
		t.Run(r.String(), func(t *testing.T) {
			var es []expr.Any
			for _, e := range r.exprs(setIDs{}) {
				b, err := expr.Marshal(unix.NFPROTO_IPV4, e)
				if err != nil {
					t.Fatal(err)
				}
				w, ok := decodeElem(b)
				if !ok {
					t.Fatalf("%T does not decode", e)
				}
				es = append(es, w.e)
			}
			got, err := decode(es, nil)
			if err != nil {
				t.Fatalf("decode: %v", err)
			}
			if !got.same(r) {
				t.Errorf("read back as %q, want %q", got.String(), r.String())
			}
		})
	}
}
