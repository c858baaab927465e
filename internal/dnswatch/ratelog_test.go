package dnswatch

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"
	"time"
)

func TestLimitedLog(t *testing.T) {
	var buf bytes.Buffer
	log := slog.New(slog.NewTextHandler(&buf, nil))
	l := limitedLog{every: time.Hour}
	for range 3 {
		l.warn(log, "overrun", "n", 1)
	}
	if lines := strings.Count(buf.String(), "\n"); lines != 1 || strings.Contains(buf.String(), "suppressed") {
		t.Fatalf("three warnings within the interval wrote:\n%s", buf.String())
	}
	l.last = l.last.Add(-2 * time.Hour)
	l.warn(log, "overrun", "n", 1)
	if lines := strings.Split(strings.TrimSpace(buf.String()), "\n"); len(lines) != 2 || !strings.Contains(lines[1], "suppressed=2") {
		t.Fatalf("the warning after the interval:\n%s", buf.String())
	}
}
