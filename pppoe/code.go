package pppoe

import "fmt"

// EtherTypeDiscovery is the EtherType of PPPoE discovery frames (RFC 2516
// §4); session frames (0x8864) are the kernel's and pppd's.
const EtherTypeDiscovery uint16 = 0x8863

// A Code is the CODE field of a PPPoE discovery packet.
type Code uint8

// Discovery packet codes (RFC 2516 §5).
const (
	CodePADI Code = 0x09 // Active Discovery Initiation, broadcast by the host
	CodePADO Code = 0x07 // Active Discovery Offer, sent by an access concentrator
	CodePADR Code = 0x19 // Active Discovery Request, host to the chosen AC
	CodePADS Code = 0x65 // Active Discovery Session-confirmation
	CodePADT Code = 0xa7 // Active Discovery Terminate, either side
)

// String returns the packet's short name, e.g. "PADI".
func (c Code) String() string {
	switch c {
	case CodePADI:
		return "PADI"
	case CodePADO:
		return "PADO"
	case CodePADR:
		return "PADR"
	case CodePADS:
		return "PADS"
	case CodePADT:
		return "PADT"
	default:
		return fmt.Sprintf("Code(0x%02x)", uint8(c))
	}
}
