package daemon

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/pathpin/pathpin/dhcp"
	"github.com/pathpin/pathpin/internal/atomicfile"
	"github.com/pathpin/pathpin/internal/config"
	"github.com/pathpin/pathpin/internal/status"
	"github.com/pathpin/pathpin/uplink"
	"github.com/pathpin/pathpin/vlan"
)

// dhcpReadyWait bounds how long READY waits for a DHCP uplink's first
// lease: a server that does not answer must not hold the others up.
const dhcpReadyWait = 10 * time.Second

// dhcpRetry is how long a DHCP uplink waits before trying again to open
// its interface (unplugged, or not there yet).
const dhcpRetry = 5 * time.Second

// dhcpTask keeps one DHCP uplink's lease.
type dhcpTask struct {
	uplink config.Uplink
	cancel context.CancelFunc
	done   chan struct{}
	// release: give the lease back when the task stops (the daemon stops,
	// or the uplink left the configuration). A task restarted for new
	// settings keeps it, to ask for it again.
	release bool

	mu     sync.Mutex
	client *dhcp.Client
}

// sameDHCP reports whether two settings of an uplink run the same client.
func sameDHCP(a, b config.Uplink) bool {
	return a.IsDHCP() && b.IsDHCP() && a.Interface == b.Interface && *a.DHCP == *b.DHCP
}

// runDHCP is one DHCP uplink's life: its interface up (by the applier),
// the client on it until ctx ends, then the release. An interface that
// goes away (a USB adapter unplugged) is waited for and opened again.
func (d *Daemon) runDHCP(ctx context.Context, t *dhcpTask, first func()) {
	u := t.uplink
	log := d.log.With("uplink", u.Name)
	time.AfterFunc(dhcpReadyWait, first)
	for {
		conn, hw, err := d.openDHCP(ctx, u)
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			log.Warn("DHCP cannot start on its interface; trying again", "interface", u.Interface, "err", err, "in", dhcpRetry)
			select {
			case <-ctx.Done():
				return
			case <-time.After(dhcpRetry):
			}
			continue
		}
		c := &dhcp.Client{Uplink: u.Name, Params: dhcpParams(u, hw), Conn: conn, Clock: dhcp.RealClock{}, Store: dhcp.Store{Dir: d.opt.LibDir}, Log: log,
			OnEvent: func(ev dhcp.Event) {
				d.send(ctx, event{kind: evDHCP, uplink: u.Name, dhcp: &ev, dhcpFrom: t})
				if ev.Kind != dhcp.Lost {
					first()
				}
			}}
		t.mu.Lock()
		t.client = c
		t.mu.Unlock()
		err = c.Run(ctx)
		if ctx.Err() == nil {
			// The interface went: its address went with it.
			log.Warn("DHCP client stopped; waiting for its interface", "err", err)
			d.send(ctx, event{kind: evDHCP, uplink: u.Name, dhcp: &dhcp.Event{Kind: dhcp.Lost, Why: "its interface went away"}, dhcpFrom: t})
			conn.Close()
			continue
		}
		if t.release {
			held := c.Status().Lease != nil
			if err := c.Release(); err != nil {
				log.Warn("releasing the DHCP lease", "err", err)
			} else if held {
				log.Info("DHCP lease released")
			}
		}
		conn.Close()
		return
	}
}

// dhcpParams is what a DHCP uplink's client says of itself.
func dhcpParams(u config.Uplink, hw net.HardwareAddr) dhcp.Params {
	p := dhcp.Params{HWAddr: hw, Hostname: u.DHCP.Hostname}
	if u.DHCP.ClientID != "" {
		p.ClientID = []byte(u.DHCP.ClientID)
	}
	return p
}

// openDHCP brings the uplink's interface up through the applier and opens
// the client's sockets on it.
func (d *Daemon) openDHCP(ctx context.Context, u config.Uplink) (*dhcp.RawConn, net.HardwareAddr, error) {
	if err := d.ask(ctx, event{kind: evVLAN, vlan: vlan.Spec{Parent: u.Interface}}); err != nil {
		return nil, nil, err
	}
	ifc, err := net.InterfaceByName(u.Interface)
	if err != nil {
		return nil, nil, err
	}
	conn, err := dhcp.Open(u.Interface)
	return conn, ifc.HardwareAddr, err
}

// dhcpLinkUp tells a DHCP uplink's client its interface has carrier
// again.
func (d *Daemon) dhcpLinkUp(name string) {
	if t := d.dhcpOwn.task(name); t != nil {
		t.mu.Lock()
		c := t.client
		t.mu.Unlock()
		if c != nil {
			c.LinkUp()
		}
	}
}

