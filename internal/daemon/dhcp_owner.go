package daemon

import (
	"context"
	"os"
	"sync"

	"github.com/pathpin/pathpin/dhcp"
	"github.com/pathpin/pathpin/internal/config"
	"github.com/pathpin/pathpin/internal/statedir"
)

// spawn runs an uplink's task until its context ends: the daemon waits for
// its first attempt before READY (run calls d.pending.Done) and for its
// end on shutdown (wg); done closes when it has returned.
func (d *Daemon) spawn(ctx context.Context, wg *sync.WaitGroup, run func(context.Context)) (context.CancelFunc, chan struct{}) {
	tctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	d.pending.Add(1)
	wg.Add(1)
	go func() {
		defer wg.Done()
		defer close(done)
		run(tctx)
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

// start starts a client for each DHCP uplink of cfg that has none.
func (o *dhcpOwner) start(ctx context.Context, wg *sync.WaitGroup, d *Daemon, cfg *config.Config) {
	o.mu.Lock()
	defer o.mu.Unlock()
	for i := range cfg.Uplinks {
		u := cfg.Uplinks[i]
		if !u.IsDHCP() || o.tasks[u.Name] != nil {
			continue
		}
		t := &dhcpTask{uplink: u, release: u.DHCP.Release}
		t.cancel, t.done = d.spawn(ctx, wg, func(ctx context.Context) { d.runDHCP(ctx, t) })
		o.tasks[u.Name] = t
	}
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
		o.setLease(t.uplink.Name, nil)
		_ = os.Remove(dirs.Resolv(t.uplink.Name))
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
