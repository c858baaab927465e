package runcmd

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestRun(t *testing.T) {
	tests := []struct {
		name    string
		script  string
		timeout time.Duration
		lines   []string
		err     error // nil, ErrTimeout, or errAny
		// within bounds how long Run may take.
		within time.Duration
	}{
		{name: "output by line", script: "echo one; echo two >&2; printf three", timeout: 5 * time.Second,
			lines: []string{"one", "two", "three"}, within: 2 * time.Second},
		{name: "a failure", script: "echo bad; exit 3", timeout: 5 * time.Second, lines: []string{"bad"}, err: errAny, within: 2 * time.Second},
		// A daemon started in its own session keeps the output open: Run
		// returns once the script has exited and the grace has passed.
		{name: "a daemon left behind", script: "setsid sleep 8 & echo started", timeout: 5 * time.Second,
			lines: []string{"started"}, within: Grace + time.Second},
		{name: "a real daemon left behind", script: "setsid sh -c 'while :; do sleep 1; done' & echo started", timeout: 5 * time.Second,
			lines: []string{"started"}, within: Grace + time.Second},
		{name: "too slow, with a child", script: "sleep 30 & sleep 30", timeout: 300 * time.Millisecond, err: ErrTimeout, within: Grace + time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var mu sync.Mutex
			var got []string
			start := time.Now()
			err := Run(context.Background(), Command{Path: "/bin/sh", Args: []string{"-c", tt.script}, Timeout: tt.timeout,
				Line: func(l string) { mu.Lock(); got = append(got, l); mu.Unlock() }})
			took := time.Since(start)
			switch {
			case tt.err == nil && err != nil, tt.err == errAny && err == nil, tt.err == ErrTimeout && !errors.Is(err, ErrTimeout):
				t.Fatalf("Run = %v, want %v", err, tt.err)
			}
			if took > tt.within {
				t.Fatalf("Run took %s, want at most %s", took, tt.within)
			}
			mu.Lock()
			defer mu.Unlock()
			if strings.Join(got, "|") != strings.Join(tt.lines, "|") {
				t.Fatalf("lines %q, want %q", got, tt.lines)
			}
		})
	}
}

// errAny stands for any error in the table.
var errAny = errors.New("any error")

func TestRunEndsWithItsContext(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(200*time.Millisecond, cancel)
	start := time.Now()
	if err := Run(ctx, Command{Path: "/bin/sh", Args: []string{"-c", "sleep 30"}, Timeout: time.Minute}); err == nil {
		t.Fatal("a command whose context ended reported success")
	}
	if took := time.Since(start); took > Grace+time.Second {
		t.Fatalf("Run took %s after its context ended", took)
	}
}

func TestLongLinesAreCut(t *testing.T) {
	var got []string
	w := &lineWriter{line: func(l string) { got = append(got, l) }}
	w.Write([]byte(strings.Repeat("x", 3*maxLine) + "\nend\n"))
	w.close()
	w.Write([]byte("after close\n"))
	if len(got) < 2 || got[len(got)-1] != "end" {
		t.Fatalf("lines: %d, last %q", len(got), got[len(got)-1])
	}
	for _, l := range got {
		if len(l) > maxLine {
			t.Fatalf("a line of %d bytes, want at most %d", len(l), maxLine)
		}
	}
}