// handleDHCP takes a lease change into the daemon's view. It reports
// whether an apply is needed, whether the uplink just left service, and the
// resolv file change to make once d.mu is released. Call with d.mu held.
func (d *Daemon) handleDHCP(name string, ev *dhcp.Event) (apply, left bool, files func()) {
	prev := d.dhcpOwn.lease(name)
	held := false
	if s := d.uplinks[name]; s != nil {
		held = !s.dhcp.InService()
		// The server answered (or the lease ran its course): no more
		// checking.
		s.dhcp = uplink.Reason{}
	}
	switch ev.Kind {
	case dhcp.Acquired:
		d.dhcpOwn.setLease(name, ev.Lease)
		d.log.Info("DHCP lease", "uplink", name, "address", ev.Lease.Address.String(), "gateway", ev.Lease.Gateway().String(),
			"server", ev.Lease.Server.String(), "lease", ev.Lease.Duration.String())
		if prev != nil && prev.Address.Addr() != ev.Lease.Address.Addr() {
			// The old address's connections cannot survive.
			d.kernel.flushAddrs = append(d.kernel.flushAddrs, prev.Address.Addr())
		}
	case dhcp.Renewed:
		d.dhcpOwn.setLease(name, ev.Lease)
		d.log.Info("DHCP lease renewed", "uplink", name, "address", ev.Lease.Address.String(), "expires", ev.Lease.ExpiresAt().Format(time.RFC3339))
		return held, false, func() { d.writeResolv(name, ev.Lease) }
	case dhcp.Lost:
		d.dhcpOwn.setLease(name, nil)
		d.log.Warn("DHCP lease lost", "uplink", name, "why", ev.Why)
		return true, prev != nil, func() { d.removeResolv(name) }
	}
	return true, false, func() { d.writeResolv(name, ev.Lease) }
}

// engineLeases are the leases in force of cfg's DHCP uplinks, as the
// engine takes them.
func (d *Daemon) engineLeases(cfg *config.Config) map[string]uplink.Lease {
	out := map[string]uplink.Lease{}
	for _, u := range cfg.Uplinks {
		if l, ok := d.Lease(u.Name); ok && u.IsDHCP() {
			out[u.Name] = l
		}
	}
	return out
}

// Lease gives the engine a DHCP uplink's lease in force.
func (d *Daemon) Lease(name string) (uplink.Lease, bool) {
	l := d.dhcpOwn.lease(name)
	if l == nil {
		return uplink.Lease{}, false
	}
	out := uplink.Lease{Addr: l.Address, Gateway: l.Gateway(), MTU: l.MTU}
	for _, r := range l.Routes {
		if r.Dst.Bits() == 0 {
			continue
		}
		lr := uplink.LeaseRoute{Dst: r.Dst}
		if !r.Gateway.IsUnspecified() {
			lr.Gw = r.Gateway
		}
		out.Routes = append(out.Routes, lr)
	}
	return out, true
}

func (d *Daemon) writeResolv(name string, l *dhcp.Lease) {
	if len(l.DNS) == 0 {
		d.removeResolv(name)
		return
	}
	var b strings.Builder
	fmt.Fprintf(&b, "# DNS servers of uplink %s's DHCP lease, written by pathpin\n", name)
	for _, a := range l.DNS {
		fmt.Fprintf(&b, "nameserver %s\n", a)
	}
	if err := atomicfile.Write(d.opt.dirs().Resolv(name), []byte(b.String()), 0o644); err != nil {
		d.log.Warn("writing the uplink's DNS servers", "uplink", name, "err", err)
	}
}

func (d *Daemon) removeResolv(name string) { _ = os.Remove(d.opt.dirs().Resolv(name)) }

// flushOldAddresses deletes the connections of addresses a lease moved
// away from, once the new one is in place.
func (d *Daemon) flushOldAddresses() {
	if len(d.kernel.flushAddrs) == 0 {
		return
	}
	if ct, ok := d.engine.NL.(uplink.Conntrack); ok {
		for _, a := range d.kernel.flushAddrs {
			d.kernel.flush.queue(d, flushJob{what: "the connections of " + a.String() + ", an address the lease moved from", run: func() error {
				_, err := uplink.FlushAddress(ct, a)
				return err
			}})
		}
	}
	d.kernel.flushAddrs = nil
}

// leaseStatus is what status shows of a DHCP uplink's client.
func (d *Daemon) leaseStatus(name string) *status.Lease {
	t := d.dhcpOwn.task(name)
	if t == nil {
		return nil
	}
	t.mu.Lock()
	c := t.client
	t.mu.Unlock()
	if c == nil {
		return &status.Lease{State: "starting"}
	}
	st := c.Status()
	out := &status.Lease{State: st.State.String()}
	if l := st.Lease; l != nil {
		out.Address, out.Server, out.MTU = l.Address.String(), l.Server.String(), l.MTU
		for _, a := range l.DNS {
			out.DNS = append(out.DNS, a.String())
		}
		out.Obtained = l.Obtained
		if l.Duration != dhcp.Infinite {
			out.T1, out.T2, out.Expiry = l.RenewAt(), l.RebindAt(), l.ExpiresAt()
		}
	}
	return out
}

// ReleaseStoredLeases gives back the leases a daemon stored and did not
// release (it was killed), for the DHCP uplinks that release theirs:
// `pathpin down` runs it while their addresses are still in place.
func ReleaseStoredLeases(cfg *config.Config, libDir string) error {
	var errs []error
	store := dhcp.Store{Dir: libDir}
	for _, u := range cfg.Uplinks {
		if !u.IsDHCP() || !u.DHCP.Release {
			continue
		}
		if l, err := store.Load(u.Name); err != nil || l == nil {
			continue
		}
		ifc, err := net.InterfaceByName(u.Interface)
		if err != nil {
			// The interface went, and the lease with it.
			errs = append(errs, store.Save(u.Name, nil))
			continue
		}
		conn, err := dhcp.Open(u.Interface)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if _, err := dhcp.ReleaseStored(conn, dhcpParams(u, ifc.HardwareAddr), store, u.Name); err != nil {
			errs = append(errs, fmt.Errorf("releasing uplink %s's DHCP lease: %w", u.Name, err))
		}
		conn.Close()
	}
	return errors.Join(errs...)
}
