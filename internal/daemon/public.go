package daemon

import (
	"context"
	"net/netip"
	"sync"
	"time"

	"github.com/pathpin/pathpin/internal/publicaddr"
)

// publicAddr is an uplink's public address as last found through it.
type publicAddr struct {
	addr   netip.Addr
	source string
	at     time.Time
	err    string // the last failure, logged once until it changes
}

// kickPublic asks for the public addresses to be found again now (an
// uplink's service or address changed); it never waits.
func (d *Daemon) kickPublic() {
	select {
	case d.publicKick <- struct{}{}:
	default:
	}
}

// runPublic finds every uplink's public address through it, every
// public-address.interval and after each change of the uplinks, until ctx
// ends. A change of address is told like a change of state (webhooks,
// on-change with PATHPIN_PUBLIC_ADDRESS). Each uplink is asked on its own:
// one whose sources do not answer delays no other.
func (d *Daemon) runPublic(ctx context.Context) {
	timer := time.NewTimer(0)
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-timer.C:
		case <-d.publicKick:
			// A change settles (an address arrives with the route) before
			// it is asked about.
			select {
			case <-ctx.Done():
				return
			case <-time.After(200 * time.Millisecond):
			}
		}
		cfg := d.currentConfig()
		if !timer.Stop() {
			select {
			case <-timer.C:
			default:
			}
		}
		timer.Reset(cfg.Public.Interval)
		if !cfg.Public.Enabled() {
			d.mu.Lock()
			d.public = map[string]*publicAddr{}
			d.mu.Unlock()
			continue
		}
		f := &publicaddr.Finder{Sources: publicaddr.Sources(cfg.Public.STUN, cfg.Public.HTTP), Log: d.log}
		var wg sync.WaitGroup
		for _, u := range cfg.Uplinks {
			path, ok := d.probePath(u.Name)
			if !ok || !d.inService(u.Name) {
				// Out of service: what it had is no longer known.
				d.mu.Lock()
				delete(d.public, u.Name)
				d.mu.Unlock()
				continue
			}
			if u.Health.Metered && d.meteredIdle(u.Name) {
				// On its probe budget: asked again once it carries.
				continue
			}
			name := u.Name
			wg.Add(1)
			go func() {
				defer wg.Done()
				addr, src, err := f.Find(ctx, path)
				d.notePublic(name, addr, src.String(), err)
			}()
		}
		wg.Wait()
	}
}

// notePublic records what asking for uplink name's public address gave,
// and tells of a change.
func (d *Daemon) notePublic(name string, addr netip.Addr, source string, err error) {
	d.mu.Lock()
	p := d.public[name]
	if p == nil {
		p = &publicAddr{}
		d.public[name] = p
	}
	if err != nil {
		msg := err.Error()
		logIt := msg != p.err
		p.err = msg
		d.mu.Unlock()
		if logIt {
			d.log.Warn("the uplink's public address could not be found through it", "uplink", name, "err", err)
		}
		return
	}
	old := p.addr
	p.addr, p.source, p.at, p.err = addr, source, time.Now(), ""
	state := "up"
	if s := d.uplinks[name]; s != nil {
		st, _, _ := s.machine.State()
		state = st.String()
	}
	d.mu.Unlock()
	if old == addr {
		return
	}
	d.log.Info("public address", "uplink", name, "address", addr.String(), "was", old.String(), "source", source)
	if old.IsValid() {
		d.runOnChangeEvent(name, state, state, "public address changed: "+old.String()+" → "+addr.String(), addr.String())
	}
}
