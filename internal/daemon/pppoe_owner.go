package daemon

import (
	"context"
	"sync"
	"time"

	"github.com/pathpin/pathpin/internal/config"
	"github.com/pathpin/pathpin/pppoe"
)

// pppoeOwner owns the PPPoE uplinks: a task each (discovery, pppd,
// redial), the session each runs on, and the pppd each runs now. It
// reconciles itself to a new configuration; its lock is its own and it
// never takes the daemon's.
type pppoeOwner struct {
	// tasks are the applier's alone: it starts and stops them.
	tasks map[string]*task

	mu       sync.Mutex
	sessions map[string]*pppoe.Session
	since    map[string]time.Time // when each session began
	pids     map[string]int
}

func newPPPoEOwner() *pppoeOwner {
	return &pppoeOwner{tasks: map[string]*task{}, sessions: map[string]*pppoe.Session{}, since: map[string]time.Time{}, pids: map[string]int{}}
}

// samePPPoE reports whether two settings of an uplink run the same PPPoE
// session: its PPPoE settings and the uplink's name. A change of weight,
// health, failback, cap or standby needs no new session.
func samePPPoE(a, b config.Uplink) bool {
	return a.Name == b.Name && a.IsPPPoE() && b.IsPPPoE() && *a.PPPoE == *b.PPPoE
}

// stopChanged stops the tasks of uplinks cfg drops or changes, waits for
// them, and returns their names: their PPP restarts.
func (o *pppoeOwner) stopChanged(cfg *config.Config) []string {
	var stop []*task
	for name, t := range o.tasks {
		if u, ok := cfg.Uplink(name); !ok || !samePPPoE(*u, t.uplink) {
			stop = append(stop, t)
			delete(o.tasks, name)
		}
	}
	// Cancel first: a task waiting on the applier gives way at once.
	for _, t := range stop {
		t.cancel()
	}
	var names []string
	for _, t := range stop {
		<-t.done
		names = append(names, t.uplink.Name)
		o.setPID(t.uplink.Name, 0)
	}
	return names
}

// start starts a task for each PPPoE uplink of cfg that has none, but for
// the cold standbys (startOne dials those when they are needed).
func (o *pppoeOwner) start(ctx context.Context, wg *sync.WaitGroup, d *Daemon, cfg *config.Config) {
	for i := range cfg.Uplinks {
		// One still hanging up as a cold standby is started once it has.
		if u := cfg.Uplinks[i]; u.IsPPPoE() && !u.Cold && !d.cold.stopping[u.Name] {
			o.startOne(ctx, wg, d, u)
		}
	}
}

// startOne starts uplink u's task unless it has one, and reports whether
// it started it.
func (o *pppoeOwner) startOne(ctx context.Context, wg *sync.WaitGroup, d *Daemon, u config.Uplink) bool {
	if o.tasks[u.Name] != nil {
		return false
	}
	t := &task{uplink: u}
	t.cancel, t.done = d.spawn(ctx, wg, u.Cold, func(ctx context.Context, first func()) { d.runPPPoE(ctx, u, first) })
	o.tasks[u.Name] = t
	return true
}

// stopOne stops uplink name's task (pppd hangs up, with PADT) and returns
// what closes when it has ended; nil when it has none.
func (o *pppoeOwner) stopOne(name string) <-chan struct{} {
	t := o.tasks[name]
	if t == nil {
		return nil
	}
	delete(o.tasks, name)
	t.cancel()
	return t.done
}

// setSession records the PPPoE session an uplink runs on (nil: none).
func (o *pppoeOwner) setSession(name string, s *pppoe.Session) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if s == nil {
		delete(o.sessions, name)
		delete(o.since, name)
	} else {
		o.sessions[name] = s
		o.since[name] = time.Now()
	}
}

// session is the uplink's session and when it began, for status.
func (o *pppoeOwner) session(name string) (*pppoe.Session, time.Time, bool) {
	o.mu.Lock()
	defer o.mu.Unlock()
	s, ok := o.sessions[name]
	return s, o.since[name], ok
}

// setPID records the pppd an uplink runs now (0: none), so that hook
// events from any other pppd are ignored.
func (o *pppoeOwner) setPID(name string, pid int) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.pids[name] = pid
}

// pid is the pppd the uplink runs now, 0 for none.
func (o *pppoeOwner) pid(name string) int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.pids[name]
}
