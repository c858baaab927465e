package pppoe

import (
	"fmt"
	"net"
	"strconv"
	"strings"
)

// DefaultMaxPayload is the PPP payload PPPoE carries on a 1500-octet
// Ethernet without RFC 4638 (1500 minus the 8 octets of PPPoE and PPP headers).
const DefaultMaxPayload = 1492

// A Session is an established PPPoE session: what pppd needs to attach to
// it (interface, AC MAC, session id) and what discovery learnt on the way.
type Session struct {
	Interface  string           `json:"interface"`
	ACMAC      net.HardwareAddr `json:"ac_mac"`
	ID         uint16           `json:"session_id"`
	ACName     string           `json:"ac_name"`
	Service    string           `json:"service"`
	MaxPayload uint16           `json:"max_payload"` // negotiated PPP payload; 1492 unless RFC 4638 was agreed
}

// String renders the session as "SID:MAC" with a decimal session id, the
// form `pppoe -d` prints and pppd's pppoe-sess option takes.
func (s Session) String() string {
	return fmt.Sprintf("%d:%s", s.ID, s.ACMAC)
}

// ParseSession parses the "SID:MAC" form written by Session.String.
func ParseSession(s string) (id uint16, mac net.HardwareAddr, err error) {
	sid, macText, ok := strings.Cut(s, ":")
	if !ok {
		return 0, nil, fmt.Errorf("pppoe: session %q is not SID:MAC (e.g. 1:02:00:00:00:00:01)", s)
	}
	n, err := strconv.ParseUint(sid, 10, 16)
	if err != nil || n == 0 || n == 0xffff {
		return 0, nil, fmt.Errorf("pppoe: session id %q must be a decimal number from 1 to 65534", sid)
	}
	mac, err = ParseUnicastMAC(macText)
	if err != nil {
		return 0, nil, err
	}
	return uint16(n), mac, nil
}

// ParseUnicastMAC parses an Ethernet address and refuses group addresses,
// which can never belong to an access concentrator.
func ParseUnicastMAC(s string) (net.HardwareAddr, error) {
	mac, err := net.ParseMAC(s)
	if err != nil || len(mac) != 6 {
		return nil, fmt.Errorf("pppoe: %q is not an Ethernet address (e.g. 02:00:00:00:00:01)", s)
	}
	if mac[0]&1 != 0 {
		return nil, fmt.Errorf("pppoe: %s is a multicast address; an access concentrator has a unicast one", mac)
	}
	return mac, nil
}
