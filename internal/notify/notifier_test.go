package notify

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"
)

// message is a JSON body as "uplink from→to reason".
func message(t *testing.T, h hit) string {
	t.Helper()
	var e Event
	if err := json.Unmarshal(h.body, &e); err != nil {
		t.Fatalf("the body is not an event in JSON: %v: %s", err, h.body)
	}
	return fmt.Sprintf("%s %s→%s %s", e.Uplink, e.From, e.To, e.Reason)
}

// TestFlapSendsAtMostOne checks that the changes of an uplink within the
// debounce make one POST of its net change, or none.
func TestFlapSendsAtMostOne(t *testing.T) {
	const debounce = 80 * time.Millisecond
	tests := []struct {
		name    string
		changes []Event
		want    string // "" for no POST
	}{
		{"one change", []Event{ev("wan1", "up", "down", "r1")}, "wan1 up→down r1"},
		{"up→down→up→down", []Event{ev("wan1", "up", "down", "r1"), ev("wan1", "down", "up", "r2"), ev("wan1", "up", "down", "r3")},
			"wan1 up→down r3"},
		{"up→down→up", []Event{ev("wan1", "up", "down", "r1"), ev("wan1", "down", "up", "r2")}, "wan1 up→up flapped: out of service and back, 2 changes in"},
		{"up→down→up→down→up", []Event{ev("wan1", "up", "down", "r1"), ev("wan1", "down", "up", "r2"),
			ev("wan1", "up", "down", "r3"), ev("wan1", "down", "up", "r4")}, "wan1 up→up flapped: out of service and back, 4 changes in"},
		{"up→degraded→up", []Event{ev("wan1", "up", "degraded", "r1"), ev("wan1", "degraded", "up", "r2")}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rc := newReceiver(t, nil)
			h := NewHook(rc.URL)
			h.Debounce = debounce
			n := mustNew(t, nil, h)
			run(t, n)
			for _, e := range tt.changes {
				n.Send(e)
			}
			last := time.Now()
			if tt.want != "" {
				got := rc.next(t)
				if m := message(t, got); m != tt.want && !strings.HasPrefix(m, tt.want+" ") {
					t.Errorf("POST of %q, want %q", m, tt.want)
				}
				if early := got.at.Sub(last); early < debounce {
					t.Errorf("the POST came %s after the last change, before the debounce of %s", early, debounce)
				}
			}
			rc.none(t, 4*debounce)
			wantSent := uint64(0)
			if tt.want != "" {
				wantSent = 1
			}
			if st := n.Stats()[Redact(rc.URL)]; st.Sent != wantSent {
				t.Errorf("Stats = %+v, want %d sent", st, wantSent)
			}
		})
	}
}

// TestNoDebounce checks that without a debounce each change is sent at
// once, in order, but for one that changes nothing.
func TestNoDebounce(t *testing.T) {
	rc := newReceiver(t, nil)
	h := NewHook(rc.URL)
	h.Debounce = 0
	n := mustNew(t, nil, h)
	run(t, n)
	for _, e := range []Event{ev("wan1", "up", "down", "r1"), ev("wan1", "down", "down", "r2"), ev("wan1", "down", "up", "r3")} {
		n.Send(e)
	}
	for _, want := range []string{"wan1 up→down r1", "wan1 down→up r3"} {
		if m := message(t, rc.next(t)); m != want {
			t.Errorf("POST of %q, want %q", m, want)
		}
	}
	rc.none(t, 100*time.Millisecond)
}

