package notify

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// wait bounds how long a test waits for something that should happen.
const wait = 5 * time.Second

// A hit is a POST a receiver got.
type hit struct {
	header http.Header
	body   []byte
	uri    string
	at     time.Time
}

// A receiver is a webhook that records each POST and answers it with its
// answer function, given the POST's number (from 1).
type receiver struct {
	*httptest.Server
	hits chan hit
	n    atomic.Int32
}

// newReceiver starts a receiver; a nil answer answers 200 to everything.
func newReceiver(t *testing.T, answer func(n int, w http.ResponseWriter, r *http.Request)) *receiver {
	t.Helper()
	rc := &receiver{hits: make(chan hit, 1024)}
	rc.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		rc.hits <- hit{header: r.Header.Clone(), body: body, uri: r.RequestURI, at: time.Now()}
		n := int(rc.n.Add(1))
		if answer != nil {
			answer(n, w, r)
		}
	}))
	t.Cleanup(rc.Close)
	return rc
}

// next returns the next POST, failing the test if none comes in time.
func (rc *receiver) next(t *testing.T) hit {
	t.Helper()
	select {
	case h := <-rc.hits:
		return h
	case <-time.After(wait):
		t.Fatalf("no POST came within %s", wait)
		return hit{}
	}
}

// none fails the test if a POST comes within d.
func (rc *receiver) none(t *testing.T, d time.Duration) {
	t.Helper()
	select {
	case h := <-rc.hits:
		t.Fatalf("an unexpected POST came: %s", h.body)
	case <-time.After(d):
	}
}

// fast makes n's back-off short, for tests.
func fast(n *Notifier) {
	for _, s := range n.sinks {
		s.backoff, s.maxBackoff = time.Millisecond, 20*time.Millisecond
	}
}

// run runs n until the test ends.
func run(t *testing.T, n *Notifier) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- n.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run = %v", err)
		}
	})
}

// mustNew makes a Notifier with a fast back-off, failing the test on an
// error.
func mustNew(t *testing.T, log *slog.Logger, hooks ...Hook) *Notifier {
	t.Helper()
	n, err := New(hooks, log, nil)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	fast(n)
	return n
}

// settle waits until n's one hook has sent or given up want messages,
// and returns its counters.
func settle(t *testing.T, n *Notifier, want uint64) HookStats {
	t.Helper()
	for _, st := range settleAll(t, n, want) {
		return st
	}
	t.Fatal("the Notifier has no hook")
	return HookStats{}
}

// settleAll waits until each of n's hooks has sent or given up want
// messages, and returns their counters.
func settleAll(t *testing.T, n *Notifier, want uint64) map[string]HookStats {
	t.Helper()
	deadline := time.Now().Add(wait)
	for {
		all := n.Stats()
		done := true
		for _, st := range all {
			done = done && st.Sent+st.Failed >= want
		}
		if done {
			return all
		}
		if time.Now().After(deadline) {
			t.Fatalf("the hooks did not finish within %s: %+v", wait, all)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// logBuf is a log that tests can read while it is written.
type logBuf struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *logBuf) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *logBuf) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

// count is how many lines of the log hold s.
func (l *logBuf) count(s string) int {
	n := 0
	for _, line := range strings.Split(l.String(), "\n") {
		if strings.Contains(line, s) {
			n++
		}
	}
	return n
}

// newLog returns a debug log written to a logBuf.
func newLog() (*slog.Logger, *logBuf) {
	b := &logBuf{}
	return slog.New(slog.NewTextHandler(b, &slog.HandlerOptions{Level: slog.LevelDebug})), b
}

// ev is a change of uplink from one state to another.
func ev(uplink, from, to, reason string) Event {
	return Event{Uplink: uplink, From: from, To: to, Reason: reason}
}
