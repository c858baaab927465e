package pppd

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"
	"time"
)

func TestExitReasons(t *testing.T) {
	for _, tc := range []struct {
		code   int
		want   string
		person bool
	}{
		{19, "authentication failed: check username and password-file (pppd exit 19)", true},
		{16, "the peer hung up", false},
		{15, "stopped answering LCP echo", false},
		{4, "kernel has no PPP support", true},
		{2, "rejected its options", true},
		{10, "PPP negotiation failed", false},
		{-1, "pppd was killed", false},
		{99, "pppd exited (pppd exit 99)", false},
	} {
		r := Result{Code: tc.code}
		if !strings.Contains(r.Reason(), tc.want) || r.NeedsAPerson() != tc.person {
			t.Errorf("exit %d: %q (needs a person %v), want %q (%v)", tc.code, r.Reason(), r.NeedsAPerson(), tc.want, tc.person)
		}
	}
}

func TestSlowRedialIsNeverFasterThanTheMaximum(t *testing.T) {
	b := Backoff{Initial: time.Second, Max: time.Minute, StableAfter: time.Hour}
	for i := 0; i < 100; i++ {
		if d := b.Slow(); d < time.Minute || d > 72*time.Second {
			t.Fatalf("Slow() = %s, want from 1m to 1m12s", d)
		}
	}
	if d := b.Next(0); d < 48*time.Second {
		t.Fatalf("the wait after a slow one fell back to %s", d)
	}
}

// TestRelayKeepsReadingPastLongLines: a line longer than any buffer must
// not stop the relay, or pppd blocks on its full pipe.
func TestRelayKeepsReadingPastLongLines(t *testing.T) {
	var out bytes.Buffer
	log := slog.New(slog.NewTextHandler(&out, nil))
	in := "first\n" + strings.Repeat("x", 200<<10) + "\nlast\n"
	relay(strings.NewReader(in), log)
	got := out.String()
	for _, want := range []string{"pppd: first", "[line cut]", "pppd: last"} {
		if !strings.Contains(got, want) {
			t.Errorf("the relay's log lacks %q", want)
		}
	}
	if len(got) > 16<<10 {
		t.Errorf("the relay logged %d bytes for one long line", len(got))
	}
}
