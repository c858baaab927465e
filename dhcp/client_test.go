package dhcp

import (
	"context"
	"errors"
	"math/rand/v2"
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/insomniacslk/dhcp/dhcpv4"
)

// fakeConn records what is sent and delivers what the test injects.
type fakeConn struct {
	sent   chan sent
	in     chan *dhcpv4.DHCPv4
	closed chan struct{}
	once   sync.Once
}

type sent struct {
	msg      *dhcpv4.DHCPv4
	to, from netip.Addr
}

func newFakeConn() *fakeConn {
	return &fakeConn{sent: make(chan sent, 16), in: make(chan *dhcpv4.DHCPv4), closed: make(chan struct{})}
}

func (c *fakeConn) Send(m *dhcpv4.DHCPv4, to, from netip.Addr) error {
	c.sent <- sent{m, to, from}
	return nil
}

func (c *fakeConn) Receive() (*dhcpv4.DHCPv4, error) {
	select {
	case m := <-c.in:
		return m, nil
	case <-c.closed:
		return nil, errors.New("closed")
	}
}

func (c *fakeConn) Close() error { c.once.Do(func() { close(c.closed) }); return nil }

// fakeClock fires a timer only when the test advances past it.
type fakeClock struct {
	mu     sync.Mutex
	now    time.Time
	timers []*fakeTimer
}

type fakeTimer struct {
	at time.Time
	c  chan time.Time
}

func (c *fakeClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }

func (c *fakeClock) After(d time.Duration) (<-chan time.Time, func()) {
	c.mu.Lock()
	defer c.mu.Unlock()
	t := &fakeTimer{at: c.now.Add(d), c: make(chan time.Time, 1)}
	if d <= 0 {
		// Due already (the clock moved before the timer was set).
		t.c <- c.now
		return t.c, func() {}
	}
	c.timers = append(c.timers, t)
	return t.c, func() {
		c.mu.Lock()
		defer c.mu.Unlock()
		for i, x := range c.timers {
			if x == t {
				c.timers = append(c.timers[:i], c.timers[i+1:]...)
				return
			}
		}
	}
}

// advance moves the clock to at and fires the timers due.
func (c *fakeClock) advance(at time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = at
	for _, t := range c.timers {
		if !t.at.After(at) {
			t.c <- at
		}
	}
}

func TestClientRunsTheMachineAndStoresTheLease(t *testing.T) {
	conn, clock := newFakeConn(), &fakeClock{now: t0}
	store := Store{Dir: t.TempDir()}
	events := make(chan Event, 4)
	c := &Client{Uplink: "cable", Params: Params{HWAddr: mac}, Conn: conn, Clock: clock, Store: store,
		Rand: rand.New(rand.NewPCG(3, 4)), OnEvent: func(e Event) { events <- e }}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- c.Run(ctx) }()

	next := func(typ dhcpv4.MessageType) sent {
		t.Helper()
		select {
		case s := <-conn.sent:
			if s.msg.MessageType() != typ {
				t.Fatalf("sent %s, want %s", s.msg.MessageType(), typ)
			}
			return s
		case <-time.After(5 * time.Second):
			t.Fatalf("no %s sent", typ)
		}
		return sent{}
	}
	disc := next(dhcpv4.MessageTypeDiscover)
	conn.in <- reply(t, disc.msg, dhcpv4.MessageTypeOffer, "192.168.1.10", 120*time.Second, 10*time.Second, 15*time.Second)
	req := next(dhcpv4.MessageTypeRequest)
	conn.in <- reply(t, req.msg, dhcpv4.MessageTypeAck, "192.168.1.10", 120*time.Second, 10*time.Second, 15*time.Second)
	if e := <-events; e.Kind != Acquired {
		t.Fatalf("event %+v", e)
	}
	if l, _ := store.Load("cable"); l == nil || l.Address.String() != "192.168.1.10/24" {
		t.Fatalf("stored %+v", l)
	}
	if st := c.Status(); st.State != Bound || st.Lease == nil {
		t.Fatalf("status %+v", st)
	}
	// T1 on the clock: a unicast renewal, answered.
	clock.advance(t0.Add(10 * time.Second))
	renew := next(dhcpv4.MessageTypeRequest)
	if renew.to != server || renew.from.String() != "192.168.1.10" {
		t.Fatalf("renewal to %v from %v", renew.to, renew.from)
	}
	conn.in <- reply(t, renew.msg, dhcpv4.MessageTypeAck, "192.168.1.10", 120*time.Second, 10*time.Second, 15*time.Second)
	if e := <-events; e.Kind != Renewed {
		t.Fatalf("event %+v", e)
	}
	// The link comes back: INIT-REBOOT at once.
	c.LinkUp()
	next(dhcpv4.MessageTypeRequest)

	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if err := c.Release(); err != nil {
		t.Fatal(err)
	}
	rel := next(dhcpv4.MessageTypeRelease)
	if rel.to != server {
		t.Fatalf("release to %v", rel.to)
	}
	if l, _ := store.Load("cable"); l != nil {
		t.Fatal("the released lease is still stored")
	}
	conn.Close()
}

func TestReleaseStored(t *testing.T) {
	store := Store{Dir: t.TempDir()}
	l := &Lease{Address: netip.MustParsePrefix("192.168.1.10/24"), Server: server, Obtained: time.Now(), Duration: time.Hour}
	if err := store.Save("cable", l); err != nil {
		t.Fatal(err)
	}
	conn := newFakeConn()
	got, err := ReleaseStored(conn, Params{HWAddr: mac}, store, "cable")
	if err != nil || got == nil {
		t.Fatal(got, err)
	}
	s := <-conn.sent
	if s.msg.MessageType() != dhcpv4.MessageTypeRelease || s.to != server {
		t.Fatalf("sent %v to %v", s.msg.MessageType(), s.to)
	}
	if l, _ := store.Load("cable"); l != nil {
		t.Fatal("still stored")
	}
}
