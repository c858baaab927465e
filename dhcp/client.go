package dhcp

import (
	"context"
	"errors"
	"log/slog"
	"math/rand/v2"
	"net/netip"
	"sync"
	"time"

	"github.com/insomniacslk/dhcp/dhcpv4"
)

// Conn sends and receives DHCP messages on one interface.
type Conn interface {
	// Send sends msg: broadcast when to is invalid, else to to's port 67
	// from from's port 68.
	Send(msg *dhcpv4.DHCPv4, to, from netip.Addr) error
	// Receive returns the next message that arrives for port 68; it
	// fails once the conn is closed.
	Receive() (*dhcpv4.DHCPv4, error)
	Close() error
}

// Clock is the client's time.
type Clock interface {
	Now() time.Time
	// After sends the time on the channel once d has passed; stop
	// releases it early.
	After(d time.Duration) (c <-chan time.Time, stop func())
}

// RealClock is the system's clock.
type RealClock struct{}

// Now is time.Now.
func (RealClock) Now() time.Time { return time.Now() }

// After is a time.Timer.
func (RealClock) After(d time.Duration) (<-chan time.Time, func()) {
	t := time.NewTimer(d)
	return t.C, func() { t.Stop() }
}

// Status is what `pathpin status` shows of a client.
type Status struct {
	State State
	Lease *Lease // the lease in force, or nil
}

// Client runs one uplink's lease: a Machine on a Conn and a Clock. Run it
// once; Release it after Run returns.
type Client struct {
	Uplink string
	Params Params
	Conn   Conn
	Clock  Clock
	Store  Store
	// Rand seeds transaction ids and jitter; nil takes a random seed.
	Rand *rand.Rand
	Log  *slog.Logger
	// OnEvent is told of every change of the lease in force, from Run's
	// goroutine, after the lease is stored.
	OnEvent func(Event)

	linkUp chan struct{}
	mu     sync.Mutex // guards m against Status
	m      *Machine
}

func (c *Client) init() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m != nil {
		return
	}
	if c.Rand == nil {
		c.Rand = rand.New(rand.NewPCG(rand.Uint64(), rand.Uint64()))
	}
	if c.Log == nil {
		c.Log = slog.New(slog.DiscardHandler)
	}
	c.linkUp = make(chan struct{}, 1)
	c.m = NewMachine(c.Params, c.Rand)
}

// Run keeps a lease until ctx ends; it starts from the stored lease when
// one has not expired. It returns an error only when the conn fails.
func (c *Client) Run(ctx context.Context) error {
	c.init()
	msgs := make(chan *dhcpv4.DHCPv4, 16)
	recvErr := make(chan error, 1)
	go func() {
		for {
			msg, err := c.Conn.Receive()
			if err != nil {
				recvErr <- err
				return
			}
			select {
			case msgs <- msg:
			case <-ctx.Done():
				return
			}
		}
	}()
	stored, err := c.Store.Load(c.Uplink)
	if err != nil {
		c.Log.Warn("starting without the stored lease", "err", err)
	}
	c.step(func(now time.Time) Step { return c.m.Start(now, stored) })
	for {
		var timer <-chan time.Time
		stop := func() {}
		if w := c.m.Wake(); !w.IsZero() {
			timer, stop = c.Clock.After(w.Sub(c.Clock.Now()))
		}
		select {
		case <-ctx.Done():
			stop()
			return nil
		case err := <-recvErr:
			stop()
			if ctx.Err() != nil {
				return nil
			}
			return err
		case msg := <-msgs:
			c.step(func(now time.Time) Step { return c.m.Packet(now, msg) })
		case <-timer:
			c.step(c.m.Timer)
		case <-c.linkUp:
			c.step(c.m.LinkUp)
		}
		stop()
	}
}

// step runs one input of the machine and carries out its step.
func (c *Client) step(input func(now time.Time) Step) {
	c.mu.Lock()
	before := c.m.State()
	s := input(c.Clock.Now())
	after := c.m.State()
	c.mu.Unlock()
	if before != after {
		c.Log.Debug("DHCP state", "from", before.String(), "to", after.String())
	}
	c.carryOut(s)
}

func (c *Client) carryOut(s Step) {
	if s.Send != nil {
		if err := c.Conn.Send(s.Send, s.To, s.From); err != nil {
			// A message that cannot leave (an interface going away, a
			// socket the system refuses) is retransmitted on the state
			// machine's schedule; it is said, so that a lasting cause shows.
			c.Log.Warn("sending a DHCP message failed", "type", s.Send.MessageType().String(), "err", err)
		}
	}
	if s.Event == nil {
		return
	}
	var err error
	switch s.Event.Kind {
	case Acquired, Renewed:
		err = c.Store.Save(c.Uplink, s.Event.Lease)
	case Lost:
		err = c.Store.Save(c.Uplink, nil)
	}
	if err != nil {
		c.Log.Warn("storing the DHCP lease", "err", err)
	}
	if c.OnEvent != nil {
		c.OnEvent(*s.Event)
	}
}

// LinkUp tells the client that its interface has carrier again.
func (c *Client) LinkUp() {
	c.init()
	select {
	case c.linkUp <- struct{}{}:
	default:
	}
}

// Status is the client's state and lease now.
func (c *Client) Status() Status {
	c.init()
	c.mu.Lock()
	defer c.mu.Unlock()
	return Status{State: c.m.State(), Lease: c.m.Lease()}
}

// Release sends DHCPRELEASE for the lease in force and forgets the stored
// one. Call it after Run has returned.
func (c *Client) Release() error {
	c.init()
	c.mu.Lock()
	s := c.m.Release()
	c.mu.Unlock()
	if s.Send == nil {
		return c.Store.Save(c.Uplink, nil)
	}
	err := c.Conn.Send(s.Send, s.To, s.From)
	return errors.Join(err, c.Store.Save(c.Uplink, nil))
}

// ReleaseStored releases a lease a client stored and did not release (its
// daemon was killed): `pathpin down` does this.
func ReleaseStored(conn Conn, p Params, store Store, uplink string) (released *Lease, err error) {
	l, err := store.Load(uplink)
	if err != nil || l == nil {
		return nil, err
	}
	if l.Duration != Infinite && !time.Now().Before(l.ExpiresAt()) {
		// Expired: the server has it back already.
		return nil, store.Save(uplink, nil)
	}
	m := NewMachine(p, rand.New(rand.NewPCG(rand.Uint64(), rand.Uint64())))
	m.Adopt(l)
	s := m.Release()
	err = conn.Send(s.Send, s.To, s.From)
	return l, errors.Join(err, store.Save(uplink, nil))
}
