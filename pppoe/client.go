package pppoe

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"syscall"
	"time"

	"github.com/mdlayher/ethernet"
	"github.com/mdlayher/packet"
)

// Defaults for Config. pppd waits 5 s and tries 3 times; a home router
// wants its first retry sooner, and the doubling keeps the total patient.
const (
	DefaultInitialTimeout = 500 * time.Millisecond
	DefaultAttempts       = 5
)

// Config selects what the client asks for and how patiently.
type Config struct {
	// Service is the Service-Name to request; empty asks for any service.
	Service string
	// ACName, when set, accepts offers only from the AC of that name.
	ACName string
	// MTU is the PPP MTU wanted. Above 1492 the client asks for it with
	// PPP-Max-Payload (RFC 4638); the AC must echo it for it to hold.
	MTU int
	// InitialTimeout is the wait after the first PADI (and first PADR);
	// each retransmission doubles it. Zero means DefaultInitialTimeout.
	InitialTimeout time.Duration
	// Attempts is how many PADIs (and PADRs per offer) are sent before
	// giving up. Zero means DefaultAttempts.
	Attempts int
}

// A Client runs PPPoE discovery over conn, a socket that reads and writes
// whole Ethernet frames of type EtherTypeDiscovery on one interface
// (production: a *packet.Conn from Listen).
type Client struct {
	conn  net.PacketConn
	iface string
	hw    net.HardwareAddr
	cfg   Config
	log   *slog.Logger
	rand  io.Reader
}

