package daemon

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pathpin/pathpin/internal/netnstest"
)

// TestWebhooks: a receiver beyond the uplinks gets one message for a flap
// (out of service and back within the debounce) and one for a lasting
// change, and the first, answered 500, is sent again.
func TestWebhooks(t *testing.T) {
	netnstest.RequireRoot(t)
	var mu sync.Mutex
	var got []map[string]string
	attempts := 0
	l := prepareLab(t, 1, 1, "")
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		attempts++
		if attempts == 1 {
			http.Error(w, "try again", http.StatusInternalServerError)
			return
		}
		var ev map[string]string
		b, _ := io.ReadAll(r.Body)
		if err := json.Unmarshal(b, &ev); err != nil {
			t.Errorf("webhook body %q: %v", b, err)
		}
		got = append(got, ev)
	})}
	go func() { _ = srv.Serve(l.Server.Listen(netnstest.ServerAddr + ":8081")) }()
	t.Cleanup(func() { srv.Close() })
	l.writeConfig(1, 1, fastHealth+"notify:\n  - {url: 'http://"+netnstest.ServerAddr+":8081/hook', debounce: 2s}\n")
	l.start()
	l.waitState("ispa", "up", 10*time.Second)
	l.waitState("ispb", "up", 10*time.Second)
	messages := func() []map[string]string {
		mu.Lock()
		defer mu.Unlock()
		return append([]map[string]string(nil), got...)
	}

	// A flap: carrier gone and back, up again within the debounce.
	l.ISPs[1].Run("ip", "link", "set", "cpe", "down")
	l.waitState("ispb", "down", 5*time.Second)
	l.ISPs[1].Run("ip", "link", "set", "cpe", "up")
	l.waitState("ispb", "up", 5*time.Second)
	for deadline := time.Now().Add(15 * time.Second); len(messages()) < 1; time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("no webhook for the flap (%d attempts):\n%s", attempts, l.logText())
		}
	}
	if m := messages()[0]; m["uplink"] != "ispb" || m["from"] != "up" || m["to"] != "up" || !strings.Contains(m["reason"], "flapped") || m["time"] == "" {
		t.Fatalf("the flap's message: %v", m)
	}
	mu.Lock()
	if attempts != 2 {
		t.Errorf("%d attempts for the first message: want the 500 and one more", attempts)
	}
	mu.Unlock()

	// A lasting change: one message, after the debounce.
	l.ISPs[1].Run("ip", "link", "set", "cpe", "down")
	l.waitState("ispb", "down", 5*time.Second)
	for deadline := time.Now().Add(15 * time.Second); len(messages()) < 2; time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("no webhook for ispb going down:\n%s", l.logText())
		}
	}
	if m := messages()[1]; m["uplink"] != "ispb" || m["from"] != "up" || m["to"] != "down" || !strings.Contains(m["reason"], "carrier") {
		t.Fatalf("the change's message: %v", m)
	}
	// Nothing more: 3 s of quiet (the debounce and more).
	quiet := time.Now().Add(3 * time.Second)
	for time.Now().Before(quiet) {
		if n := len(messages()); n != 2 {
			t.Fatalf("%d messages for two changes: %v", n, messages())
		}
		time.Sleep(100 * time.Millisecond)
	}
}
