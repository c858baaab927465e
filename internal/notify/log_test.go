package notify

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// TestLogsRedacted checks that no token in a hook's URL reaches the log
// or Stats: not from the URL, not from the HTTP client's errors, not from
// an answer that echoes it.
func TestLogsRedacted(t *testing.T) {
	rc := newReceiver(t, func(n int, w http.ResponseWriter, r *http.Request) {
		u, p, _ := r.BasicAuth()
		http.Error(w, "no such bot: "+r.RequestURI+" for "+u+":"+p, http.StatusNotFound)
	})
	gone := httptest.NewServer(http.NotFoundHandler())
	gone.Close()
	echo := NewHook(strings.Replace(rc.URL, "http://", "http://alice:PASSWORDSECRET@", 1) +
		"/bot123456:BOTSECRET/sendMessage?chat_id=42&key=QUERYSECRET")
	refused := NewHook(gone.URL + "/bot987:OTHERSECRET/sendMessage?token=TOKENSECRET")
	templated := NewHook(gone.URL + "/hook/a1b2c3d4e5f6a7b8c9d0SECRET")
	templated.Body = `{"text": {{json .Reason}}}`
	for _, h := range []*Hook{&echo, &refused, &templated} {
		h.Debounce, h.Retries = 0, 1
	}
	// A header of its own: echo's is basic auth, from the URL.
	refused.Headers = map[string]string{"Authorization": "Bearer HEADERSECRET"}
	log, logs := newLog()
	n := mustNew(t, log, echo, refused, templated)
	run(t, n)
	n.Send(ev("wan1", "up", "down", "r"))
	for name, st := range settleAll(t, n, 1) {
		if strings.Contains(name, "SECRET") {
			t.Errorf("Stats name a hook with its token: %s", name)
		}
		if st.Failed != 1 {
			t.Errorf("hook %s: Stats = %+v, want 1 failed", name, st)
		}
	}
	out := logs.String()
	for _, want := range []string{"botREDACTED", "404 Not Found", "for REDACTED", "connection refused", "trying again"} {
		if !strings.Contains(out, want) {
			t.Errorf("the log has no %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "SECRET") {
		t.Errorf("a secret reached the log:\n%s", out)
	}
}
