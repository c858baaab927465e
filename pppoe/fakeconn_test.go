package pppoe

import (
	"net"
	"os"
	"sync"
	"time"

	"github.com/mdlayher/ethernet"
	"github.com/mdlayher/packet"
)

// fakeConn is an in-memory net.PacketConn carrying Ethernet frames. Every
// frame the client writes is handed to the peers, whose answers are queued
// for the client to read.
type fakeConn struct {
	mu       sync.Mutex
	queue    [][]byte
	deadline time.Time
	changed  chan struct{} // closed and replaced whenever queue or deadline changes
	peers    []func(f *fakeFrame, p *Packet) []*fakeFrame
	sent     []*Packet // every packet the client sent, in order
}

var _ net.PacketConn = (*fakeConn)(nil)

func newFakeConn(peers ...func(f *fakeFrame, p *Packet) []*fakeFrame) *fakeConn {
	return &fakeConn{changed: make(chan struct{}), peers: peers}
}

func (c *fakeConn) notifyLocked() {
	close(c.changed)
	c.changed = make(chan struct{})
}

func (c *fakeConn) ReadFrom(b []byte) (int, net.Addr, error) {
	for {
		c.mu.Lock()
		if len(c.queue) > 0 {
			f := c.queue[0]
			c.queue = c.queue[1:]
			c.mu.Unlock()
			return copy(b, f), &packet.Addr{}, nil
		}
		d, changed := c.deadline, c.changed
		c.mu.Unlock()
		if !d.IsZero() && !time.Now().Before(d) {
			return 0, nil, os.ErrDeadlineExceeded
		}
		var timer <-chan time.Time
		if !d.IsZero() {
			t := time.NewTimer(time.Until(d))
			defer t.Stop()
			timer = t.C
		}
		select {
		case <-changed:
		case <-timer:
		}
	}
}

func (c *fakeConn) WriteTo(b []byte, _ net.Addr) (int, error) {
	var f ethernet.Frame
	if err := f.UnmarshalBinary(b); err != nil {
		return 0, err
	}
	var p Packet
	if err := p.UnmarshalBinary(f.Payload); err != nil {
		return 0, err
	}
	c.mu.Lock()
	c.sent = append(c.sent, &p)
	peers := c.peers
	c.mu.Unlock()
	for _, peer := range peers {
		for _, reply := range peer(&f, &p) {
			wire, err := reply.MarshalBinary()
			if err != nil {
				return 0, err
			}
			c.inject(wire)
		}
	}
	return len(b), nil
}

// inject queues a frame for the client as if it arrived on the wire.
func (c *fakeConn) inject(frame []byte) {
	c.mu.Lock()
	c.queue = append(c.queue, frame)
	c.notifyLocked()
	c.mu.Unlock()
}

func (c *fakeConn) sentCodes() []Code {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []Code
	for _, p := range c.sent {
		out = append(out, p.Code)
	}
	return out
}

func (c *fakeConn) lastSent(code Code) *Packet {
	c.mu.Lock()
	defer c.mu.Unlock()
	for i := len(c.sent) - 1; i >= 0; i-- {
		if c.sent[i].Code == code {
			return c.sent[i]
		}
	}
	return nil
}

func (c *fakeConn) SetReadDeadline(t time.Time) error {
	c.mu.Lock()
	c.deadline = t
	c.notifyLocked()
	c.mu.Unlock()
	return nil
}

func (c *fakeConn) Close() error                     { return nil }
func (c *fakeConn) LocalAddr() net.Addr              { return &packet.Addr{} }
func (c *fakeConn) SetDeadline(t time.Time) error    { return c.SetReadDeadline(t) }
func (c *fakeConn) SetWriteDeadline(time.Time) error { return nil }

// fakeAC is a scripted access concentrator.
type fakeAC struct {
	mac      net.HardwareAddr
	name     string
	services []string
	cookie   []byte
	relayID  []byte

	mu             sync.Mutex
	dropPADOs      int    // PADIs to ignore before answering
	dropPADSs      int    // PADRs to ignore before answering
	wrongHostUniq  bool   // answer with a Host-Uniq that is not the client's
	padoError      string // Generic-Error in the PADO
	padsError      string // Service-Name-Error in the PADS (session id 0)
	padsZeroSID    bool   // PADS with session id 0 and no error tag
	echoMaxPayload bool   // echo PPP-Max-Payload (RFC 4638)
	sessionID      uint16
	padrs          []*Packet // PADRs addressed to this AC
}

func (ac *fakeAC) handle(f *fakeFrame, p *Packet) []*fakeFrame {
	ac.mu.Lock()
	defer ac.mu.Unlock()
	hu, _ := p.Tag(TagHostUniq)
	if ac.wrongHostUniq {
		hu = Tag{Type: TagHostUniq, Value: []byte("someone-else")}
	}
	reply := func(code Code, sid uint16, tags ...Tag) []*fakeFrame {
		wire, _ := (&Packet{Code: code, SessionID: sid, Tags: tags}).MarshalBinary()
		return []*fakeFrame{{Destination: f.Source, Source: ac.mac, EtherType: ethernet.EtherType(EtherTypeDiscovery), Payload: wire}}
	}
	switch p.Code {
	case CodePADI:
		if ac.dropPADOs > 0 {
			ac.dropPADOs--
			return nil
		}
		tags := []Tag{StringTag(TagACName, ac.name)}
		for _, s := range ac.services {
			tags = append(tags, StringTag(TagServiceName, s))
		}
		tags = append(tags, hu, Tag{Type: 0x7777, Value: []byte("unknown")})
		if ac.cookie != nil {
			tags = append(tags, Tag{Type: TagACCookie, Value: ac.cookie})
		}
		if ac.relayID != nil {
			tags = append(tags, Tag{Type: TagRelaySessionID, Value: ac.relayID})
		}
		if mp, ok := p.Tag(TagPPPMaxPayload); ok && ac.echoMaxPayload {
			tags = append(tags, mp)
		}
		if ac.padoError != "" {
			tags = append(tags, StringTag(TagGenericError, ac.padoError))
		}
		return reply(CodePADO, 0, tags...)
	case CodePADR:
		if f.Destination.String() != ac.mac.String() {
			return nil
		}
		ac.padrs = append(ac.padrs, p)
		if ac.dropPADSs > 0 {
			ac.dropPADSs--
			return nil
		}
		svc, _ := p.Tag(TagServiceName)
		if ac.padsError != "" {
			return reply(CodePADS, 0, svc, hu, StringTag(TagServiceNameError, ac.padsError))
		}
		if ac.padsZeroSID {
			return reply(CodePADS, 0, svc, hu)
		}
		tags := []Tag{svc, hu}
		if mp, ok := p.Tag(TagPPPMaxPayload); ok && ac.echoMaxPayload {
			tags = append(tags, mp)
		}
		return reply(CodePADS, ac.sessionID, tags...)
	}
	return nil
}

type fakeFrame = ethernet.Frame
