package notify

import (
	"strings"
	"testing"
	"time"
)

func TestHookValidate(t *testing.T) {
	ok := NewHook("https://ntfy.sh/alerts")
	with := func(f func(*Hook)) Hook { h := ok; f(&h); return h }
	tests := []struct {
		name string
		hook Hook
		want string // in the error; "" for none
	}{
		{"the defaults", ok, ""},
		{"a zero timeout is the default", with(func(h *Hook) { h.Timeout = 0 }), ""},
		{"no retries, no debounce", with(func(h *Hook) { h.Retries, h.Debounce = 0, 0 }), ""},
		{"the bounds", with(func(h *Hook) { h.Timeout, h.Retries, h.Debounce = time.Minute, 10, 10*time.Minute }), ""},
		{"headers", with(func(h *Hook) {
			h.Headers = map[string]string{"Authorization": "Bearer tk_1", "X-Tags": "warning,\tpathpin"}
		}), ""},
		{"no URL", with(func(h *Hook) { h.URL = "" }), "no URL"},
		{"not http", with(func(h *Hook) { h.URL = "ftp://example.com/x" }), `scheme "ftp" is not http or https`},
		{"no host", with(func(h *Hook) { h.URL = "https:///x" }), "no host"},
		{"does not parse", with(func(h *Hook) { h.URL = "http://[::1/x" }), "URL is not valid"},
		{"timeout too short", with(func(h *Hook) { h.Timeout = 500 * time.Millisecond }), "timeout 500ms is out of range"},
		{"timeout too long", with(func(h *Hook) { h.Timeout = 61 * time.Second }), "timeout 1m1s is out of range"},
		{"negative retries", with(func(h *Hook) { h.Retries = -1 }), "retries -1 is out of range"},
		{"too many retries", with(func(h *Hook) { h.Retries = 11 }), "retries 11 is out of range"},
		{"negative debounce", with(func(h *Hook) { h.Debounce = -time.Second }), "debounce -1s is out of range"},
		{"debounce too long", with(func(h *Hook) { h.Debounce = 11 * time.Minute }), "debounce 11m0s is out of range"},
		{"header name", with(func(h *Hook) { h.Headers = map[string]string{"Bad Name": "x"} }), `header name "Bad Name"`},
		{"header value", with(func(h *Hook) { h.Headers = map[string]string{"Title": "a\r\nX-Evil: 1"} }), `value of header "Title"`},
		{"template does not parse", with(func(h *Hook) { h.Body = "{{.Uplink" }), "does not parse"},
		{"template field misspelt", with(func(h *Hook) { h.Body = "{{.Uplnk}}" }), "Uplnk"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.hook.Validate()
			switch {
			case tt.want == "" && err != nil:
				t.Fatalf("Validate() = %v, want nil", err)
			case tt.want != "" && err == nil:
				t.Fatalf("Validate() = nil, want an error with %q", tt.want)
			case tt.want != "" && !strings.Contains(err.Error(), tt.want):
				t.Fatalf("Validate() = %v, want an error with %q", err, tt.want)
			}
		})
	}
}

// TestHookErrorsRedacted checks that an error about a hook names it
// without its token.
func TestHookErrorsRedacted(t *testing.T) {
	h := NewHook("https://api.telegram.org/bot123456:SECRET/sendMessage?x=SECRET2")
	h.Retries = 99
	_, err := New([]Hook{NewHook("https://ntfy.sh/x"), h}, nil, nil)
	if err == nil {
		t.Fatal("New took 99 retries")
	}
	if strings.Contains(err.Error(), "SECRET") {
		t.Errorf("the error shows a token: %v", err)
	}
	if !strings.Contains(err.Error(), "hook 2") || !strings.Contains(err.Error(), "botREDACTED") {
		t.Errorf("the error does not say which hook: %v", err)
	}
}

func TestNewNamesHooksApart(t *testing.T) {
	n, err := New([]Hook{NewHook("https://ntfy.sh/a?auth=1"), NewHook("https://ntfy.sh/a?auth=2"), NewHook("https://ntfy.sh/b")}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	st := n.Stats()
	for _, name := range []string{"https://ntfy.sh/a?REDACTED", "https://ntfy.sh/a?REDACTED (2)", "https://ntfy.sh/b"} {
		if _, ok := st[name]; !ok {
			t.Errorf("Stats has no %q: %v", name, st)
		}
	}
}
