package dhcp

import (
	"math/rand/v2"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/insomniacslk/dhcp/dhcpv4"
)

var (
	mac    = net.HardwareAddr{0x02, 0, 0, 0, 0, 0x01}
	server = netip.MustParseAddr("192.168.1.254")
	t0     = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
)

func newMachine() *Machine {
	return NewMachine(Params{HWAddr: mac, Hostname: "pathpin"}, rand.New(rand.NewPCG(1, 2)))
}

// reply is the server's answer of type t to req, granting addr with the
// given lease and T1/T2 (0 leaves them out).
func reply(t *testing.T, req *dhcpv4.DHCPv4, typ dhcpv4.MessageType, addr string, lease, t1, t2 time.Duration, opts ...dhcpv4.Modifier) *dhcpv4.DHCPv4 {
	t.Helper()
	mods := []dhcpv4.Modifier{dhcpv4.WithMessageType(typ), dhcpv4.WithServerIP(server.AsSlice()),
		dhcpv4.WithOption(dhcpv4.OptServerIdentifier(server.AsSlice()))}
	if typ != dhcpv4.MessageTypeNak {
		mods = append(mods, dhcpv4.WithYourIP(net.ParseIP(addr)),
			dhcpv4.WithNetmask(net.CIDRMask(24, 32)),
			dhcpv4.WithOption(dhcpv4.OptRouter(server.AsSlice())),
			dhcpv4.WithOption(dhcpv4.OptDNS(net.ParseIP("192.168.1.53"))),
			dhcpv4.WithLeaseTime(uint32(lease/time.Second)))
		if t1 > 0 {
			mods = append(mods, dhcpv4.WithOption(dhcpv4.OptRenewTimeValue(t1)), dhcpv4.WithOption(dhcpv4.OptRebindingTimeValue(t2)))
		}
	}
	r, err := dhcpv4.NewReplyFromRequest(req, append(mods, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func wantSend(t *testing.T, s Step, typ dhcpv4.MessageType, unicast bool) *dhcpv4.DHCPv4 {
	t.Helper()
	if s.Send == nil {
		t.Fatalf("sent nothing, want a %s", typ)
	}
	if got := s.Send.MessageType(); got != typ {
		t.Fatalf("sent a %s, want a %s", got, typ)
	}
	if s.To.IsValid() != unicast {
		t.Fatalf("%s: unicast to %v, want unicast %v", typ, s.To, unicast)
	}
	return s.Send
}

func wantEvent(t *testing.T, s Step, kind EventKind) *Event {
	t.Helper()
	if s.Event == nil || s.Event.Kind != kind {
		t.Fatalf("event %+v, want kind %d", s.Event, kind)
	}
	return s.Event
}

// bind runs DISCOVER → OFFER → REQUEST → ACK for addr at t0.
func bind(t *testing.T, m *Machine, addr string, lease, t1, t2 time.Duration) *Lease {
	t.Helper()
	disc := wantSend(t, m.Start(t0, nil), dhcpv4.MessageTypeDiscover, false)
	if m.State() != Selecting {
		t.Fatalf("after start: %s", m.State())
	}
	req := wantSend(t, m.Packet(t0.Add(time.Millisecond), reply(t, disc, dhcpv4.MessageTypeOffer, addr, lease, t1, t2)), dhcpv4.MessageTypeRequest, false)
	if got := net.IP(req.GetOneOption(dhcpv4.OptionServerIdentifier)); !got.Equal(server.AsSlice()) || !req.RequestedIPAddress().Equal(net.ParseIP(addr)) {
		t.Fatalf("the REQUEST names server %v and address %v", got, req.RequestedIPAddress())
	}
	if req.HostName() != "pathpin" || len(req.GetOneOption(dhcpv4.OptionClientIdentifier)) != 7 {
		t.Fatalf("the REQUEST lacks the host name or client id: %v", req)
	}
	ev := wantEvent(t, m.Packet(t0.Add(2*time.Millisecond), reply(t, req, dhcpv4.MessageTypeAck, addr, lease, t1, t2)), Acquired)
	if m.State() != Bound || ev.Lease.Address.String() != addr+"/24" || ev.Lease.Gateway() != server || !ev.Lease.Obtained.Equal(t0.Add(time.Millisecond)) {
		t.Fatalf("bound %s with %+v", m.State(), ev.Lease)
	}
	return ev.Lease
}

func TestBindRenewRebindExpire(t *testing.T) {
	m := newMachine()
	l := bind(t, m, "192.168.1.10", 120*time.Second, 10*time.Second, 15*time.Second)
	if !m.Wake().Equal(l.RenewAt()) || l.T1 != 10*time.Second || l.T2 != 15*time.Second {
		t.Fatalf("wakes at %v, want T1 %v", m.Wake(), l.RenewAt())
	}
	// Nothing happens before T1.
	if s := m.Timer(l.RenewAt().Add(-time.Second)); s.Send != nil || m.State() != Bound {
		t.Fatalf("before T1: %s, sent %v", m.State(), s.Send)
	}
	// T1: a unicast renewal from the leased address.
	renew := wantSend(t, m.Timer(l.RenewAt()), dhcpv4.MessageTypeRequest, true)
	if !renew.ClientIPAddr.Equal(net.ParseIP("192.168.1.10")) || renew.RequestedIPAddress() != nil || m.State() != Renewing {
		t.Fatalf("renewal %v in %s", renew, m.State())
	}
	// Its ACK is lost; T2: a broadcast rebinding.
	if !m.Wake().Equal(l.RebindAt()) {
		t.Fatalf("renewing wakes at %v, want T2 %v", m.Wake(), l.RebindAt())
	}
	rebind := wantSend(t, m.Timer(l.RebindAt()), dhcpv4.MessageTypeRequest, false)
	if m.State() != Rebinding || !rebind.ClientIPAddr.Equal(net.ParseIP("192.168.1.10")) {
		t.Fatalf("rebinding %v in %s", rebind, m.State())
	}
	// Retransmissions until expiry, then the lease is lost and INIT sends
	// a DISCOVER at once.
	for m.Wake().Before(l.ExpiresAt()) {
		wantSend(t, m.Timer(m.Wake()), dhcpv4.MessageTypeRequest, false)
	}
	s := m.Timer(l.ExpiresAt())
	wantEvent(t, s, Lost)
	wantSend(t, s, dhcpv4.MessageTypeDiscover, false)
	if m.State() != Selecting || m.Lease() != nil {
		t.Fatalf("after expiry: %s with %v", m.State(), m.Lease())
	}
}

func TestRenewalKeepsOrChangesTheBinding(t *testing.T) {
	m := newMachine()
	l := bind(t, m, "192.168.1.10", time.Hour, 0, 0)
	if l.T1 != 30*time.Minute || l.T2 != 52*time.Minute+30*time.Second {
		t.Fatalf("default T1/T2: %v %v", l.T1, l.T2)
	}
	renew := wantSend(t, m.Timer(l.RenewAt()), dhcpv4.MessageTypeRequest, true)
	at := l.RenewAt().Add(time.Millisecond)
	ev := wantEvent(t, m.Packet(at, reply(t, renew, dhcpv4.MessageTypeAck, "192.168.1.10", time.Hour, 0, 0)), Renewed)
	if !ev.Lease.Obtained.Equal(l.RenewAt()) || !m.Wake().Equal(ev.Lease.RenewAt()) {
		t.Fatalf("renewed lease counts from %v, wakes at %v", ev.Lease.Obtained, m.Wake())
	}
	// A duplicate of the ACK changes nothing.
	if s := m.Packet(at, reply(t, renew, dhcpv4.MessageTypeAck, "192.168.1.10", time.Hour, 0, 0)); s.Event != nil || s.Send != nil {
		t.Fatalf("a duplicate ACK did %+v", s)
	}
	// The next renewal hands out another address: the binding changed.
	renew = wantSend(t, m.Timer(ev.Lease.RenewAt()), dhcpv4.MessageTypeRequest, true)
	ev = wantEvent(t, m.Packet(ev.Lease.RenewAt(), reply(t, renew, dhcpv4.MessageTypeAck, "192.168.1.20", time.Hour, 0, 0)), Acquired)
	if ev.Lease.Address.Addr().String() != "192.168.1.20" {
		t.Fatalf("changed lease %v", ev.Lease.Address)
	}
}

func TestNakInEveryAskingState(t *testing.T) {
	for _, tc := range []struct {
		name string
		// reach returns the request pending in the state under test.
		reach    func(t *testing.T, m *Machine) *dhcpv4.DHCPv4
		wantLost bool
	}{
		{"requesting", func(t *testing.T, m *Machine) *dhcpv4.DHCPv4 {
			disc := wantSend(t, m.Start(t0, nil), dhcpv4.MessageTypeDiscover, false)
			return wantSend(t, m.Packet(t0, reply(t, disc, dhcpv4.MessageTypeOffer, "192.168.1.10", time.Hour, 0, 0)), dhcpv4.MessageTypeRequest, false)
		}, false},
		{"init-reboot", func(t *testing.T, m *Machine) *dhcpv4.DHCPv4 {
			stored := &Lease{Address: netip.MustParsePrefix("192.168.1.10/24"), Server: server, Obtained: t0.Add(-time.Minute), Duration: time.Hour}
			return wantSend(t, m.Start(t0, stored), dhcpv4.MessageTypeRequest, false)
		}, false},
		{"renewing", func(t *testing.T, m *Machine) *dhcpv4.DHCPv4 {
			l := bind(t, m, "192.168.1.10", time.Hour, 0, 0)
			return wantSend(t, m.Timer(l.RenewAt()), dhcpv4.MessageTypeRequest, true)
		}, true},
		{"rebinding", func(t *testing.T, m *Machine) *dhcpv4.DHCPv4 {
			l := bind(t, m, "192.168.1.10", time.Hour, 0, 0)
			m.Timer(l.RenewAt())
			return wantSend(t, m.Timer(l.RebindAt()), dhcpv4.MessageTypeRequest, false)
		}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := newMachine()
			req := tc.reach(t, m)
			s := m.Packet(t0.Add(2*time.Hour), reply(t, req, dhcpv4.MessageTypeNak, "", 0, 0, 0))
			// A DHCPNAK sends the client back to INIT at once.
			wantSend(t, s, dhcpv4.MessageTypeDiscover, false)
			if (s.Event != nil && s.Event.Kind == Lost) != tc.wantLost || m.State() != Selecting || m.Lease() != nil {
				t.Fatalf("after NAK: %s, event %+v", m.State(), s.Event)
			}
		})
	}
}

func TestLostAnswersAreRetransmittedWithJitter(t *testing.T) {
	m := newMachine()
	disc := wantSend(t, m.Start(t0, nil), dhcpv4.MessageTypeDiscover, false)
	// DISCOVER: 4, 8, 16, 32, 64, 64 s, each ±1 s, with the same xid.
	now := t0
	for i, base := range []time.Duration{4, 8, 16, 32, 64, 64} {
		d := m.Wake().Sub(now)
		if d < (base-1)*time.Second || d > (base+1)*time.Second {
			t.Fatalf("retransmission %d after %v, want %d s ± 1 s", i, d, base)
		}
		now = m.Wake()
		again := wantSend(t, m.Timer(now), dhcpv4.MessageTypeDiscover, false)
		if again.TransactionID != disc.TransactionID {
			t.Fatal("a retransmitted DISCOVER changed its transaction id")
		}
	}
	// REQUEST: lost ACKs; after four tries, back to INIT.
	req := wantSend(t, m.Packet(now, reply(t, disc, dhcpv4.MessageTypeOffer, "192.168.1.10", time.Hour, 0, 0)), dhcpv4.MessageTypeRequest, false)
	for i := 1; i < requestTries; i++ {
		wantSend(t, m.Timer(m.Wake()), dhcpv4.MessageTypeRequest, false)
	}
	wantSend(t, m.Timer(m.Wake()), dhcpv4.MessageTypeDiscover, false)
	if m.State() != Selecting {
		t.Fatalf("after the REQUEST's tries: %s", m.State())
	}
	// A late ACK for the abandoned transaction is ignored.
	if s := m.Packet(m.Wake(), reply(t, req, dhcpv4.MessageTypeAck, "192.168.1.10", time.Hour, 0, 0)); s.Event != nil {
		t.Fatal("an ACK of an abandoned transaction bound a lease")
	}
}

func TestInitRebootWithAStoredLease(t *testing.T) {
	stored := &Lease{Address: netip.MustParsePrefix("192.168.1.10/24"), Router: server, Server: server, Obtained: t0.Add(-10 * time.Minute), Duration: time.Hour, T1: 30 * time.Minute, T2: 50 * time.Minute}
	m := newMachine()
	req := wantSend(t, m.Start(t0, stored), dhcpv4.MessageTypeRequest, false)
	if m.State() != Rebooting || !req.RequestedIPAddress().Equal(net.ParseIP("192.168.1.10")) || req.ServerIdentifier() != nil || !req.ClientIPAddr.IsUnspecified() {
		t.Fatalf("INIT-REBOOT request %v in %s", req, m.State())
	}
	if m.Lease() != nil {
		t.Fatal("a stored lease is in force before the server confirmed it")
	}
	ev := wantEvent(t, m.Packet(t0, reply(t, req, dhcpv4.MessageTypeAck, "192.168.1.10", time.Hour, 0, 0)), Acquired)
	if m.State() != Bound || !ev.Lease.Obtained.Equal(t0) {
		t.Fatalf("after the ACK: %s, %+v", m.State(), ev.Lease)
	}

	// No answer: after its tries, INIT.
	m = newMachine()
	m.Start(t0, stored)
	for i := 1; i < rebootTries; i++ {
		wantSend(t, m.Timer(m.Wake()), dhcpv4.MessageTypeRequest, false)
	}
	wantSend(t, m.Timer(m.Wake()), dhcpv4.MessageTypeDiscover, false)

	// An expired stored lease is not asked for.
	m = newMachine()
	wantSend(t, m.Start(stored.ExpiresAt(), stored), dhcpv4.MessageTypeDiscover, false)
}

func TestLinkUpChecksTheLease(t *testing.T) {
	m := newMachine()
	l := bind(t, m, "192.168.1.10", time.Hour, 0, 0)
	at := t0.Add(time.Minute)
	req := wantSend(t, m.LinkUp(at), dhcpv4.MessageTypeRequest, false)
	if m.State() != Rebooting || m.Lease() == nil || !req.ClientIPAddr.IsUnspecified() || !req.RequestedIPAddress().Equal(net.ParseIP("192.168.1.10")) {
		t.Fatalf("after link up: %s, lease %v", m.State(), m.Lease())
	}
	// Nobody answers: the lease stays in force.
	for i := 1; i < rebootTries; i++ {
		m.Timer(m.Wake())
	}
	if s := m.Timer(m.Wake()); s.Event == nil || s.Event.Kind != Renewed || m.State() != Bound || !m.Wake().Equal(l.RenewAt()) {
		t.Fatalf("unanswered after link up: %s, %+v, wakes %v", m.State(), s.Event, m.Wake())
	}
	// Answered with the same lease: renewed.
	req = wantSend(t, m.LinkUp(at), dhcpv4.MessageTypeRequest, false)
	wantEvent(t, m.Packet(at, reply(t, req, dhcpv4.MessageTypeAck, "192.168.1.10", time.Hour, 0, 0)), Renewed)
}

func TestRelease(t *testing.T) {
	m := newMachine()
	bind(t, m, "192.168.1.10", time.Hour, 0, 0)
	s := m.Release()
	rel := wantSend(t, s, dhcpv4.MessageTypeRelease, true)
	wantEvent(t, s, Lost)
	if s.To != server || s.From.String() != "192.168.1.10" || !rel.ClientIPAddr.Equal(net.ParseIP("192.168.1.10")) || !rel.ServerIdentifier().Equal(server.AsSlice()) {
		t.Fatalf("release %v to %v from %v", rel, s.To, s.From)
	}
	if m.State() != Released || !m.Wake().IsZero() {
		t.Fatalf("after release: %s, wakes %v", m.State(), m.Wake())
	}
	// Nothing bound: nothing to release.
	if s := newMachine().Release(); s.Send != nil {
		t.Fatal("released a lease never held")
	}
}

func TestOptionsOfTheLease(t *testing.T) {
	m := newMachine()
	disc := wantSend(t, m.Start(t0, nil), dhcpv4.MessageTypeDiscover, false)
	extra := []dhcpv4.Modifier{
		dhcpv4.WithOption(dhcpv4.Option{Code: dhcpv4.OptionInterfaceMTU, Value: dhcpv4.Uint16(1400)}),
		dhcpv4.WithOption(dhcpv4.OptClasslessStaticRoute(
			&dhcpv4.Route{Dest: &net.IPNet{IP: net.ParseIP("10.9.0.0"), Mask: net.CIDRMask(16, 32)}, Router: net.ParseIP("192.168.1.1")},
			&dhcpv4.Route{Dest: &net.IPNet{IP: net.IPv4zero, Mask: net.CIDRMask(0, 32)}, Router: net.ParseIP("192.168.1.2")},
		)),
	}
	req := wantSend(t, m.Packet(t0, reply(t, disc, dhcpv4.MessageTypeOffer, "192.168.1.10", time.Hour, 0, 0, extra...)), dhcpv4.MessageTypeRequest, false)
	ev := wantEvent(t, m.Packet(t0, reply(t, req, dhcpv4.MessageTypeAck, "192.168.1.10", time.Hour, 0, 0, extra...)), Acquired)
	l := ev.Lease
	if l.MTU != 1400 || len(l.Routes) != 2 || l.Routes[0].Dst.String() != "10.9.0.0/16" || l.Gateway().String() != "192.168.1.2" || len(l.DNS) != 1 {
		t.Fatalf("lease %+v", l)
	}
}

// TestBroadcastFlagWhileUnconfigured: RFC 2131 §4.1. Before the lease's
// address is on the interface (DISCOVER, the REQUEST that selects an
// offer, INIT-REBOOT) the client asks for broadcast answers: a server
// that unicasts them otherwise sends them to an address the kernel does
// not have. A renewal, rebind and release come from a configured client.
func TestBroadcastFlagWhileUnconfigured(t *testing.T) {
	m := newMachine()
	disc := wantSend(t, m.Start(t0, nil), dhcpv4.MessageTypeDiscover, false)
	req := wantSend(t, m.Packet(t0, reply(t, disc, dhcpv4.MessageTypeOffer, "192.168.1.10", time.Hour, 0, 0)), dhcpv4.MessageTypeRequest, false)
	wantEvent(t, m.Packet(t0, reply(t, req, dhcpv4.MessageTypeAck, "192.168.1.10", time.Hour, 0, 0)), Acquired)
	renew := wantSend(t, m.Timer(m.Lease().RenewAt()), dhcpv4.MessageTypeRequest, true)
	rebind := wantSend(t, m.Timer(m.Lease().RebindAt()), dhcpv4.MessageTypeRequest, false)
	reboot := wantSend(t, newMachine().Start(t0, m.Lease()), dhcpv4.MessageTypeRequest, false)
	release := wantSend(t, m.Release(), dhcpv4.MessageTypeRelease, true)
	for _, tc := range []struct {
		name string
		msg  *dhcpv4.DHCPv4
		want bool
	}{{"discover", disc, true}, {"selecting request", req, true}, {"init-reboot request", reboot, true},
		{"renewal", renew, false}, {"rebind", rebind, false}, {"release", release, false}} {
		if got := tc.msg.IsBroadcast(); got != tc.want {
			t.Errorf("%s: broadcast flag %v, want %v", tc.name, got, tc.want)
		}
	}
}

// TestInfiniteLease: a lease of 0xffffffff seconds is never renewed, and
// its T1 and T2 are where the RFC puts them, not before the lease was
// obtained (seven eighths of it overflowed a Duration once).
func TestInfiniteLease(t *testing.T) {
	for _, secs := range []uint32{0xffffffff, 0xfffffff0} {
		m := newMachine()
		disc := wantSend(t, m.Start(t0, nil), dhcpv4.MessageTypeDiscover, false)
		lease := time.Duration(secs) * time.Second
		req := wantSend(t, m.Packet(t0, reply(t, disc, dhcpv4.MessageTypeOffer, "192.168.1.10", lease, 0, 0)), dhcpv4.MessageTypeRequest, false)
		l := wantEvent(t, m.Packet(t0, reply(t, req, dhcpv4.MessageTypeAck, "192.168.1.10", lease, 0, 0)), Acquired).Lease
		if !l.RebindAt().After(l.RenewAt()) || !l.RenewAt().After(t0) || l.RebindAt().After(l.ExpiresAt()) {
			t.Errorf("%#x s: obtained %v, T1 %v, T2 %v, expiry %v", secs, l.Obtained, l.RenewAt(), l.RebindAt(), l.ExpiresAt())
		}
		if infinite := secs == 0xffffffff; infinite != m.Wake().IsZero() {
			t.Errorf("%#x s: wakes at %v (an infinite lease is never renewed, a finite one is)", secs, m.Wake())
		}
	}
}
