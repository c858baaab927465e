package lock

import (
	"context"
	"errors"
	"os"
	"strings"
	"testing"
	"time"
)

func TestCommandsTakeTurns(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	first, err := Acquire(ctx, dir, Command)
	if err != nil {
		t.Fatal(err)
	}
	got := make(chan error, 1)
	go func() {
		l, err := Acquire(ctx, dir, Command)
		l.Release()
		got <- err
	}()
	select {
	case err := <-got:
		t.Fatalf("a second command took the lock while the first held it (%v)", err)
	case <-time.After(50 * time.Millisecond):
	}
	first.Release()
	if err := <-got; err != nil {
		t.Fatalf("the waiting command: %v", err)
	}
}

func TestACommandNeverWaitsForTheDaemon(t *testing.T) {
	dir := t.TempDir()
	d, err := Acquire(context.Background(), dir, Daemon)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Release()
	_, err = Acquire(context.Background(), dir, Command)
	var held *HeldError
	if !errors.As(err, &held) || held.PID != os.Getpid() {
		t.Fatalf("command under a daemon: %v, want a HeldError naming pid %d", err, os.Getpid())
	}
	for _, want := range []string{"pathpin up is running", "systemctl reload pathpin", "systemctl stop pathpin"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("%q does not say %q", err, want)
		}
	}
	if _, err := Acquire(context.Background(), dir, Daemon); !errors.As(err, &held) {
		t.Fatalf("a second daemon: %v, want a HeldError", err)
	}
}

func TestWaitingEndsWithTheContext(t *testing.T) {
	dir := t.TempDir()
	l, err := Acquire(context.Background(), dir, Command)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Release()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Millisecond)
	defer cancel()
	if _, err := Acquire(ctx, dir, Command); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("got %v, want the context's deadline", err)
	}
}