// TestUplinksDebouncedApart checks that an uplink that keeps changing does
// not hold up another's message, and is sent as one message once quiet.
func TestUplinksDebouncedApart(t *testing.T) {
	const debounce = 80 * time.Millisecond
	rc := newReceiver(t, nil)
	h := NewHook(rc.URL)
	h.Debounce = debounce
	n := mustNew(t, nil, h)
	n.sinks[0].deb.maxHold = time.Hour // wan2 is held for as long as it flaps
	run(t, n)

	n.Send(ev("wan1", "up", "down", "a"))
	states := []string{"up", "down"}
	changes := 0
	flap := func() {
		n.Send(ev("wan2", states[changes%2], states[(changes+1)%2], fmt.Sprint("b", changes)))
		changes++
	}
	tick := time.NewTicker(debounce / 4)
	defer tick.Stop()
	deadline := time.After(wait)
	var first hit
flapping:
	for {
		select {
		case first = <-rc.hits:
			break flapping
		case <-tick.C:
			flap()
		case <-deadline:
			t.Fatal("wan1 was not sent while wan2 kept changing")
		}
	}
	if m := message(t, first); m != "wan1 up→down a" {
		t.Fatalf("first POST %q, want wan1's", m)
	}
	if changes%2 == 0 {
		flap()
	}
	want := fmt.Sprintf("wan2 up→down b%d", changes-1)
	if m := message(t, rc.next(t)); m != want {
		t.Errorf("then %q, want %q", m, want)
	}
	rc.none(t, 4*debounce)
}

func TestJSONBody(t *testing.T) {
	rc := newReceiver(t, nil)
	h := NewHook(rc.URL)
	h.Debounce = 0
	n := mustNew(t, nil, h)
	run(t, n)
	n.Send(Event{Uplink: "wan1", From: "up", To: "down", Reason: `no "answer"`,
		At: time.Date(2024, 5, 6, 7, 8, 9, 123, time.FixedZone("", 2*60*60))})
	got := rc.next(t)
	if ct := got.header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type %q, want application/json", ct)
	}
	if ua := got.header.Get("User-Agent"); ua != "pathpin" {
		t.Errorf("User-Agent %q, want pathpin", ua)
	}
	var body map[string]any
	if err := json.Unmarshal(got.body, &body); err != nil {
		t.Fatalf("the body is not JSON: %v: %s", err, got.body)
	}
	want := map[string]any{"uplink": "wan1", "from": "up", "to": "down", "reason": `no "answer"`, "time": "2024-05-06T07:08:09+02:00"}
	if fmt.Sprint(body) != fmt.Sprint(want) {
		t.Errorf("body %v, want %v", body, want)
	}
}

func TestTemplateBody(t *testing.T) {
	at := time.Date(2024, 5, 6, 7, 8, 9, 0, time.UTC)
	change := Event{Uplink: "wan1", From: "up", To: "down", Reason: "no answer to \"3\" probes\nsince 07:08", At: at}
	tests := []struct {
		name        string
		body        string
		headers     map[string]string
		contentType string
		check       func(t *testing.T, body []byte)
	}{
		{name: "ntfy: plain text and a title", body: "{{.Uplink}} is {{.To}} (was {{.From}}) at {{rfc3339 .At}}",
			headers: map[string]string{"Title": "pathpin", "Priority": "high"}, contentType: "text/plain; charset=utf-8",
			check: func(t *testing.T, body []byte) {
				if want := "wan1 is down (was up) at 2024-05-06T07:08:09Z"; string(body) != want {
					t.Errorf("body %q, want %q", body, want)
				}
			}},
		{name: "telegram: JSON with chat_id and text", body: `{"chat_id": -100123, "text": {{printf "%s: %s → %s (%s)" .Uplink .From .To .Reason | json}}}`,
			contentType: "application/json",
			check: func(t *testing.T, body []byte) {
				var m struct {
					ChatID int64  `json:"chat_id"`
					Text   string `json:"text"`
				}
				if err := json.Unmarshal(body, &m); err != nil {
					t.Fatalf("the body is not JSON: %v: %s", err, body)
				}
				if want := "wan1: up → down (" + change.Reason + ")"; m.ChatID != -100123 || m.Text != want {
					t.Errorf("chat_id %d text %q, want -100123 and %q", m.ChatID, m.Text, want)
				}
			}},
		{name: "a Content-Type header wins", body: `{"text": {{json .To}}}`, headers: map[string]string{"content-type": "text/x-custom"},
			contentType: "text/x-custom",
			check: func(t *testing.T, body []byte) {
				if want := `{"text": "down"}`; string(body) != want {
					t.Errorf("body %q, want %q", body, want)
				}
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rc := newReceiver(t, nil)
			h := NewHook(rc.URL)
			h.Debounce, h.Body, h.Headers = 0, tt.body, tt.headers
			n := mustNew(t, nil, h)
			run(t, n)
			n.Send(change)
			got := rc.next(t)
			if ct := got.header.Get("Content-Type"); ct != tt.contentType {
				t.Errorf("Content-Type %q, want %q", ct, tt.contentType)
			}
			for k, v := range tt.headers {
				if got.header.Get(k) != v {
					t.Errorf("header %s %q, want %q", k, got.header.Get(k), v)
				}
			}
			tt.check(t, got.body)
		})
	}
}