// NewClient returns a client that sends from hw, the MAC address of iface.
// A nil logger discards.
func NewClient(conn net.PacketConn, iface string, hw net.HardwareAddr, cfg Config, log *slog.Logger) *Client {
	if cfg.InitialTimeout <= 0 {
		cfg.InitialTimeout = DefaultInitialTimeout
	}
	if cfg.Attempts <= 0 {
		cfg.Attempts = DefaultAttempts
	}
	if log == nil {
		log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	return &Client{conn: conn, iface: iface, hw: hw, cfg: cfg, log: log, rand: rand.Reader}
}

// ErrNoOffer means no access concentrator answered with a usable offer.
var ErrNoOffer = errors.New("pppoe: no access concentrator answered")

// A RefusedError is a PADS that refused our request (session id 0 or an
// error tag). Text carries the AC's own reason.
type RefusedError struct {
	ACName string
	ACMAC  net.HardwareAddr
	Text   string
}

func (e *RefusedError) Error() string {
	return fmt.Sprintf("pppoe: access concentrator %s (%s) refused the session: %s", e.ACName, e.ACMAC, e.Text)
}

// Offers broadcasts PADIs until at least one valid offer arrives and
// returns every offer received during that wait, one per AC. With first set
// it returns as soon as one offer arrives.
func (c *Client) Offers(ctx context.Context, first bool) ([]Offer, error) {
	var offers []Offer
	wait := c.cfg.InitialTimeout
	for attempt := 1; attempt <= c.cfg.Attempts; attempt, wait = attempt+1, wait*2 {
		hostUniq, err := c.sendPADI(ctx, attempt)
		if err != nil {
			return nil, err
		}
		until := time.Now().Add(wait)
		for {
			o, err := c.nextOffer(ctx, until, hostUniq)
			if errors.Is(err, os.ErrDeadlineExceeded) {
				break
			}
			if err != nil {
				return nil, err
			}
			if !containsAC(offers, o) {
				offers = append(offers, *o)
			}
			if first {
				return offers, nil
			}
		}
		if len(offers) > 0 {
			return offers, nil
		}
	}
	return nil, c.noOffer()
}

// Session runs the whole discovery: PADI until a suitable offer, PADR to
// that AC until its PADS, back to PADI when the AC stays silent.
func (c *Client) Session(ctx context.Context) (*Session, error) {
	wait := c.cfg.InitialTimeout
	for attempt := 1; attempt <= c.cfg.Attempts; attempt, wait = attempt+1, wait*2 {
		hostUniq, err := c.sendPADI(ctx, attempt)
		if err != nil {
			return nil, err
		}
		o, err := c.nextOffer(ctx, time.Now().Add(wait), hostUniq)
		if errors.Is(err, os.ErrDeadlineExceeded) {
			continue
		}
		if err != nil {
			return nil, err
		}
		s, err := c.request(ctx, o, hostUniq)
		if errors.Is(err, os.ErrDeadlineExceeded) {
			c.log.Info("no PADS after every PADR; starting over with PADI", "ac", o.ACName, "ac_mac", o.ACMAC)
			continue
		}
		return s, err
	}
	return nil, c.noOffer()
}

func (c *Client) noOffer() error {
	return fmt.Errorf("%w on %s after %d PADIs (is the modem/bridge connected and the VLAN right?)", ErrNoOffer, c.iface, c.cfg.Attempts)
}

// request sends PADRs to the AC of o with doubling waits until a PADS.
func (c *Client) request(ctx context.Context, o *Offer, hostUniq []byte) (*Session, error) {
	padr := &Packet{Code: CodePADR, Tags: []Tag{
		StringTag(TagServiceName, c.cfg.Service),
		{Type: TagHostUniq, Value: hostUniq},
	}}
	if c.wantsMaxPayload() {
		padr.Tags = append(padr.Tags, MaxPayloadTag(uint16(c.cfg.MTU)))
	}
	// RFC 2516 §5.3: AC-Cookie and Relay-Session-Id go back unmodified.
	for _, t := range o.pado.Tags {
		if t.Type == TagACCookie || t.Type == TagRelaySessionID {
			padr.Tags = append(padr.Tags, t)
		}
	}
	wait := c.cfg.InitialTimeout
	for attempt := 1; attempt <= c.cfg.Attempts; attempt, wait = attempt+1, wait*2 {
		c.log.Debug("sending PADR", "ac", o.ACName, "ac_mac", o.ACMAC, "attempt", attempt)
		if err := c.send(o.ACMAC, padr); err != nil {
			return nil, err
		}
		until := time.Now().Add(wait)
		for {
			src, p, err := c.read(ctx, until)
			if errors.Is(err, os.ErrDeadlineExceeded) {
				break
			}
			if err != nil {
				return nil, err
			}
			if p.Code != CodePADS || src.String() != o.ACMAC.String() {
				continue
			}
			if hu, ok := p.Tag(TagHostUniq); !ok || string(hu.Value) != string(hostUniq) {
				continue
			}
			return c.confirm(o, p)
		}
	}
	return nil, os.ErrDeadlineExceeded
}

// confirm turns a PADS into a Session, or into a RefusedError.
func (c *Client) confirm(o *Offer, pads *Packet) (*Session, error) {
	text, bad := pads.ErrorText()
	if pads.SessionID == 0 && !bad {
		text, bad = "PADS with session id 0", true
	}
	if pads.SessionID == 0xffff && !bad {
		text, bad = "PADS with the reserved session id 0xffff", true
	}
	if bad {
		return nil, &RefusedError{ACName: o.ACName, ACMAC: o.ACMAC, Text: text}
	}
	s := &Session{
		Interface:  c.iface,
		ACMAC:      o.ACMAC,
		ID:         pads.SessionID,
		ACName:     o.ACName,
		Service:    c.cfg.Service,
		MaxPayload: DefaultMaxPayload,
	}
	if s.Service == "" && len(o.Services) > 0 {
		s.Service = o.Services[0]
	}
	if c.wantsMaxPayload() {
		// RFC 4638: use the AC's value only when it echoed the tag; without it
		// the MTU/MRU must stay at 1492.
		if mp := maxPayload(pads); mp > DefaultMaxPayload {
			s.MaxPayload = min(mp, uint16(c.cfg.MTU))
		}
	}
	c.log.Info("PPPoE session established", "session", s.String(), "ac", s.ACName, "service", s.Service, "max_payload", s.MaxPayload)
	return s, nil
}

func (c *Client) wantsMaxPayload() bool { return c.cfg.MTU > DefaultMaxPayload && c.cfg.MTU <= 0xffff }

// sendPADI broadcasts a PADI with exactly one Service-Name and a fresh
// random Host-Uniq, which it returns.
func (c *Client) sendPADI(ctx context.Context, attempt int) ([]byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	hostUniq := make([]byte, 8)
	if _, err := io.ReadFull(c.rand, hostUniq); err != nil {
		return nil, fmt.Errorf("pppoe: making a Host-Uniq: %w", err)
	}
	padi := &Packet{Code: CodePADI, Tags: []Tag{
		StringTag(TagServiceName, c.cfg.Service),
		{Type: TagHostUniq, Value: hostUniq},
	}}
	if c.wantsMaxPayload() {
		padi.Tags = append(padi.Tags, MaxPayloadTag(uint16(c.cfg.MTU)))
	}
	c.log.Debug("sending PADI", "interface", c.iface, "attempt", attempt)
	return hostUniq, c.send(ethernet.Broadcast, padi)
}

// nextOffer reads until a valid offer for hostUniq arrives or until passes.
func (c *Client) nextOffer(ctx context.Context, until time.Time, hostUniq []byte) (*Offer, error) {
	for {
		src, p, err := c.read(ctx, until)
		if err != nil {
			return nil, err
		}
		o, err := parseOffer(src, p, hostUniq, &c.cfg)
		if errors.Is(err, errNotForUs) {
			continue
		}
		if err != nil {
			c.log.Info("ignoring offer", "reason", err)
			continue
		}
		return o, nil
	}
}

// Terminate sends a PADT for s, ending it at the AC (RFC 2516 §5.5). It is
// also the way to clear a stale session left by an earlier run.
func (c *Client) Terminate(s Session, reason string) error {
	padt := &Packet{Code: CodePADT, SessionID: s.ID}
	if reason != "" {
		padt.Tags = []Tag{StringTag(TagGenericError, reason)}
	}
	c.log.Info("sending PADT", "session", s.String(), "interface", c.iface)
	return c.send(s.ACMAC, padt)
}

func (c *Client) send(dst net.HardwareAddr, p *Packet) error {
	payload, err := p.MarshalBinary()
	if err != nil {
		return err
	}
	f := ethernet.Frame{Destination: dst, Source: c.hw, EtherType: ethernet.EtherType(EtherTypeDiscovery), Payload: payload}
	b, err := f.MarshalBinary()
	if err != nil {
		return fmt.Errorf("pppoe: building %s frame: %w", p.Code, err)
	}
	if _, err := c.conn.WriteTo(b, &packet.Addr{HardwareAddr: dst}); err != nil {
		if errors.Is(err, syscall.ENOBUFS) || errors.Is(err, syscall.ENETDOWN) {
			return fmt.Errorf("pppoe: sending %s: interface %s lost its carrier or went down; check the cable to the modem/bridge: %w", p.Code, c.iface, err)
		}
		return fmt.Errorf("pppoe: sending %s on %s: %w", p.Code, c.iface, err)
	}
	return nil
}

// read returns the next discovery packet addressed to us, or an error
// wrapping os.ErrDeadlineExceeded once until passes. Frames that do not
// decode are logged and skipped.
func (c *Client) read(ctx context.Context, until time.Time) (net.HardwareAddr, *Packet, error) {
	ctxDeadline, bounded := ctx.Deadline()
	if bounded && ctxDeadline.Before(until) {
		until = ctxDeadline
	}
	if err := c.conn.SetReadDeadline(until); err != nil {
		return nil, nil, fmt.Errorf("pppoe: setting read deadline: %w", err)
	}
	// Cancellation wakes a blocked read by moving the deadline to the past.
	stop := context.AfterFunc(ctx, func() { _ = c.conn.SetReadDeadline(time.Unix(1, 0)) })
	defer stop()
	buf := make([]byte, 1600)
	for {
		n, _, err := c.conn.ReadFrom(buf)
		if err != nil {
			if ctxErr := ctx.Err(); ctxErr != nil {
				return nil, nil, fmt.Errorf("pppoe: discovery on %s: %w", c.iface, ctxErr)
			}
			if errors.Is(err, os.ErrDeadlineExceeded) {
				if bounded && !time.Now().Before(ctxDeadline) {
					// The context's own timer may not have fired yet.
					return nil, nil, fmt.Errorf("pppoe: discovery on %s: %w", c.iface, context.DeadlineExceeded)
				}
				return nil, nil, err
			}
			return nil, nil, fmt.Errorf("pppoe: reading from %s: %w", c.iface, err)
		}
		var f ethernet.Frame
		if err := f.UnmarshalBinary(buf[:n]); err != nil || f.EtherType != ethernet.EtherType(EtherTypeDiscovery) {
			continue
		}
		if f.Destination.String() != c.hw.String() {
			continue
		}
		var p Packet
		if err := p.UnmarshalBinary(f.Payload); err != nil {
			c.log.Debug("dropping malformed discovery frame", "from", f.Source, "err", err)
			continue
		}
		return f.Source, &p, nil
	}
}

func containsAC(offers []Offer, o *Offer) bool {
	for _, x := range offers {
		if x.ACMAC.String() == o.ACMAC.String() && x.ACName == o.ACName {
			return true
		}
	}
	return false
}
