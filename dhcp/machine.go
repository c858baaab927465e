package dhcp

import (
	"bytes"
	"math/rand/v2"
	"net"
	"net/netip"
	"time"

	"github.com/insomniacslk/dhcp/dhcpv4"
)

// State is where the client stands (RFC 2131, figure 5). INIT is not a
// state of its own here: it sends its DISCOVER and is SELECTING at once.
type State int

// The states.
const (
	Selecting State = iota
	Requesting
	Rebooting
	Bound
	Renewing
	Rebinding
	Released
)

var stateNames = [...]string{"selecting", "requesting", "init-reboot", "bound", "renewing", "rebinding", "released"}

func (s State) String() string { return stateNames[s] }

// Params are what the client says of itself.
type Params struct {
	HWAddr net.HardwareAddr
	// ClientID is option 61 as sent; nil sends type 1 and HWAddr.
	ClientID []byte
	// Hostname is option 12; empty sends none.
	Hostname string
}

// EventKind says how the lease changed.
type EventKind int

// The kinds of event.
const (
	// Acquired: a lease is in force that was not before, or its binding
	// (address, routers, routes, MTU, DNS) changed.
	Acquired EventKind = iota + 1
	// Renewed: the same binding, with new times; or, after the link came
	// back and no server answered, the same lease kept in force.
	Renewed
	// Lost: the lease is gone (refused, expired, released).
	Lost
)

// Event is a change of the lease in force.
type Event struct {
	Kind  EventKind
	Lease *Lease // Acquired, Renewed
	Why   string // Lost
}

// Step is what the machine asks of its driver after each input: a message
// to send (broadcast, or unicast To from From), and how the lease changed.
// The machine's Wake says when to call Timer next.
type Step struct {
	Send     *dhcpv4.DHCPv4
	To, From netip.Addr
	Event    *Event
}

// Machine is the lease state machine. It has no clock and no socket: each
// input carries the time, and the Step says what to send.
type Machine struct {
	p     Params
	rand  *rand.Rand
	state State
	xid   dhcpv4.TransactionID
	offer *dhcpv4.DHCPv4
	// lease is the lease in force (BOUND, RENEWING, REBINDING, and
	// INIT-REBOOT after a link came back), or the stored lease an
	// INIT-REBOOT at start asks for.
	lease *Lease
	// held: the lease is in force (the driver was told Acquired).
	held bool
	// sent is when the request now pending was first sent: a lease it
	// gets counts from there.
	sent  time.Time
	tries int
	wake  time.Time
}

// Retransmission limits.
const (
	requestTries = 4
	rebootTries  = 3
	// renewFloor is the shortest wait between renewal retransmissions
	// (RFC 2131 4.4.5: half the remaining time, down to 60 s).
	renewFloor = 60 * time.Second
)

// NewMachine returns a machine for a client; r gives the transaction ids
// and the retransmission jitter.
func NewMachine(p Params, r *rand.Rand) *Machine {
	return &Machine{p: p, rand: r, state: Released}
}

// State is where the machine stands.
func (m *Machine) State() State { return m.state }

// Wake is when Timer must be called next; zero for never.
func (m *Machine) Wake() time.Time { return m.wake }

// Lease is the lease in force, or nil.
func (m *Machine) Lease() *Lease {
	if !m.held {
		return nil
	}
	return m.lease
}

// Start begins: with a stored lease that has not expired, INIT-REBOOT asks
// for it again; otherwise INIT.
func (m *Machine) Start(now time.Time, stored *Lease) Step {
	if stored != nil && (stored.Duration == Infinite || now.Before(stored.ExpiresAt())) {
		m.lease, m.held = stored, false
		return m.reboot(now)
	}
	return m.init(now, nil)
}

// init sends a DISCOVER at once (INIT → SELECTING); ev is passed on.
func (m *Machine) init(now time.Time, ev *Event) Step {
	m.state, m.xid, m.tries, m.offer, m.lease = Selecting, m.newXID(), 0, nil, nil
	m.held = false
	m.wake = now.Add(m.backoff(0))
	return Step{Send: m.message(dhcpv4.MessageTypeDiscover), Event: ev}
}

// reboot asks for m.lease's address again (INIT-REBOOT).
func (m *Machine) reboot(now time.Time) Step {
	m.state, m.xid, m.tries, m.sent = Rebooting, m.newXID(), 0, now
	m.wake = now.Add(m.backoff(0))
	return Step{Send: m.rebootRequest()}
}