// TestQueueOverflow checks that Send does not wait for a stuck hook, and
// that the full queue drops its oldest messages, counts them and says so
// once.
func TestQueueOverflow(t *testing.T) {
	release := make(chan struct{})
	rc := newReceiver(t, func(n int, w http.ResponseWriter, r *http.Request) {
		if n == 1 {
			<-release
		}
	})
	t.Cleanup(func() {
		select {
		case <-release:
		default:
			close(release)
		}
	})
	h := NewHook(rc.URL)
	h.Debounce, h.Timeout = 0, time.Minute
	log, logs := newLog()
	n := mustNew(t, log, h)
	run(t, n)

	n.Send(ev("u00", "up", "down", ""))
	if m := message(t, rc.next(t)); m != "u00 up→down " {
		t.Fatalf("first POST %q", m)
	}
	// u00's POST is stuck: u01..u70 fill the queue, and u01..u06 go.
	start := time.Now()
	for i := 1; i <= QueueLen+6; i++ {
		n.Send(ev(fmt.Sprintf("u%02d", i), "up", "down", ""))
	}
	if took := time.Since(start); took > time.Second {
		t.Errorf("Send waited: %d calls took %s", QueueLen+6, took)
	}
	if st := n.Stats()[Redact(rc.URL)]; st.Dropped != 6 {
		t.Errorf("Dropped = %d, want 6", st.Dropped)
	}
	close(release)
	var got, want []string
	for i := 7; i <= QueueLen+6; i++ {
		want = append(want, fmt.Sprintf("u%02d up→down ", i))
		got = append(got, message(t, rc.next(t)))
	}
	if !slices.Equal(got, want) {
		t.Errorf("POSTs after the stuck one:\n%q\nwant\n%q", got, want)
	}
	if st := settle(t, n, QueueLen+1); st != (HookStats{Sent: QueueLen + 1, Dropped: 6}) {
		t.Errorf("Stats = %+v, want %d sent and 6 dropped", st, QueueLen+1)
	}
	if c := logs.count("queue full"); c != 1 {
		t.Errorf("the overflow was logged %d times, want once:\n%s", c, logs)
	}
}

// TestRunStops checks that Run returns when its context ends, even with a
// POST under way, and that it runs once.
func TestRunStops(t *testing.T) {
	rc := newReceiver(t, func(n int, w http.ResponseWriter, r *http.Request) { <-r.Context().Done() })
	h := NewHook(rc.URL)
	h.Debounce, h.Timeout = 0, time.Minute
	log, logs := newLog()
	n := mustNew(t, log, h)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- n.Run(ctx) }()
	n.Send(ev("wan1", "up", "down", ""))
	rc.next(t)
	n.Send(ev("wan2", "up", "down", ""))
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Run = %v", err)
		}
	case <-time.After(wait):
		t.Fatal("Run did not return when its context ended")
	}
	if st := n.Stats()[Redact(rc.URL)]; st != (HookStats{}) {
		t.Errorf("Stats = %+v: a POST cut short by the stop was counted", st)
	}
	if !strings.Contains(logs.String(), "queued=1") {
		t.Errorf("the message left queued is not logged:\n%s", logs)
	}
	n.Send(ev("wan3", "up", "down", "")) // after Run: dropped, no panic
	if err := n.Run(context.Background()); err == nil {
		t.Error("a second Run did not fail")
	}
	var none *Notifier
	none.Send(ev("wan1", "up", "down", ""))
	if len(none.Stats()) != 0 {
		t.Error("a nil Notifier has stats")
	}
}
