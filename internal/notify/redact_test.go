package notify

import (
	"strings"
	"testing"
)

func TestRedact(t *testing.T) {
	tests := []struct{ name, in, want string }{
		{"telegram bot token", "https://api.telegram.org/bot123456:ABC-DEF1234ghIkl-zyx57W2v1u123ew11/sendMessage",
			"https://api.telegram.org/botREDACTED/sendMessage"},
		{"query", "https://ntfy.sh/alerts?auth=tk_abcdef", "https://ntfy.sh/alerts?REDACTED"},
		{"user info", "https://alice:s3cret@example.com/hook", "https://REDACTED@example.com/hook"},
		{"fragment", "https://example.com/a#frag", "https://example.com/a"},
		{"slack key", "https://hooks.slack.com/services/T00000000/B00000000/aBcD1234eFgH5678iJkL9012",
			"https://hooks.slack.com/services/T00000000/B00000000/REDACTED"},
		{"uuid", "http://ha.local:8123/api/webhook/0b7e9d8c-2f1a-4c3b-9d8e-7f6a5b4c3d2e",
			"http://ha.local:8123/api/webhook/REDACTED"},
		{"nothing secret", "http://192.168.1.10:8080/notify/wan", "http://192.168.1.10:8080/notify/wan"},
		{"a bare bot segment", "https://example.com/bot/x", "https://example.com/bot/x"},
		{"escaped token", "https://api.telegram.org/bot12%3AAB%2Fcd/sendMessage", "https://api.telegram.org/botREDACTED/sendMessage"},
		{"does not parse", "http://[::1/bot12:secret", "(a URL that does not parse)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Redact(tt.in); got != tt.want {
				t.Errorf("Redact(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}

func TestRedactorScrub(t *testing.T) {
	raw := "https://bob:hunter22@api.telegram.org/bot123456:ABCdef/sendMessage?chat_id=1&key=k3y-value"
	r := newRedactor(raw)
	for _, text := range []string{
		`Post "` + raw + `": dial tcp: no such host`,
		"wrong token 123456:ABCdef",
		"wrong token 123456%3AABCdef",
		"password hunter22 refused",
		"key k3y-value refused",
	} {
		got := r.scrub(text)
		for _, secret := range []string{"123456:ABCdef", "123456%3AABCdef", "hunter22", "k3y-value"} {
			if strings.Contains(got, secret) {
				t.Errorf("scrub(%q) = %q: %q is still there", text, got, secret)
			}
		}
	}
	if got := r.scrub(`Post "` + raw + `"`); got != `Post "`+Redact(raw)+`"` {
		t.Errorf("the URL is not shown redacted: %q", got)
	}
	if got := r.scrub("chat 1 is fine"); got != "chat 1 is fine" {
		t.Errorf("a short value was scrubbed: %q", got)
	}
}