// Timer is called at Wake: a retransmission, or the lease's next time.
func (m *Machine) Timer(now time.Time) Step {
	switch m.state {
	case Selecting:
		m.tries++
		m.wake = now.Add(m.backoff(m.tries))
		return Step{Send: m.message(dhcpv4.MessageTypeDiscover)}
	case Requesting:
		m.tries++
		if m.tries >= requestTries {
			return m.init(now, nil)
		}
		m.wake = now.Add(m.backoff(m.tries))
		return Step{Send: m.selectingRequest()}
	case Rebooting:
		m.tries++
		if m.tries < rebootTries {
			m.wake = now.Add(m.backoff(m.tries))
			return Step{Send: m.rebootRequest()}
		}
		if m.held {
			// The link came back and nobody answered: the lease stays in
			// force until its own times say otherwise (RFC 2131 3.7).
			m.bound(now)
			return Step{Event: &Event{Kind: Renewed, Lease: m.lease}}
		}
		return m.init(now, nil)
	case Bound:
		if !now.Before(m.lease.RenewAt()) {
			m.state, m.xid, m.sent = Renewing, m.newXID(), now
			m.wake = renewWake(now, m.lease.RebindAt())
			return Step{Send: m.renewal(), To: m.lease.Server, From: m.lease.Address.Addr()}
		}
		m.wake = m.lease.RenewAt()
	case Renewing:
		if !now.Before(m.lease.RebindAt()) {
			m.state, m.xid, m.sent = Rebinding, m.newXID(), now
			m.wake = renewWake(now, m.lease.ExpiresAt())
			return Step{Send: m.renewal()}
		}
		m.wake = renewWake(now, m.lease.RebindAt())
		return Step{Send: m.renewal(), To: m.lease.Server, From: m.lease.Address.Addr()}
	case Rebinding:
		if !now.Before(m.lease.ExpiresAt()) {
			return m.init(now, &Event{Kind: Lost, Why: "the lease expired: no server renewed it"})
		}
		m.wake = renewWake(now, m.lease.ExpiresAt())
		return Step{Send: m.renewal()}
	}
	return Step{}
}

// bound puts the lease in force and waits for T1.
func (m *Machine) bound(now time.Time) Step {
	m.state, m.held, m.offer = Bound, true, nil
	m.wake = time.Time{}
	if m.lease.Duration != Infinite {
		m.wake = m.lease.RenewAt()
		if m.wake.Before(now) {
			m.wake = now
		}
	}
	return Step{}
}

// Packet takes a received message; messages for other clients or other
// transactions, and those the state does not expect, change nothing.
func (m *Machine) Packet(now time.Time, msg *dhcpv4.DHCPv4) Step {
	if msg.OpCode != dhcpv4.OpcodeBootReply || msg.TransactionID != m.xid || !bytes.Equal(msg.ClientHWAddr, m.p.HWAddr) {
		return Step{}
	}
	switch t := msg.MessageType(); {
	case t == dhcpv4.MessageTypeOffer && m.state == Selecting:
		if _, err := leaseFromACK(msg, now); err != nil {
			return Step{}
		}
		m.state, m.offer, m.tries, m.sent = Requesting, msg, 0, now
		m.wake = now.Add(m.backoff(0))
		return Step{Send: m.selectingRequest()}
	case t == dhcpv4.MessageTypeAck && m.waitsForAnswer():
		l, err := leaseFromACK(msg, m.sent)
		if err != nil {
			return Step{}
		}
		prev, held := m.lease, m.held
		m.lease = l
		m.bound(now)
		if held && prev.SameBinding(l) {
			return Step{Event: &Event{Kind: Renewed, Lease: l}}
		}
		return Step{Event: &Event{Kind: Acquired, Lease: l}}
	case t == dhcpv4.MessageTypeNak && m.waitsForAnswer():
		var ev *Event
		if m.held {
			ev = &Event{Kind: Lost, Why: "the server refused the lease (DHCPNAK)"}
		}
		return m.init(now, ev)
	}
	return Step{}
}

func (m *Machine) waitsForAnswer() bool {
	switch m.state {
	case Requesting, Rebooting, Renewing, Rebinding:
		return true
	}
	return false
}

// LinkUp is called when the interface has carrier again: a lease in force
// is checked with the server at once (INIT-REBOOT), and a client still
// looking for one starts again without waiting out its back-off.
func (m *Machine) LinkUp(now time.Time) Step {
	switch m.state {
	case Bound, Renewing, Rebinding:
		return m.reboot(now)
	case Selecting, Requesting:
		return m.init(now, nil)
	}
	return Step{}
}

// Adopt puts a stored lease in force without asking its server, so that
// it can be released (pathpin down after the daemon died).
func (m *Machine) Adopt(l *Lease) {
	m.lease, m.held, m.state, m.xid = l, true, Bound, m.newXID()
}

// Release gives a lease in force back to its server (DHCPRELEASE); the
// machine stops.
func (m *Machine) Release() Step {
	var s Step
	if m.held {
		msg := m.message(dhcpv4.MessageTypeRelease, dhcpv4.WithClientIP(m.lease.Address.Addr().AsSlice()),
			dhcpv4.WithOption(dhcpv4.OptServerIdentifier(m.lease.Server.AsSlice())))
		s = Step{Send: msg, To: m.lease.Server, From: m.lease.Address.Addr(), Event: &Event{Kind: Lost, Why: "released"}}
	}
	m.state, m.held, m.lease, m.wake = Released, false, nil, time.Time{}
	return s
}

