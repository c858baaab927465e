// Package config reads pathpin's YAML configuration strictly: unknown keys,
// wrong types and invalid values are errors that name the file, the line
// and the field, and say how to fix it.
package config

import (
	"fmt"
	"net/netip"
	"time"

	"github.com/pathpin/pathpin/internal/notify"
)

// DefaultPath is where pathpin looks for its configuration.
const DefaultPath = "/etc/pathpin/pathpin.yaml"

// Defaults for values the file may leave out.
const (
	// DefaultMarkMask is the part of the packet/connection mark pathpin owns.
	DefaultMarkMask uint32 = 0xff00
	// FirstTable is the routing table of the first uplink; the n-th uplink
	// (counting from 0) gets FirstTable+n unless it sets table.
	FirstTable = 101
	// DefaultPPPMTU is the PPP MTU without RFC 4638.
	DefaultPPPMTU = 1492
)

// Config is a validated configuration.
type Config struct {
	// Path is the file it was read from, for messages.
	Path     string
	LAN      LAN
	Uplinks  []Uplink
	MarkMask uint32
	Health   Health
	// Protect is what pathpin drops from the uplinks' side.
	Protect Protect
	// Policies steer chosen connections by chosen uplinks, first match
	// first; Balance shares the rest.
	Policies []Policy
	Balance  Balance
	// DNS is how domain policies learn their addresses.
	DNS DNS
	// Programs are the program groups policies and pathpin exec name.
	Programs []Program
	// Web is where pathpin web serves.
	Web Web
	// Notify are the webhooks told of every state change.
	Notify []notify.Hook
	// Public is how each uplink's public address is found (none: it is
	// not looked for).
	Public PublicAddress
	// RunPPPScripts: after its own work on ip-up and ip-down, pathpin runs
	// the host's /etc/ppp/ip-up or ip-down (and so the hooks other packages
	// put in ip-up.d), as pppd would have. Default true.
	RunPPPScripts bool
}

// Web is where pathpin web listens: Listen when given, else every
// address of the LAN interfaces and 127.0.0.1, on Port.
type Web struct {
	Listen []netip.AddrPort
	Port   int
}

// PublicAddress says where each uplink's public address is asked,
// through the uplink: STUN servers (host:port) and HTTP endpoints that
// echo the caller's address, in order; Interval is how often again.
type PublicAddress struct {
	STUN     []string
	HTTP     []string
	Interval time.Duration
}

// Enabled reports whether public addresses are looked for.
func (p PublicAddress) Enabled() bool { return len(p.STUN)+len(p.HTTP) > 0 }

// DefaultWebPort is pathpin web's port unless web.port says otherwise.
const DefaultWebPort = 9430

// LAN describes where clients arrive.
type LAN struct {
	Interfaces []string
}

// Uplink is one ISP line.
type Uplink struct {
	Name string
	// Interface is the static or DHCP uplink's interface (empty for
	// PPPoE).
	Interface string
	// Gateway is the static uplink's next hop (invalid for PPPoE and
	// DHCP, whose next hop comes with the session or the lease).
	Gateway netip.Addr
	// Weight shares new connections; 0 is standby.
	Weight int
	Table  int
	Mark   uint32
	// MTU of the uplink; 0 leaves the interface as it is.
	MTU   int
	PPPoE *PPPoE
	// DHCP: the uplink's address and next hop come from a DHCP server.
	DHCP *DHCP
	// Health is the global health section with this uplink's overrides.
	Health Health
	// Failback is how the uplink comes back into service after its
	// probes took it out.
	Failback Failback
	// Cold (standby: cold): a PPPoE or DHCP standby that is not dialled
	// or leased while a weighted uplink is in service.
	Cold bool
	// Cap, when not nil, moves the uplink to standby once it has carried
	// that much in the period.
	Cap *Cap
	// Line is where the uplink starts in the file.
	Line int
}

