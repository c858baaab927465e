package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"time"

	"github.com/pathpin/pathpin/hooks"
	"github.com/pathpin/pathpin/internal/statedir"
)

// runResume lets an uplink that its failback holds out (failback: never)
// back into service once its probes answer.
func runResume(ctx context.Context, env *cliEnv, args []string) error {
	fs := newFlagSet("resume", env)
	stateDir := fs.String("state-dir", defaultStateDir, "where pathpin up keeps its sockets")
	fs.Usage = func() {
		fmt.Fprintln(env.stderr, "usage: pathpin resume UPLINK")
		fs.PrintDefaults()
	}
	pos, err := parseInterleaved(fs, args)
	if err != nil || helpRequested(args) {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return err
	}
	if len(pos) != 1 {
		return &exitError{code: 2, msg: "resume: name the uplink: pathpin resume plusnet"}
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	err = hooks.Send(ctx, statedir.Dirs{State: *stateDir}.HookSocket(), hooks.Event{Kind: hooks.Resume, Uplink: pos[0]})
	var refused *hooks.RefusedError
	switch {
	case errors.As(err, &refused):
		return fmt.Errorf("resume: %s", refused.Reason)
	case errors.Is(err, hooks.ErrNoDaemon):
		return errors.New("resume: pathpin up is not running")
	case err != nil:
		return fmt.Errorf("resume: %w", err)
	}
	fmt.Fprintf(env.stdout, "%s may come back into service once its probes answer (pathpin status shows it)\n", pos[0])
	return nil
}
