// Package runcmd runs the commands pathpin starts on the host's behalf
// (Debian's ppp scripts, on-change commands) so that none can hold pathpin
// up: bounded in time, killed whole, and never waited for beyond a grace
// period once it has exited, even when something it started in the
// background keeps its output open.
package runcmd

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os/exec"
	"sync"
	"syscall"
	"time"
)

// Grace is how long Run waits, after the command has exited, for its
// output to close: a daemon it left behind holding the output (a script in
// ip-up.d that starts one) is not waited for.
const Grace = time.Second

// maxLine bounds one line of output; a longer one is cut.
const maxLine = 4096

// A Command is what to run.
type Command struct {
	Path string
	Args []string
	Env  []string // nil: pathpin's own environment
	// Timeout bounds the run; when it passes, the command and every
	// process of its process group are killed.
	Timeout time.Duration
	// Line is given each line of the command's output (stdout and stderr
	// together); nil discards it.
	Line func(string)
}

// ErrTimeout says the command did not finish within its timeout and was
// killed.
var ErrTimeout = errors.New("did not finish in time and was killed")

// Run runs c and returns once it has exited (or was killed), at most Grace
// later. A process it left behind that holds its output open is left to
// run; its output is no longer read.
func Run(ctx context.Context, c Command) error {
	ctx, cancel := context.WithTimeout(ctx, c.Timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, c.Path, c.Args...)
	cmd.Env = c.Env
	cmd.Dir = "/"
	// The command and whatever it started in its group go together when
	// time is up.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = Grace
	out := &lineWriter{line: c.Line}
	cmd.Stdout, cmd.Stderr = out, out
	err := cmd.Run()
	out.close()
	switch {
	case ctx.Err() != nil && !errors.Is(context.Cause(ctx), context.Canceled):
		return fmt.Errorf("%s %w (at most %s)", c.Path, ErrTimeout, c.Timeout)
	case errors.Is(err, exec.ErrWaitDelay):
		// It exited, and something it left running holds its output.
		return nil
	case err != nil:
		return fmt.Errorf("%s: %w", c.Path, err)
	}
	return nil
}

// lineWriter hands complete lines to line, each cut at maxLine; it stops
// once closed, so that a writer still copying after Run returned (the
// output of a process left behind) reaches nothing.
type lineWriter struct {
	mu     sync.Mutex
	line   func(string)
	buf    []byte
	closed bool
}

func (w *lineWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed || w.line == nil {
		return len(p), nil
	}
	w.buf = append(w.buf, p...)
	for {
		i := bytes.IndexByte(w.buf, '\n')
		if i < 0 {
			break
		}
		w.emit(w.buf[:i])
		w.buf = w.buf[i+1:]
	}
	if len(w.buf) > maxLine {
		w.emit(w.buf)
		w.buf = w.buf[:0]
	}
	return len(p), nil
}

func (w *lineWriter) emit(b []byte) {
	if len(b) > maxLine {
		b = b[:maxLine]
	}
	w.line(string(b))
}

func (w *lineWriter) close() {
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(w.buf) > 0 && !w.closed && w.line != nil {
		w.emit(w.buf)
	}
	w.buf, w.closed = nil, true
}
