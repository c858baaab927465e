package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// openPTY returns a pseudo-terminal's controlling side and its terminal.
func openPTY(t *testing.T) (ptmx, tty *os.File) {
	t.Helper()
	ptmx, err := os.OpenFile("/dev/ptmx", os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		t.Fatal(err)
	}
	var unlock int32
	if _, _, e := unix.Syscall(unix.SYS_IOCTL, ptmx.Fd(), unix.TIOCSPTLCK, uintptr(unsafe.Pointer(&unlock))); e != 0 {
		t.Fatal(e)
	}
	n, err := unix.IoctlGetUint32(int(ptmx.Fd()), unix.TIOCGPTN)
	if err != nil {
		t.Fatal(err)
	}
	tty, err = os.OpenFile(fmt.Sprintf("/dev/pts/%d", n), os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ptmx.Close(); tty.Close() })
	return ptmx, tty
}

// screen is what a terminal has shown so far.
type screen struct {
	mu  sync.Mutex
	buf strings.Builder
}

func (s *screen) String() string { s.mu.Lock(); defer s.mu.Unlock(); return s.buf.String() }

// waitFor waits until the screen shows text after position from, and
// returns the position after it.
func (s *screen) waitFor(t *testing.T, text string, from int) int {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if i := strings.Index(s.String()[from:], text); i >= 0 {
			return from + i + len(text)
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("the terminal never showed %q; it shows:\n%s", text, s.String())
	return 0
}

// TestInitOnATerminal drives init's questions through a pseudo-terminal:
// the password is never echoed, and "no" at the end writes nothing.
func TestInitOnATerminal(t *testing.T) {
	l := newInitLab(t)
	ptmx, tty := openPTY(t)
	cfg := filepath.Join(l.dir, "etc", "pathpin.yaml")
	cmd := l.router.Command(l.bin, "init", "-c", cfg, "--interface", "wan0", "--timeout", "1s", "--ppp-dir", l.dir)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = tty, tty, tty
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true, Setctty: true, Ctty: 0}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	tty.Close()
	s := &screen{}
	go func() {
		b := make([]byte, 4096)
		for {
			n, err := ptmx.Read(b)
			s.mu.Lock()
			s.buf.Write(b[:n])
			s.mu.Unlock()
			if err != nil {
				return
			}
		}
	}()
	pos := 0
	for _, step := range []struct{ prompt, answer string }{
		{"PPP username (the login your ISP gave you): ", "bob\n"},
		{"PPP password (not shown): ", "hunter2\n"},
		{"The same password again: ", "hunter2\n"},
		{"as a second, static uplink [Y/n]: ", "\n"},
		{"(space-separated) [lan0]: ", "\n"},
		{"keep working) [Y/n]: ", "\n"},
		{"[y/N]: ", "n\n"},
	} {
		pos = s.waitFor(t, step.prompt, pos)
		if _, err := ptmx.Write([]byte(step.answer)); err != nil {
			t.Fatal(err)
		}
	}
	s.waitFor(t, "Nothing was written.", pos)
	if err := cmd.Wait(); err != nil {
		t.Errorf("init: %v\n%s", err, s)
	}
	shown := s.String()
	t.Logf("the terminal showed:\n%s", shown)
	if strings.Contains(shown, "hunter2") {
		t.Errorf("the password was echoed:\n%s", shown)
	}
	if !strings.Contains(shown, "protect:\r\n  router: true") && !strings.Contains(shown, "protect:\n  router: true") {
		t.Errorf("the router was not closed by default:\n%s", shown)
	}
	if !strings.Contains(shown, "bob") || !strings.Contains(shown, "username: bob") {
		t.Errorf("the username was not echoed or not in the configuration shown:\n%s", shown)
	}
	if _, err := os.Stat(filepath.Dir(cfg)); err == nil {
		t.Errorf("answering no wrote something")
	}
}
