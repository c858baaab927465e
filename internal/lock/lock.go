// Package lock is the one lock every writer of pathpin's kernel state
// takes: `pathpin up` holds it for its whole life, `apply`, `down` and the
// hook's no-daemon fallback for one change. It is an flock(2) on a file in
// the state directory, so it goes with the process that held it, however
// that process ends.
package lock

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/pathpin/pathpin/internal/statedir"
	"golang.org/x/sys/unix"
)

// Roles: who holds the lock.
const (
	// Daemon is `pathpin up`: while it runs, nothing else changes the kernel.
	Daemon = "up"
	// Command is a one-shot change (apply, down, the hook's fallback); it
	// waits for another command, never for a daemon.
	Command = "command"
)

// pollEvery is how often a waiting command tries the lock again; flock
// offers no way to wait that a context can cancel.
const pollEvery = 10 * time.Millisecond

// Lock is a held lock.
type Lock struct{ f *os.File }

// HeldError says that a daemon holds the lock, or that a daemon found it
// held, so the caller must not change anything.
type HeldError struct {
	PID  int
	Role string
	// Wanted is the role that asked for the lock.
	Wanted string
}

func (e *HeldError) Error() string {
	if e.Wanted == Daemon {
		return fmt.Sprintf("another pathpin (%s, pid %d) holds %s; stop it first", e.Role, e.PID, "the state lock")
	}
	return fmt.Sprintf("pathpin up is running (pid %d): change the configuration and run `systemctl reload pathpin`, or stop it with `systemctl stop pathpin`", e.PID)
}

// Acquire takes the lock in stateDir for role. A command waits, until ctx
// ends, for another command to finish, and fails at once with a
// *HeldError when a daemon holds the lock. A daemon fails at once with a
// *HeldError when anyone holds it.
func Acquire(ctx context.Context, stateDir, role string) (*Lock, error) {
	if err := os.MkdirAll(stateDir, 0o755); err != nil {
		return nil, fmt.Errorf("creating %s: %w", stateDir, err)
	}
	path := statedir.Dirs{State: stateDir}.Lock()
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("opening the lock %s: %w", path, err)
	}
	for {
		err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB)
		if err == nil {
			if err := f.Truncate(0); err == nil {
				_, _ = f.WriteAt([]byte(fmt.Sprintf("%d %s\n", os.Getpid(), role)), 0)
			}
			return &Lock{f: f}, nil
		}
		if !errors.Is(err, unix.EWOULDBLOCK) {
			f.Close()
			return nil, fmt.Errorf("locking %s: %w", path, err)
		}
		pid, holder := readHolder(path)
		// An empty record is a holder between its flock and its write.
		if holder == Daemon || (role == Daemon && holder != "") {
			f.Close()
			return nil, &HeldError{PID: pid, Role: holder, Wanted: role}
		}
		select {
		case <-ctx.Done():
			f.Close()
			return nil, fmt.Errorf("waiting for pid %d to release %s: %w", pid, path, ctx.Err())
		case <-time.After(pollEvery):
		}
	}
}

// Release gives the lock up.
func (l *Lock) Release() {
	if l == nil || l.f == nil {
		return
	}
	_ = unix.Flock(int(l.f.Fd()), unix.LOCK_UN)
	_ = l.f.Close()
	l.f = nil
}

func readHolder(path string) (int, string) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, ""
	}
	f := strings.Fields(string(b))
	if len(f) != 2 {
		return 0, ""
	}
	pid, _ := strconv.Atoi(f[0])
	return pid, f[1]
}