// backoff is RFC 2131's retransmission delay: 4 s doubling to 64 s, each
// moved by up to a second either way.
func (m *Machine) backoff(tries int) time.Duration {
	d := 4 * time.Second << min(tries, 4)
	return d + time.Duration(m.rand.Int64N(int64(2*time.Second))) - time.Second
}

// renewWake is when to send a renewal again before deadline: half the time
// left, but not sooner than a minute unless less than that is left.
func renewWake(now, deadline time.Time) time.Time {
	left := deadline.Sub(now)
	d := left / 2
	if d < renewFloor {
		d = min(left, renewFloor)
	}
	return now.Add(d)
}

func (m *Machine) newXID() dhcpv4.TransactionID {
	var x dhcpv4.TransactionID
	v := m.rand.Uint32()
	x[0], x[1], x[2], x[3] = byte(v>>24), byte(v>>16), byte(v>>8), byte(v)
	return x
}

// requested are the options pathpin asks for.
var requested = []dhcpv4.OptionCode{
	dhcpv4.OptionSubnetMask, dhcpv4.OptionRouter, dhcpv4.OptionDomainNameServer, dhcpv4.OptionInterfaceMTU,
	dhcpv4.OptionIPAddressLeaseTime, dhcpv4.OptionRenewTimeValue, dhcpv4.OptionRebindingTimeValue,
	dhcpv4.OptionClasslessStaticRoute,
}

// message is a message of type t from this client in the current
// transaction.
func (m *Machine) message(t dhcpv4.MessageType, mods ...dhcpv4.Modifier) *dhcpv4.DHCPv4 {
	id := m.p.ClientID
	if id == nil {
		id = append([]byte{1}, m.p.HWAddr...)
	}
	base := []dhcpv4.Modifier{
		dhcpv4.WithTransactionID(m.xid),
		dhcpv4.WithHwAddr(m.p.HWAddr),
		dhcpv4.WithMessageType(t),
		dhcpv4.WithOption(dhcpv4.OptClientIdentifier(id)),
	}
	if m.unconfigured(t) {
		// RFC 2131 §4.1: a client that cannot receive unicast datagrams
		// before its address is configured sets the broadcast bit. Without
		// it a server that unicasts the OFFER or ACK (Kea, ISC dhcpd,
		// dnsmasq) sends it to an address the kernel does not have yet, and
		// the kernel routes it elsewhere.
		base = append(base, dhcpv4.WithBroadcast(true))
	}
	if t != dhcpv4.MessageTypeRelease {
		base = append(base, dhcpv4.WithOption(dhcpv4.OptParameterRequestList(requested...)),
			dhcpv4.WithOption(dhcpv4.OptMaxMessageSize(1500)))
		if m.p.Hostname != "" {
			base = append(base, dhcpv4.WithOption(dhcpv4.OptHostName(m.p.Hostname)))
		}
	}
	msg, _ := dhcpv4.New(append(base, mods...)...)
	return msg
}

// unconfigured reports whether a message of type t is sent before the
// lease's address is on the interface: a DISCOVER, and a REQUEST while
// selecting or rebooting (a renewal or rebind comes from a bound client).
func (m *Machine) unconfigured(t dhcpv4.MessageType) bool {
	switch t {
	case dhcpv4.MessageTypeDiscover:
		return true
	case dhcpv4.MessageTypeRequest:
		return m.state == Selecting || m.state == Requesting || m.state == Rebooting
	}
	return false
}

// selectingRequest asks for the offer taken (SELECTING → REQUESTING).
func (m *Machine) selectingRequest() *dhcpv4.DHCPv4 {
	return m.message(dhcpv4.MessageTypeRequest,
		dhcpv4.WithOption(dhcpv4.OptRequestedIPAddress(m.offer.YourIPAddr)),
		dhcpv4.WithOptionCopied(m.offer, dhcpv4.OptionServerIdentifier))
}

// rebootRequest asks for a known address again, naming no server.
func (m *Machine) rebootRequest() *dhcpv4.DHCPv4 {
	return m.message(dhcpv4.MessageTypeRequest, dhcpv4.WithOption(dhcpv4.OptRequestedIPAddress(m.lease.Address.Addr().AsSlice())))
}

// renewal extends the lease in force: its address in ciaddr, nothing else
// (RENEWING unicast to its server, REBINDING broadcast).
func (m *Machine) renewal() *dhcpv4.DHCPv4 {
	return m.message(dhcpv4.MessageTypeRequest, dhcpv4.WithClientIP(m.lease.Address.Addr().AsSlice()))
}
