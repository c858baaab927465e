package notify

import (
	"net/http"
	"strings"
	"testing"
	"time"
)

// TestDelivery checks which answers are tried again, how often, and what
// is counted and logged.
func TestDelivery(t *testing.T) {
	tests := []struct {
		name    string
		answers []int // status of each POST in turn; the last repeats
		retries int
		hits    int
		stats   HookStats
		log     string // in the log
	}{
		{name: "2xx", answers: []int{204}, retries: 3, hits: 1, stats: HookStats{Sent: 1}},
		{name: "500 twice then 200", answers: []int{500, 500, 200}, retries: 3, hits: 3,
			stats: HookStats{Sent: 1, Retried: 2}, log: "trying again"},
		{name: "503 then 200", answers: []int{503, 200}, retries: 1, hits: 2, stats: HookStats{Sent: 1, Retried: 1}},
		{name: "429 then 200", answers: []int{429, 200}, retries: 3, hits: 2, stats: HookStats{Sent: 1, Retried: 1}},
		{name: "404 is not tried again", answers: []int{404}, retries: 3, hits: 1,
			stats: HookStats{Failed: 1}, log: "404 Not Found: check the URL and its token"},
		{name: "401 is not tried again", answers: []int{401}, retries: 3, hits: 1,
			stats: HookStats{Failed: 1}, log: "check the token or credentials"},
		{name: "500 until no tries are left", answers: []int{500}, retries: 2, hits: 3,
			stats: HookStats{Failed: 1, Retried: 2}, log: "no more tries"},
		{name: "no retries", answers: []int{500}, retries: 0, hits: 1, stats: HookStats{Failed: 1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rc := newReceiver(t, func(n int, w http.ResponseWriter, r *http.Request) {
				w.WriteHeader(tt.answers[min(n, len(tt.answers))-1])
			})
			h := NewHook(rc.URL)
			h.Debounce, h.Retries = 0, tt.retries
			log, logs := newLog()
			n := mustNew(t, log, h)
			run(t, n)
			n.Send(ev("wan1", "up", "down", ""))
			st := settle(t, n, 1)
			time.Sleep(50 * time.Millisecond) // for a POST too many
			if got := int(rc.n.Load()); got != tt.hits {
				t.Errorf("%d POSTs, want %d", got, tt.hits)
			}
			if st != tt.stats {
				t.Errorf("Stats = %+v, want %+v", st, tt.stats)
			}
			if !strings.Contains(logs.String(), tt.log) {
				t.Errorf("the log has no %q:\n%s", tt.log, logs)
			}
		})
	}
}

// TestBackoff checks that the waits between tries double.
func TestBackoff(t *testing.T) {
	const base = 40 * time.Millisecond
	rc := newReceiver(t, func(n int, w http.ResponseWriter, r *http.Request) {
		if n < 4 {
			w.WriteHeader(http.StatusBadGateway)
		}
	})
	h := NewHook(rc.URL)
	h.Debounce = 0
	n := mustNew(t, nil, h)
	n.sinks[0].backoff, n.sinks[0].maxBackoff = base, time.Minute
	run(t, n)
	n.Send(ev("wan1", "up", "down", ""))
	var at []time.Time
	for range 4 {
		at = append(at, rc.next(t).at)
	}
	for i, want := range []time.Duration{base, 2 * base, 4 * base} {
		if gap := at[i+1].Sub(at[i]); gap < want {
			t.Errorf("try %d came %s after the one before, want at least %s", i+2, gap, want)
		}
	}
	if st := settle(t, n, 1); st != (HookStats{Sent: 1, Retried: 3}) {
		t.Errorf("Stats = %+v", st)
	}
}

func TestBackoffAt(t *testing.T) {
	s := &sink{backoff: time.Second, maxBackoff: time.Minute}
	for try, want := range []time.Duration{1, 2, 4, 8, 16, 32, 60, 60, 60, 60, 60} {
		if got := s.backoffAt(try); got != want*time.Second {
			t.Errorf("backoffAt(%d) = %s, want %s", try, got, want*time.Second)
		}
	}
}

// TestRetryAfter checks that a 429's Retry-After lengthens the wait, within
// the longest back-off.
func TestRetryAfter(t *testing.T) {
	const longest = 200 * time.Millisecond
	rc := newReceiver(t, func(n int, w http.ResponseWriter, r *http.Request) {
		if n == 1 {
			w.Header().Set("Retry-After", "2")
			w.WriteHeader(http.StatusTooManyRequests)
		}
	})
	h := NewHook(rc.URL)
	h.Debounce = 0
	n := mustNew(t, nil, h)
	n.sinks[0].maxBackoff = longest
	run(t, n)
	n.Send(ev("wan1", "up", "down", ""))
	gap := -rc.next(t).at.Sub(rc.next(t).at)
	if gap < longest || gap >= 2*time.Second {
		t.Errorf("the second try came %s after the first, want %s (Retry-After 2s within %s)", gap, longest, longest)
	}
	for _, tt := range []struct {
		v    string
		want time.Duration
	}{{"", 0}, {"3", 3 * time.Second}, {"-1", 0}, {"soon", 0},
		{time.Unix(1700000030, 0).UTC().Format(http.TimeFormat), 30 * time.Second}} {
		if got := retryAfter(tt.v, time.Unix(1700000000, 0)); got != tt.want {
			t.Errorf("retryAfter(%q) = %s, want %s", tt.v, got, tt.want)
		}
	}
}

// TestTimeout checks that a POST without an answer is given up after the
// hook's timeout, and tried again.
func TestTimeout(t *testing.T) {
	const timeout = 150 * time.Millisecond
	cut := make(chan time.Duration, 4)
	rc := newReceiver(t, func(n int, w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		select {
		case <-r.Context().Done():
			cut <- time.Since(start)
		case <-time.After(wait):
		}
	})
	h := NewHook(rc.URL)
	h.Debounce, h.Retries = 0, 1
	log, logs := newLog()
	n := mustNew(t, log, h)
	n.sinks[0].timeout = timeout
	run(t, n)
	start := time.Now()
	n.Send(ev("wan1", "up", "down", ""))
	st := settle(t, n, 1)
	if took := time.Since(start); took > 2*time.Second {
		t.Errorf("two tries with a timeout of %s took %s", timeout, took)
	}
	if st != (HookStats{Failed: 1, Retried: 1}) {
		t.Errorf("Stats = %+v, want 1 failed after 1 retry", st)
	}
	for range 2 {
		select {
		case d := <-cut:
			if d > time.Second {
				t.Errorf("a POST was cut after %s, want about %s", d, timeout)
			}
		case <-time.After(wait):
			t.Fatal("the receiver did not see the POST given up")
		}
	}
	if !strings.Contains(logs.String(), "no answer within 150ms") {
		t.Errorf("the log does not say there was no answer in time:\n%s", logs)
	}
}

func TestAnswerReadBounded(t *testing.T) {
	rc := newReceiver(t, func(n int, w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusBadRequest)
		w.Write([]byte(strings.Repeat("x", 1<<20)))
	})
	h := NewHook(rc.URL)
	h.Debounce = 0
	log, logs := newLog()
	n := mustNew(t, log, h)
	run(t, n)
	n.Send(ev("wan1", "up", "down", ""))
	settle(t, n, 1)
	line := logs.String()
	if strings.Count(line, "x") > maxShown+50 {
		t.Errorf("the log shows %d bytes of the answer, want at most about %d", strings.Count(line, "x"), maxShown)
	}
	if !strings.Contains(line, "400 Bad Request: xxx") {
		t.Errorf("the log does not show the start of the answer:\n%.500s", line)
	}
}
