package pppoe

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net"
)

// An Offer is a valid PADO: one access concentrator's answer to our PADI.
type Offer struct {
	ACMAC    net.HardwareAddr `json:"ac_mac"`
	ACName   string           `json:"ac_name"`
	Services []string         `json:"services"`
	// MaxPayload is the AC's PPP-Max-Payload (RFC 4638), 0 when it sent none.
	MaxPayload uint16 `json:"max_payload,omitempty"`

	pado *Packet // kept for the AC-Cookie and Relay-Session-Id echo
}

// errNotForUs marks a frame that is not part of our exchange (another
// host's Host-Uniq, a code we are not waiting for): dropped silently.
var errNotForUs = errors.New("not for this exchange")

// maxPayload returns the value of the first well-formed PPP-Max-Payload tag.
func maxPayload(p *Packet) uint16 {
	t, ok := p.Tag(TagPPPMaxPayload)
	if !ok || len(t.Value) != 2 {
		return 0
	}
	return binary.BigEndian.Uint16(t.Value)
}

// parseOffer checks a PADO against RFC 2516 §5.2 and the client's filters.
// errNotForUs is returned for packets of other exchanges; any other error
// explains why an offer addressed to us was refused.
func parseOffer(src net.HardwareAddr, p *Packet, hostUniq []byte, cfg *Config) (*Offer, error) {
	if p.Code != CodePADO {
		return nil, errNotForUs
	}
	if hu, ok := p.Tag(TagHostUniq); !ok || string(hu.Value) != string(hostUniq) {
		return nil, errNotForUs
	}
	if len(src) != 6 || src[0]&1 != 0 {
		return nil, fmt.Errorf("PADO from non-unicast source %s", src)
	}
	if p.SessionID != 0 {
		return nil, fmt.Errorf("PADO from %s has session id %d, want 0", src, p.SessionID)
	}
	if text, bad := p.ErrorText(); bad {
		return nil, fmt.Errorf("PADO from %s carries an error: %s", src, text)
	}
	name, ok := p.Tag(TagACName)
	if !ok {
		return nil, fmt.Errorf("PADO from %s has no AC-Name", src)
	}
	o := &Offer{ACMAC: src, ACName: Printable(name.Value), MaxPayload: maxPayload(p), pado: p}
	for _, t := range p.TagsOf(TagServiceName) {
		o.Services = append(o.Services, Printable(t.Value))
	}
	if len(o.Services) == 0 {
		return nil, fmt.Errorf("PADO from %s (%s) has no Service-Name", src, o.ACName)
	}
	if cfg.Service != "" && !o.offers(cfg.Service) {
		return nil, fmt.Errorf("AC %s (%s) does not offer service %q (offers %q)", o.ACName, src, cfg.Service, o.Services)
	}
	if cfg.ACName != "" && o.ACName != cfg.ACName {
		return nil, fmt.Errorf("AC %s (%s) is not the configured AC %q", o.ACName, src, cfg.ACName)
	}
	return o, nil
}

func (o *Offer) offers(service string) bool {
	for _, s := range o.Services {
		if s == service {
			return true
		}
	}
	return false
}
