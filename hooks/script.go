package hooks

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"time"
)

// DefaultPPPDir is Debian's ppp directory, holding the ip-up and ip-down
// scripts that run the hooks other packages drop in ip-up.d and ip-down.d.
const DefaultPPPDir = "/etc/ppp"

// ScriptTimeout bounds one run of Debian's ip-up or ip-down script.
const ScriptTimeout = 30 * time.Second

// RunPPPScript runs dir/ip-up or dir/ip-down, as pppd would have had
// pathpin not taken its place: with pppd's arguments and environment,
// bounded by ScriptTimeout, each line of its output logged. A missing
// script is no error.
func RunPPPScript(ctx context.Context, dir string, e Event, log *slog.Logger) error {
	path := filepath.Join(dir, string(e.Kind))
	if st, err := os.Stat(path); err != nil || st.IsDir() || st.Mode()&0o111 == 0 {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, ScriptTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, path, e.Args...)
	cmd.Env = e.Env
	cmd.Dir = "/"
	// The script and whatever it started go together when time is up.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = time.Second
	out, err := cmd.StdoutPipe()
	if err != nil {
		return err
	}
	cmd.Stderr = cmd.Stdout
	start := time.Now()
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("running %s: %w", path, err)
	}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		relayLines(out, func(line string) { log.Info(path+": "+line, "uplink", e.Uplink) })
	}()
	wg.Wait()
	err = cmd.Wait()
	if ctx.Err() != nil {
		return fmt.Errorf("%s did not finish in time (at most %s) and was killed", path, ScriptTimeout)
	}
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	log.Info("ran "+path, "uplink", e.Uplink, "took", time.Since(start).Round(time.Millisecond))
	return nil
}

// relayLines calls line for each line of r, cutting very long ones.
func relayLines(r io.Reader, line func(string)) {
	s := bufio.NewScanner(r)
	s.Buffer(make([]byte, 4096), 64*1024)
	for s.Scan() {
		line(s.Text())
	}
	// Drain the rest so the script never blocks on a full pipe.
	_, _ = io.Copy(io.Discard, r)
}