// Failback is an uplink's way back into service once its probes answer
// again.
type Failback struct {
	// Hold: back in service only after answering for this long.
	Hold time.Duration
	// Never: it stays out until pathpin resume NAME or a reload.
	Never bool
	// MoveBack: once it is back, the standby uplinks' connections are
	// deleted (their clients reconnect by it); otherwise they stay until
	// they end.
	MoveBack bool
}

// Cap is a data allowance: bytes in and out together per period.
type Cap struct {
	Bytes uint64
	// Period is "monthly" (from ResetDay, clamped to the month's last
	// day) or "daily" (from midnight), in local time.
	Period   string
	ResetDay int
}

// DefaultFailbackHold is how long an uplink must answer before it is back
// in service, unless its failback: says otherwise: none beyond up-after
// answered rounds (3 s at the defaults), the short hold pathpin always
// had.
const DefaultFailbackHold = 0

// IsPPPoE reports whether the uplink is brought up by PPPoE.
func (u *Uplink) IsPPPoE() bool { return u.PPPoE != nil }

// IsDHCP reports whether the uplink's address comes by DHCP.
func (u *Uplink) IsDHCP() bool { return u.DHCP != nil }

// DHCP describes a DHCP uplink's client.
type DHCP struct {
	// Hostname is sent as option 12; empty sends none.
	Hostname string
	// ClientID is option 61's value; empty sends the interface's MAC
	// (type 1).
	ClientID string
	// Release: send DHCPRELEASE when pathpin stops or runs down. Default
	// true.
	Release bool
}

// PPPoE describes how to bring a PPPoE uplink up.
type PPPoE struct {
	Interface       string // Ethernet under the VLAN, e.g. eth1
	VLAN            int    // 0: untagged
	Username        string
	PasswordFile    string
	Service         string
	ACName          string
	IfName          string // PPP interface name, default ppp-<uplink>
	MTU             int
	LCPEchoInterval int
	LCPEchoFailure  int
}

// LinkName is the Ethernet link PPPoE runs on: eth1.1000 for VLAN 1000.
func (p *PPPoE) LinkName() string {
	if p.VLAN == 0 {
		return p.Interface
	}
	return fmt.Sprintf("%s.%d", p.Interface, p.VLAN)
}

// Health configures uplink probing.
type Health struct {
	// Targets are probed through the uplink; none means link events alone
	// decide.
	Targets []netip.Addr
	// Method is "icmp" (echo) or "tcp" (connect to Port, for networks that
	// drop ICMP; a refusal counts as an answer).
	Method string
	Port   int
	// DNSName is what a dns probe asks the target (a resolver) for;
	// HTTPPath and HTTPStatus what an http probe asks and expects.
	DNSName    string
	HTTPPath   string
	HTTPStatus int
	Interval   time.Duration
	// FastInterval is the pace of the rounds that confirm a suspect
	// uplink (a round late or missed), until one passes or it is down.
	FastInterval time.Duration
	Timeout      time.Duration
	DownAfter    int
	UpAfter      int
	MinAnswers   int // targets that must answer for a round to pass
	// Metered: while the uplink carries no connection, one target is
	// probed every MeteredInterval (a budget), not every target every
	// Interval.
	Metered         bool
	MeteredInterval time.Duration
	// OnChange is a command (argv) run on every state change, with the
	// event in its environment; killed after OnChangeTimeout.
	OnChange        []string
	OnChangeTimeout time.Duration
}

// DeviceName returns the interface the uplink's traffic leaves by: the PPP
// interface for PPPoE, else the static interface.
func (u *Uplink) DeviceName() string {
	if u.PPPoE != nil {
		return u.PPPoE.IfName
	}
	return u.Interface
}

// Uplink returns the uplink with the given name.
func (c *Config) Uplink(name string) (*Uplink, bool) {
	for i := range c.Uplinks {
		if c.Uplinks[i].Name == name {
			return &c.Uplinks[i], true
		}
	}
	return nil, false
}
