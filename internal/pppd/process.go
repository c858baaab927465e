package pppd

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os/exec"
	"strings"
	"syscall"
	"time"
)

// pppd exit statuses pathpin acts on (pppd(8), EXIT STATUS).
const (
	ExitUserRequest = 5  // terminated by a signal: pppd sent LCP Terminate
	ExitHangup      = 16 // the peer hung up (LCP Terminate or PADT from the AC)
)

// Result is how a pppd run ended.
type Result struct {
	Code      int           // exit status; -1 when killed by a signal
	Stopped   bool          // pathpin asked it to stop
	Uptime    time.Duration // how long it ran
	StartedAt time.Time
}

// EndedCleanly reports whether the session was closed at both ends: pppd
// terminated LCP on our request, or the AC ended it. Otherwise (a crash,
// SIGKILL, LCP echo failure) the AC may still hold it, and only a PADT
// from pathpin closes it: pppd's plugin sends none.
func (r Result) EndedCleanly() bool {
	return r.Code == ExitHangup || (r.Stopped && r.Code == ExitUserRequest)
}

// Run starts pppd with the options file and waits for it to exit. pppd's
// output goes to log line by line. When ctx ends, pppd gets SIGTERM, then
// SIGKILL after grace. started is called once pppd runs.
func Run(ctx context.Context, pppdPath, optionsFile string, grace time.Duration, log *slog.Logger, started func(pid int)) (Result, error) {
	cmd := exec.Command(pppdPath, "file", optionsFile)
	cmd.Env = []string{"PATH=/usr/sbin:/usr/bin:/sbin:/bin"}
	// Its own process group; and if pathpin dies, pppd is told to stop
	// rather than hold the interface against the next pathpin.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGTERM}
	out, err := cmd.StdoutPipe()
	if err != nil {
		return Result{}, err
	}
	cmd.Stderr = cmd.Stdout
	res := Result{StartedAt: time.Now()}
	if err := cmd.Start(); err != nil {
		return res, fmt.Errorf("pppd: starting %s: %w", pppdPath, err)
	}
	if started != nil {
		started(cmd.Process.Pid)
	}
	logged := make(chan struct{})
	go func() {
		defer close(logged)
		relay(out, log)
	}()
	waited := make(chan error, 1)
	go func() { <-logged; waited <- cmd.Wait() }()

	var werr error
	select {
	case werr = <-waited:
	case <-ctx.Done():
		res.Stopped = true
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM)
		select {
		case werr = <-waited:
		case <-time.After(grace):
			log.Warn("pppd did not stop in time; killing it", "grace", grace)
			_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			werr = <-waited
		}
	}
	res.Uptime = time.Since(res.StartedAt)
	res.Code = 0
	var ee *exec.ExitError
	if errors.As(werr, &ee) {
		res.Code = ee.ExitCode()
	} else if werr != nil {
		return res, fmt.Errorf("pppd: waiting: %w", werr)
	}
	return res, nil
}

// maxLogLine is the longest piece of one pppd output line that is logged;
// the rest of such a line is dropped, and reading goes on.
const maxLogLine = 4096

// relay logs pppd's output line by line until it closes. It never stops
// reading early: a pppd whose pipe fills up blocks.
func relay(r io.Reader, log *slog.Logger) {
	br := bufio.NewReaderSize(r, maxLogLine)
	for {
		line, err := br.ReadSlice('\n')
		if len(line) > 0 {
			text := strings.TrimRight(string(line), "\r\n")
			if errors.Is(err, bufio.ErrBufferFull) {
				text += " [line cut]"
				// Skip the rest of the line.
				for errors.Is(err, bufio.ErrBufferFull) {
					_, err = br.ReadSlice('\n')
				}
			}
			log.Info("pppd: " + text)
		}
		if err != nil && !errors.Is(err, bufio.ErrBufferFull) {
			return
		}
	}
}
