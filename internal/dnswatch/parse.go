package dnswatch

import (
	"errors"
	"fmt"
	"math"
	"net/netip"
	"slices"
	"time"

	"golang.org/x/net/dns/dnsmessage"
)

// ParsePacket reads the IPv4 addresses out of the DNS response that the
// IPv4 packet pkt carries: a UDP datagram from port 53, or a TCP segment
// from port 53 holding exactly one whole length-prefixed message. Only a
// response to a standard query, with RCODE NOERROR and one question of
// class IN, is read; anything else is an error, for the caller to ignore.
//
// The answer's A records count when their owner is the question name or
// a name the question leads to through the answer's own CNAME records;
// records about any other name are ignored, so that an answer cannot put
// addresses under names it was not asked about. The authority and
// additional sections are not read. pkt is neither changed nor kept.
func ParsePacket(pkt []byte) (Answer, error) {
	msg, err := dnsMessage(pkt)
	if err != nil {
		return Answer{}, err
	}
	return parseMessage(msg)
}

// record is one A or CNAME record of the answer section.
type record struct {
	owner string
	ttl   uint32
	cname string     // the target, for a CNAME record
	addr  netip.Addr // the address, for an A record
}

// parseMessage reads the addresses out of the DNS message msg.
func parseMessage(msg []byte) (Answer, error) {
	if len(msg) > MaxMessage {
		return Answer{}, fmt.Errorf("%w: %d bytes, more than %d", errMessage, len(msg), MaxMessage)
	}
	var p dnsmessage.Parser
	h, err := p.Start(msg)
	if err != nil {
		return Answer{}, fmt.Errorf("%w: %w", errMessage, err)
	}
	switch {
	case !h.Response:
		return Answer{}, fmt.Errorf("%w: a query, not a response", errUncounted)
	case h.OpCode != 0:
		return Answer{}, fmt.Errorf("%w: opcode %d", errUncounted, h.OpCode)
	case h.RCode != dnsmessage.RCodeSuccess:
		return Answer{}, fmt.Errorf("%w: RCODE %v", errUncounted, h.RCode)
	}
	q, err := p.Question()
	switch {
	case errors.Is(err, dnsmessage.ErrSectionDone):
		return Answer{}, fmt.Errorf("%w: no question", errUncounted)
	case err != nil:
		return Answer{}, fmt.Errorf("%w: question: %w", errMessage, err)
	case q.Class != dnsmessage.ClassINET:
		return Answer{}, fmt.Errorf("%w: question class %v", errUncounted, q.Class)
	}
	switch err := p.SkipQuestion(); {
	case err == nil:
		return Answer{}, fmt.Errorf("%w: more than one question", errUncounted)
	case !errors.Is(err, dnsmessage.ErrSectionDone):
		return Answer{}, fmt.Errorf("%w: questions: %w", errMessage, err)
	}
	var buf [MaxRecords]record
	recs, err := answerRecords(&p, buf[:0])
	if err != nil {
		return Answer{}, err
	}
	question := canonical(q.Name.String())
	return Answer{Question: question, Addrs: addrs(question, recs)}, nil
}

// answerRecords appends the A and CNAME records of class IN among the
// first MaxRecords records of the answer section to recs, skipping the
// others.
func answerRecords(p *dnsmessage.Parser, recs []record) ([]record, error) {
	for range MaxRecords {
		h, err := p.AnswerHeader()
		if errors.Is(err, dnsmessage.ErrSectionDone) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("%w: answer: %w", errMessage, err)
		}
		switch {
		case h.Class == dnsmessage.ClassINET && h.Type == dnsmessage.TypeA:
			if h.Length != 4 {
				return nil, fmt.Errorf("%w: an A record of %d bytes", errMessage, h.Length)
			}
			a, err := p.AResource()
			if err != nil {
				return nil, fmt.Errorf("%w: A record: %w", errMessage, err)
			}
			recs = append(recs, record{owner: canonical(h.Name.String()), ttl: h.TTL, addr: netip.AddrFrom4(a.A)})
		case h.Class == dnsmessage.ClassINET && h.Type == dnsmessage.TypeCNAME:
			c, err := p.CNAMEResource()
			if err != nil {
				return nil, fmt.Errorf("%w: CNAME record: %w", errMessage, err)
			}
			recs = append(recs, record{owner: canonical(h.Name.String()), ttl: h.TTL, cname: canonical(c.CNAME.String())})
		default:
			if err := p.SkipAnswer(); err != nil {
				return nil, fmt.Errorf("%w: answer: %w", errMessage, err)
			}
		}
	}
	return recs, nil
}

// chain follows the CNAME records among recs from the question, at most
// MaxChain of them and never back to a name already on the chain. It
// returns the names in order, with the smallest TTL of the CNAME records
// leading to each (math.MaxUint32 for the question itself). When a name
// has more than one CNAME record, the first is followed.
func chain(question string, recs []record) (names []string, ttls []uint32) {
	names, ttls = []string{question}, []uint32{math.MaxUint32}
	for len(names) <= MaxChain {
		last := names[len(names)-1]
		i := slices.IndexFunc(recs, func(r record) bool { return r.cname != "" && r.owner == last })
		if i < 0 || slices.Contains(names, recs[i].cname) {
			break
		}
		names = append(names, recs[i].cname)
		ttls = append(ttls, min(ttls[len(ttls)-1], recs[i].ttl))
	}
	return names, ttls
}

// addrs are the addresses of the A records among recs whose owner is on
// the question's chain, each once, at most MaxAddrs of them.
func addrs(question string, recs []record) []Addr {
	names, ttls := chain(question, recs)
	var out []Addr
	for _, r := range recs {
		if !r.addr.IsValid() {
			continue
		}
		at := slices.Index(names, r.owner)
		if at < 0 {
			continue
		}
		ttl := time.Duration(min(ttls[at], r.ttl)) * time.Second
		via := slices.Clip(names[:at+1])
		if i := slices.IndexFunc(out, func(a Addr) bool { return a.Addr == r.addr }); i >= 0 {
			out[i].TTL = min(out[i].TTL, ttl)
			if len(via) < len(out[i].Names) {
				out[i].Names = via
			}
			continue
		}
		if len(out) < MaxAddrs {
			out = append(out, Addr{Addr: r.addr, TTL: ttl, Names: via})
		}
	}
	return out
}
