package dnswatch

import (
	"log/slog"
	"sync"
	"time"
)

// A limitedLog writes one kind of warning at most once per interval, so
// that a flood of failing packets cannot flood the log; the next line it
// writes counts the ones it held back.
type limitedLog struct {
	every time.Duration

	mu   sync.Mutex
	last time.Time
	held int
}

// allow says whether a line may be written now, and how many were held
// back since the last one written.
func (l *limitedLog) allow() (ok bool, held int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := time.Now()
	if !l.last.IsZero() && now.Sub(l.last) < l.every {
		l.held++
		return false, 0
	}
	held = l.held
	l.last, l.held = now, 0
	return true, held
}

// warn logs msg unless a line was written less than l.every ago.
func (l *limitedLog) warn(log *slog.Logger, msg string, args ...any) {
	ok, held := l.allow()
	if !ok {
		return
	}
	if held > 0 {
		args = append(args, "suppressed", held)
	}
	log.Warn(msg, args...)
}
