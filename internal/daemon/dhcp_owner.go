package daemon

import (
	"context"
	"os"
	"sync"

	"github.com/pathpin/pathpin/dhcp"
	"github.com/pathpin/pathpin/internal/config"
	"github.com/pathpin/pathpin/internal/statedir"
)

// spawn runs an uplink's task until its context ends: the daemon waits
// for its end on shutdown (wg), and, unless it is a cold standby's (dialled
// later, on demand), for its first attempt before READY (run calls first
// then); done closes when it has returned.
func (d *Daemon) spawn(ctx context.Context, wg *sync.WaitGroup, cold bool, run func(ctx context.Context, first func())) (context.CancelFunc, chan struct{}) {
	tctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	first := func() {}
	if !cold {
		d.pending.Add(1)
		first = sync.OnceFunc(d.pending.Done)
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		defer close(done)
		defer first()
		run(tctx, first)
	}()
	return cancel, done
}

// dhcpOwner owns the DHCP uplinks: a client task each and the lease each
// holds in force. It reconciles itself to a new configuration; its lock is
// its own and it never takes the daemon's.
type dhcpOwner struct {
	// tasks are started and stopped by the applier, read by status.
	mu     sync.Mutex
	tasks  map[string]*dhcpTask
	leases map[string]*dhcp.Lease
}

func newDHCPOwner() *dhcpOwner {
	return &dhcpOwner{tasks: map[string]*dhcpTask{}, leases: map[string]*dhcp.Lease{}}
}

// start starts a client for each DHCP uplink of cfg that has none, but
// for the cold standbys (startOne starts those when they are needed).
func (o *dhcpOwner) start(ctx context.Context, wg *sync.WaitGroup, d *Daemon, cfg *config.Config) {
	for i := range cfg.Uplinks {
		// One still releasing as a cold standby is started once it has.
		if u := cfg.Uplinks[i]; u.IsDHCP() && !u.Cold && !d.cold.stopping[u.Name] {
			o.startOne(ctx, wg, d, u)
		}
	}
}

// startOne starts uplink u's client unless it has one, and reports
// whether it started it.
func (o *dhcpOwner) startOne(ctx context.Context, wg *sync.WaitGroup, d *Daemon, u config.Uplink) bool {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.tasks[u.Name] != nil {
		return false
	}
	t := &dhcpTask{uplink: u, release: u.DHCP.Release}
	t.cancel, t.done = d.spawn(ctx, wg, u.Cold, func(ctx context.Context, first func()) { d.runDHCP(ctx, t, first) })
	o.tasks[u.Name] = t
	return true
}

// stopOne stops uplink name's client (it releases its lease if its
// settings say so) and returns what closes when it has ended; nil when it
// has none. forget then drops its lease and resolv file.
func (o *dhcpOwner) stopOne(name string) <-chan struct{} {
	o.mu.Lock()
	t := o.tasks[name]
	delete(o.tasks, name)
	o.mu.Unlock()
	if t == nil {
		return nil
	}
	t.cancel()
	return t.done
}

// forget drops a stopped client's lease and resolv file.
func (o *dhcpOwner) forget(name string, dirs statedir.Dirs) {
	o.setLease(name, nil)
	_ = os.Remove(dirs.Resolv(name))
}

// stopChanged stops the clients cfg no longer runs as they are, releasing
// the leases of uplinks it dropped, and forgets their leases and resolv
// files.
func (o *dhcpOwner) stopChanged(cfg *config.Config, dirs statedir.Dirs) {
	var stop []*dhcpTask
	o.mu.Lock()
	for name, t := range o.tasks {
		u, ok := cfg.Uplink(name)
		if ok && sameDHCP(*u, t.uplink) {
			continue
		}
		t.release = t.uplink.DHCP.Release && (!ok || !u.IsDHCP() || u.Interface != t.uplink.Interface)
		stop = append(stop, t)
		delete(o.tasks, name)
	}
	o.mu.Unlock()
	for _, t := range stop {
		t.cancel()
	}
	for _, t := range stop {
		<-t.done
	}
	for _, t := range stop {
		o.forget(t.uplink.Name, dirs)
	}
}

// task is the uplink's client task, nil when it has none.
func (o *dhcpOwner) task(name string) *dhcpTask {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.tasks[name]
}

// lease is the uplink's lease in force, nil when none.
func (o *dhcpOwner) lease(name string) *dhcp.Lease {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.leases[name]
}

// setLease puts l in force for the uplink (nil: none) and returns the one
// it replaces.
func (o *dhcpOwner) setLease(name string, l *dhcp.Lease) (prev *dhcp.Lease) {
	o.mu.Lock()
	defer o.mu.Unlock()
	prev = o.leases[name]
	if l == nil {
		delete(o.leases, name)
	} else {
		o.leases[name] = l
	}
	return prev
}
