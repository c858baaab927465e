package notify

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"time"
)

// A Notifier sends uplink state changes to webhooks. Send may be called
// from any goroutine, at any time, and never waits; Run does the sending.
// A nil *Notifier sends nothing.
type Notifier struct {
	sinks []*sink

	mu  sync.Mutex
	ran bool
}

// New returns a Notifier for hooks, which it checks first (see
// Hook.Validate); a nil log discards, a nil client is a plain
// http.Client (each POST is bounded by its hook's Timeout all the same).
// Its Stats name each hook by its redacted URL, with " (2)", " (3)"… after
// a name another hook has already.
func New(hooks []Hook, log *slog.Logger, client *http.Client) (*Notifier, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if client == nil {
		client = &http.Client{}
	}
	n := &Notifier{}
	var errs []error
	names := map[string]bool{}
	for i, h := range hooks {
		body, err := h.compile()
		if err != nil {
			errs = append(errs, fmt.Errorf("hook %d: %w", i+1, err))
			continue
		}
		name := Redact(h.URL)
		for k := 2; names[name]; k++ {
			name = fmt.Sprintf("%s (%d)", Redact(h.URL), k)
		}
		names[name] = true
		n.sinks = append(n.sinks, newSink(h, name, body, client, log))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return n, nil
}

// Send hands ev to each hook and returns at once: it is held for the
// hook's debounce, then queued for sending (see the package's
// documentation). A zero At is taken as now. Changes sent before Run are
// sent once it runs; changes sent after Run has returned are dropped.
func (n *Notifier) Send(ev Event) {
	if n == nil {
		return
	}
	now := time.Now()
	if ev.At.IsZero() {
		ev.At = now
	}
	for _, s := range n.sinks {
		s.add(ev, now)
	}
}

// Run sends until ctx ends, then returns nil once its goroutines have: a
// POST under way is cancelled (not counted as failed), and the messages
// still queued or held are dropped (logged, not counted). A Notifier runs
// once: Run fails if called again.
func (n *Notifier) Run(ctx context.Context) error {
	n.mu.Lock()
	if n.ran {
		n.mu.Unlock()
		return errors.New("notify: Run was called twice: a Notifier runs once; make another with New")
	}
	n.ran = true
	n.mu.Unlock()

	var wg sync.WaitGroup
	for _, s := range n.sinks {
		if s.deb != nil {
			wg.Go(func() { s.debounceLoop(ctx) })
		}
		wg.Go(func() { s.deliverLoop(ctx) })
	}
	<-ctx.Done()
	wg.Wait()
	for _, s := range n.sinks {
		if queued, held := s.stop(); queued+held > 0 {
			s.log.Info("stopping: notifications not sent", "queued", queued, "held", held)
		}
	}
	return nil
}

// Stats returns each hook's counters, by its redacted URL.
func (n *Notifier) Stats() map[string]HookStats {
	out := map[string]HookStats{}
	if n == nil {
		return out
	}
	for _, s := range n.sinks {
		out[s.name] = s.stats()
	}
	return out
}
