package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"time"

	"github.com/pathpin/pathpin/internal/config"
	"github.com/pathpin/pathpin/internal/daemon"
	"github.com/pathpin/pathpin/internal/lock"
	"github.com/pathpin/pathpin/internal/setup"
	"github.com/pathpin/pathpin/internal/statedir"
	"github.com/pathpin/pathpin/uplink"
	"github.com/vishvananda/netlink"
)

// engineCommand is the shape of plan, apply, down and check: parse the
// common flags (and any the command adds), load the configuration, open
// the engine, run, close.
func engineCommand(ctx context.Context, env *cliEnv, name string, args []string, extra func(*flag.FlagSet),
	run func(cfg *config.Config, e *uplink.Engine, f *engineFlags) error) error {
	var f engineFlags
	fs := newFlagSet(name, env)
	f.register(fs)
	if extra != nil {
		extra(fs)
	}
	if err := parse(fs, args); err != nil || helpRequested(args) {
		return err
	}
	cfg, e, err := f.open(env)
	if err != nil {
		return err
	}
	defer e.Close()
	return run(cfg, e, &f)
}

// lockWait bounds how long a command waits for another command's change.
const lockWait = 30 * time.Second

// lockState takes the state lock for one change. With `pathpin up`
// running it fails at once and says what to do instead.
func lockState(ctx context.Context, stateDir string) (*lock.Lock, error) {
	ctx, cancel := context.WithTimeout(ctx, lockWait)
	defer cancel()
	return lock.Acquire(ctx, stateDir, lock.Command)
}

func runPlan(ctx context.Context, env *cliEnv, args []string) error {
	return engineCommand(ctx, env, "plan", args, nil, func(cfg *config.Config, e *uplink.Engine, _ *engineFlags) error {
		p, err := e.Plan(ctx, uplink.Input{Config: cfg})
		if err != nil {
			return err
		}
		printStatuses(env.stdout, p.Statuses)
		if p.Changes.Empty() {
			fmt.Fprintln(env.stdout, "\nNothing to change: the kernel already matches the configuration.")
			return nil
		}
		fmt.Fprintln(env.stdout)
		fmt.Fprint(env.stdout, uplink.RenderChanges(&p.Changes))
		return &exitError{code: 2}
	})
}

func runApply(ctx context.Context, env *cliEnv, args []string) error {
	var verbose *bool
	return engineCommand(ctx, env, "apply", args, func(fs *flag.FlagSet) {
		verbose = fs.Bool("v", false, "print the changes made")
	}, func(cfg *config.Config, e *uplink.Engine, f *engineFlags) error {
		l, err := lockState(ctx, f.stateDir)
		if err != nil {
			return fmt.Errorf("apply: %w", err)
		}
		defer l.Release()
		p, err := e.Apply(ctx, uplink.Input{Config: cfg})
		if err != nil {
			return fmt.Errorf("apply: %w", err)
		}
		if p.Changes.Empty() {
			fmt.Fprintln(env.stdout, "Nothing to change.")
			return nil
		}
		if *verbose {
			fmt.Fprint(env.stdout, uplink.RenderChanges(&p.Changes))
		}
		printStatuses(env.stdout, p.Statuses)
		fmt.Fprintln(env.stdout, "Applied and verified.")
		return nil
	})
}

func runDown(ctx context.Context, env *cliEnv, args []string) error {
	var libDir *string
	return engineCommand(ctx, env, "down", args, func(fs *flag.FlagSet) {
		libDir = fs.String("lib-dir", defaultLibDir, "where pathpin up keeps DHCP leases and PPPoE sessions across reboots")
	}, func(cfg *config.Config, e *uplink.Engine, f *engineFlags) error {
		l, err := lockState(ctx, f.stateDir)
		if err != nil {
			return fmt.Errorf("down: %w", err)
		}
		defer l.Release()
		// A lease a killed daemon left: released while its address is
		// still there.
		if err := daemon.ReleaseStoredLeases(cfg, *libDir); err != nil {
			fmt.Fprintf(env.stderr, "pathpin down: %v\n", err)
		}
		if _, err := e.Down(ctx, cfg); err != nil {
			return fmt.Errorf("down: %w", err)
		}
		if h, ok := e.NL.(*netlink.Handle); ok {
			if err := daemon.RemoveVLANs(statedir.Dirs{State: f.stateDir}.VLANRecord(), h); err != nil {
				return fmt.Errorf("down: removing the VLANs pathpin created: %w", err)
			}
		}
		fmt.Fprintln(env.stdout, "Removed everything pathpin installed.")
		return nil
	})
}

func runCheck(ctx context.Context, env *cliEnv, args []string) error {
	return engineCommand(ctx, env, "check", args, nil, func(cfg *config.Config, e *uplink.Engine, _ *engineFlags) error {
		fmt.Fprintf(env.stdout, "ok: %s is valid (%d uplinks)\n", cfg.Path, len(cfg.Uplinks))
		findings, err := e.Check(ctx, cfg)
		if err != nil {
			return err
		}
		for _, u := range cfg.Uplinks {
			if !u.IsDHCP() {
				continue
			}
			for _, c := range setup.DHCPConflicts(ctx, setup.SystemHost(), u.Interface) {
				findings = append(findings, uplink.Finding{Severity: uplink.Problem,
					Text: fmt.Sprintf("uplink %s: %s; pathpin keeps the lease itself: %s", u.Name, c.What, c.Fix)})
			}
		}
		problems := 0
		for _, fd := range findings {
			fmt.Fprintf(env.stdout, "%s: %s\n", fd.Severity, fd.Text)
			if fd.Severity == uplink.Problem {
				problems++
			}
		}
		if problems > 0 {
			return fmt.Errorf("check: %d problems; fix them before pathpin apply", problems)
		}
		return nil
	})
}

func printStatuses(w io.Writer, statuses []uplink.Status) {
	for _, s := range statuses {
		if s.Up() {
			fmt.Fprintf(w, "uplink %-11s up    %-10s %s via %s (weight %d, table %d, mark %#x)\n", s.Name, s.Device, s.Local, s.Gateway, s.Uplink.Weight, s.Uplink.Table, s.Uplink.Mark)
		} else {
			fmt.Fprintf(w, "uplink %-11s down  %s\n", s.Name, s.Reason)
		}
	}
}
