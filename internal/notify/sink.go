package notify

import (
	"context"
	"log/slog"
	"maps"
	"net/http"
	"sync"
	"sync/atomic"
	"text/template"
	"time"
)

// A sink is one hook at work: the changes it holds, its queue of messages
// to send, its counters.
type sink struct {
	hook    Hook   // with its defaults
	name    string // the redacted URL, the key of its Stats
	red     redactor
	body    *template.Template // nil: the Event as JSON
	client  *http.Client
	log     *slog.Logger
	timeout time.Duration // of each POST

	backoff, maxBackoff time.Duration

	mu          sync.Mutex
	deb         *debouncer // nil for no debounce
	q           *queue
	overflowing bool // the queue has dropped since it was last empty
	stopped     bool
	wake        chan struct{} // the debouncer has a change
	ready       chan struct{} // the queue has a message

	sent, failed, retried, dropped atomic.Uint64
}

// newSink returns the sink of a valid hook h, whose body template is
// body.
func newSink(h Hook, name string, body *template.Template, client *http.Client, log *slog.Logger) *sink {
	h = h.withDefaults()
	h.Headers = maps.Clone(h.Headers)
	s := &sink{hook: h, name: name, red: newRedactor(h.URL), body: body, client: client,
		log: log.With("hook", name), timeout: h.Timeout, backoff: defaultBackoff, maxBackoff: maxBackoff,
		q: newQueue(QueueLen), wake: make(chan struct{}, 1), ready: make(chan struct{}, 1)}
	if h.Debounce > 0 {
		s.deb = newDebouncer(h.Debounce)
	}
	return s
}

// add takes a change that came at now: held, or queued when there is no
// debounce. It never waits.
func (s *sink) add(ev Event, now time.Time) {
	s.mu.Lock()
	if s.stopped {
		s.mu.Unlock()
		return
	}
	overflow := false
	if s.deb == nil {
		// Without a debounce, a change that changes nothing is no news.
		if ev.news() {
			overflow = s.enqueue(ev)
		}
	} else {
		s.deb.add(ev, now)
		signal(s.wake)
	}
	s.mu.Unlock()
	if overflow {
		s.logOverflow()
	}
}

// enqueue queues message ev; true when it made the queue start dropping.
// Call with s.mu held.
func (s *sink) enqueue(ev Event) (overflow bool) {
	if s.q.push(ev) {
		s.dropped.Add(1)
		overflow, s.overflowing = !s.overflowing, true
	}
	signal(s.ready)
	return overflow
}

// take takes the oldest message queued; false when there is none.
func (s *sink) take() (Event, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	ev, ok := s.q.pop()
	if s.q.len() == 0 {
		s.overflowing = false
	}
	return ev, ok
}

// logOverflow says, once for each time the queue fills, that messages are
// being dropped.
func (s *sink) logOverflow() {
	s.log.Warn("notification queue full: dropping the oldest messages until it empties; the hook is slow or failing",
		"queue", QueueLen)
}

// debounceLoop queues the messages the debouncer releases until ctx ends.
func (s *sink) debounceLoop(ctx context.Context) {
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	defer timer.Stop()
	for {
		s.mu.Lock()
		rels := s.deb.release(time.Now())
		overflow := false
		for _, r := range rels {
			if r.send && s.enqueue(r.ev) {
				overflow = true
			}
		}
		next, ok := s.deb.next()
		s.mu.Unlock()
		for _, r := range rels {
			if !r.send {
				s.log.Debug("uplink back where it was within the debounce: nothing to send",
					"uplink", r.ev.Uplink, "state", r.ev.To, "changes", r.changes)
			}
		}
		if overflow {
			s.logOverflow()
		}
		if ok {
			timer.Reset(time.Until(next))
		}
		select {
		case <-ctx.Done():
			return
		case <-s.wake:
		case <-timer.C:
		}
		timer.Stop()
	}
}

// deliverLoop sends the messages queued, one at a time, until ctx ends.
func (s *sink) deliverLoop(ctx context.Context) {
	for ctx.Err() == nil {
		ev, ok := s.take()
		if !ok {
			select {
			case <-ctx.Done():
			case <-s.ready:
			}
			continue
		}
		s.deliver(ctx, ev)
	}
}

// stop makes the sink take no more changes and says how many messages it
// leaves queued and how many uplinks' changes it leaves held.
func (s *sink) stop() (queued, held int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.stopped = true
	if s.deb != nil {
		held = s.deb.len()
	}
	return s.q.len(), held
}

// signal wakes whoever waits on c, without waiting itself.
func signal(c chan struct{}) {
	select {
	case c <- struct{}{}:
	default:
	}
}
