package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path"
	"syscall"
	"time"

	"github.com/pathpin/pathpin/hooks"
	"github.com/pathpin/pathpin/internal/cgroup"
	"github.com/pathpin/pathpin/internal/statedir"
)

// runExec runs a command on the router whose every connection leaves by
// one uplink (or is steered by a program's policies): the command runs in
// a cgroup of its own that pathpin's table matches, and its children
// inherit it. Local destinations (a resolver on 127.0.0.1) and the LAN
// are not steered.
func runExec(ctx context.Context, env *cliEnv, args []string) error {
	fs := newFlagSet("exec", env)
	via := fs.String("via", "", "the uplink the command's connections leave by")
	fallback := fs.Bool("fallback", false, "while that uplink is out of service, let the balance carry them (default: they fail)")
	program := fs.String("program", "", "run the command as a program of programs: (its policies steer it) instead of --via")
	stateDir := fs.String("state-dir", defaultStateDir, "where pathpin up keeps its sockets")
	fs.Usage = func() {
		fmt.Fprintln(env.stderr, "usage: pathpin exec --via UPLINK [--fallback] -- COMMAND [ARG...]")
		fmt.Fprintln(env.stderr, "       pathpin exec --program NAME -- COMMAND [ARG...]")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return &exitError{code: 2, msg: err.Error()}
	}
	argv := fs.Args()
	switch {
	case len(argv) == 0:
		return &exitError{code: 2, msg: "exec: give the command after --: pathpin exec --via plusnet -- curl https://example.org"}
	case (*via == "") == (*program == ""):
		return &exitError{code: 2, msg: "exec: give one of --via UPLINK or --program NAME"}
	case *program != "" && *fallback:
		return &exitError{code: 2, msg: "exec: --fallback goes with --via; a program's policies say what happens without their uplinks"}
	}
	prog, err := exec.LookPath(argv[0])
	if err != nil {
		return fmt.Errorf("exec: %s: no such program (not found in PATH)", argv[0])
	}
	layout, err := cgroup.Detect()
	if err != nil {
		return fmt.Errorf("exec: %w", err)
	}
	before, err := cgroup.Self()
	if err != nil {
		return fmt.Errorf("exec: %w", err)
	}
	pid := os.Getpid()
	group := layout.Exec(*via, *program, *fallback, pid)
	if layout.Systemd {
		slice := cgroup.Slice
		if *program != "" {
			slice = cgroup.ProgramSlice(*program)
		}
		if err := cgroup.StartScope(ctx, path.Base(group), slice, pid); err != nil {
			return fmt.Errorf("exec: %w", err)
		}
	} else if err := cgroup.Join(layout.Root, group, pid); err != nil {
		return fmt.Errorf("exec: %w (pathpin exec runs as root)", err)
	}
	// Out of the group again (without systemd, so that it can go) and
	// the daemon told, whatever happens from here.
	leave := func() {
		if !layout.Systemd {
			_ = cgroup.Join(layout.Root, before, pid)
		}
		dctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = hooks.Send(dctx, statedir.Dirs{State: *stateDir}.HookSocket(), hooks.Event{Kind: hooks.ExecDone, Uplink: *via, Program: *program, Cgroup: group})
	}
	if now, err := cgroup.Self(); err != nil || now != group {
		leave()
		return fmt.Errorf("exec: this process is in cgroup %q, not %q as asked; is another tool moving processes?", now, group)
	}
	sctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	err = hooks.Send(sctx, statedir.Dirs{State: *stateDir}.HookSocket(), hooks.Event{Kind: hooks.Exec, Uplink: *via, Program: *program, Cgroup: group, Fallback: *fallback})
	cancel()
	if err != nil {
		leave()
		var refused *hooks.RefusedError
		switch {
		case errors.As(err, &refused):
			return fmt.Errorf("exec: %s", refused.Reason)
		case errors.Is(err, hooks.ErrNoDaemon):
			return errors.New("exec: pathpin up is not running, so nothing would steer the command; start it (systemctl start pathpin)")
		}
		return fmt.Errorf("exec: %w", err)
	}
	cmd := exec.Command(prog, argv[1:]...)
	cmd.Args[0] = argv[0]
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, env.stdout, env.stderr
	if err := cmd.Start(); err != nil {
		leave()
		return fmt.Errorf("exec: %w", err)
	}
	waited := make(chan error, 1)
	go func() { waited <- cmd.Wait() }()
	select {
	case err = <-waited:
	case <-ctx.Done():
		// SIGINT reaches the command from the terminal; SIGTERM is passed on.
		_ = cmd.Process.Signal(syscall.SIGTERM)
		err = <-waited
	}
	leave()
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return &exitError{code: ee.ExitCode()}
	}
	return err
}
