package daemon

import (
	"encoding/binary"
	"errors"
	"log/slog"
	"net/netip"
	"testing"
	"time"

	"github.com/pathpin/pathpin/internal/config"
	"github.com/pathpin/pathpin/internal/nft"
	"golang.org/x/net/dns/dnsmessage"
)

// fakeFiller records the fills it is given; err fails them.
type fakeFiller struct {
	fills [][]nft.Fill
	err   error
}

func (f *fakeFiller) FillSets(fills []nft.Fill) error {
	f.fills = append(f.fills, fills)
	return f.err
}

// answerPacket is an IPv4/UDP packet from port 53 holding an answer for
// question: each of as an A record of ttl seconds, behind cname when
// given.
func answerPacket(t *testing.T, question, cname string, ttl uint32, as ...string) []byte {
	t.Helper()
	b := dnsmessage.NewBuilder(nil, dnsmessage.Header{ID: 1, Response: true, RCode: dnsmessage.RCodeSuccess})
	_ = b.StartQuestions()
	q := dnsmessage.MustNewName(question + ".")
	_ = b.Question(dnsmessage.Question{Name: q, Type: dnsmessage.TypeA, Class: dnsmessage.ClassINET})
	_ = b.StartAnswers()
	owner := q
	if cname != "" {
		target := dnsmessage.MustNewName(cname + ".")
		_ = b.CNAMEResource(dnsmessage.ResourceHeader{Name: q, Class: dnsmessage.ClassINET, TTL: ttl}, dnsmessage.CNAMEResource{CNAME: target})
		owner = target
	}
	for _, a := range as {
		_ = b.AResource(dnsmessage.ResourceHeader{Name: owner, Class: dnsmessage.ClassINET, TTL: ttl}, dnsmessage.AResource{A: netip.MustParseAddr(a).As4()})
	}
	msg, err := b.Finish()
	if err != nil {
		t.Fatal(err)
	}
	pkt := make([]byte, 28+len(msg))
	pkt[0], pkt[9] = 0x45, 17
	binary.BigEndian.PutUint16(pkt[2:], uint16(len(pkt)))
	copy(pkt[12:], []byte{192, 0, 2, 53})
	copy(pkt[16:], []byte{10, 0, 0, 2})
	binary.BigEndian.PutUint16(pkt[20:], 53)
	binary.BigEndian.PutUint16(pkt[22:], 40000)
	binary.BigEndian.PutUint16(pkt[24:], uint16(8+len(msg)))
	copy(pkt[28:], msg)
	return pkt
}

func ownerFor(t *testing.T) *domainOwner {
	cfg, err := config.Parse("t.yaml", []byte(`lan: {interfaces: [eth1]}
uplinks:
  - {name: a, interface: eth0, gateway: 192.168.1.254}
policies:
  - name: stream
    match: {domains: [stream.example]}
    via: a
  - name: bank
    match: {domains: [bank.example]}
    via: a
dns: {min-ttl: 1m, max-ttl: 1h}
`))
	if err != nil {
		t.Fatal(err)
	}
	o := newDomainOwner(slog.New(slog.DiscardHandler))
	o.reconcileMatch(cfg)
	return o
}

// TestDomainFills: an answer's addresses go into the sets of the policies
// its names meet, each for its TTL within min-ttl and max-ttl; an
// address given again is refreshed only when it would leave before half
// the new TTL; junk, other names and a kernel refusal fill nothing into
// the record.
func TestDomainFills(t *testing.T) {
	now := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	o, f := ownerFor(t), &fakeFiller{}
	o.handle(f, answerPacket(t, "www.stream.example", "edge.cdn.test", 30, "198.51.100.1", "198.51.100.2"), now)
	if len(f.fills) != 1 || len(f.fills[0]) != 2 {
		t.Fatalf("fills %+v", f.fills)
	}
	for _, fl := range f.fills[0] {
		if fl.Set != "domains_stream" || fl.Timeout != time.Minute || fl.Refresh {
			t.Errorf("fill %+v: want domains_stream for min-ttl 1m, no refresh", fl)
		}
	}
	// Again 10 s later: more than half of a 1m TTL is left: added again
	// with the time it has (a no-op, unless the set lost it), not longer.
	o.handle(f, answerPacket(t, "stream.example", "", 30, "198.51.100.1"), now.Add(10*time.Second))
	if len(f.fills) != 2 || f.fills[1][0].Refresh || f.fills[1][0].Timeout != 50*time.Second {
		t.Errorf("a fresh address given again: %+v", f.fills[1:])
	}
	// 40 s later, with a 2h TTL (kept 1h): refreshed.
	o.handle(f, answerPacket(t, "stream.example", "", 7200, "198.51.100.1"), now.Add(40*time.Second))
	if len(f.fills) != 3 || !f.fills[2][0].Refresh || f.fills[2][0].Timeout != time.Hour {
		t.Errorf("the refresh was %+v", f.fills[2:])
	}
	// Another policy's name; an unrelated name; an unrelated name whose
	// answer CNAMEs to a policy's name (the answering server's choice:
	// nothing); junk.
	o.handle(f, answerPacket(t, "bank.example", "", 300, "203.0.113.9"), now)
	o.handle(f, answerPacket(t, "other.example", "", 300, "203.0.113.10"), now)
	o.handle(f, answerPacket(t, "x.attacker.test", "bank.example", 300, "203.0.113.66"), now)
	o.handle(f, []byte("junk"), now)
	if len(f.fills) != 4 || f.fills[3][0].Set != "domains_bank" || f.fills[3][0].Timeout != 5*time.Minute {
		t.Errorf("fills %+v", f.fills)
	}
	if a, bad, _ := o.counts(); a != 7 || bad != 1 {
		t.Errorf("answers %d, malformed %d; want 7, 1", a, bad)
	}
	// The kernel refuses: counted, nothing recorded.
	f.err = errors.New("no such set")
	o.handle(f, answerPacket(t, "bank.example", "", 300, "203.0.113.11"), now)
	if _, _, refused := o.counts(); refused != 1 {
		t.Errorf("refused %d", refused)
	}
	rec := o.record("bank", now)
	if len(rec) != 1 || rec[0].Addr != netip.MustParseAddr("203.0.113.9") {
		t.Errorf("bank's record %+v", rec)
	}
	rec = o.record("stream", now.Add(50*time.Second))
	if len(rec) != 2 || rec[0].Names[0] != "www.stream.example" {
		t.Errorf("stream's record %+v", rec)
	}
}
