package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/pathpin/pathpin/hooks"
	"github.com/pathpin/pathpin/internal/config"
	"github.com/pathpin/pathpin/internal/statedir"
	"github.com/pathpin/pathpin/uplink"
)

// hookKind returns ip-up or ip-down when pathpin runs under that name, as
// pppd runs it through the links `pathpin up` makes.
func hookKind(argv0 string) (hooks.Kind, bool) {
	switch k := hooks.Kind(filepath.Base(argv0)); k {
	case hooks.IPUp, hooks.IPDown:
		return k, true
	}
	return "", false
}

// runHook is `pathpin hook ip-up|ip-down ARGS...`, and what pppd's ip-up
// and ip-down scripts run.
func runHook(ctx context.Context, env *cliEnv, args []string) error {
	if len(args) == 0 {
		return &exitError{code: 2, msg: "hook: usage: pathpin hook ip-up|ip-down IFNAME DEVICE SPEED LOCAL REMOTE IPPARAM"}
	}
	return hook(ctx, env, hooks.Kind(args[0]), args[1:], "")
}

// hook hands pppd's event to the daemon, or applies it itself when no
// daemon runs. argv0 locates the daemon when pppd runs pathpin through
// the links in STATE_DIR/hooks.
func hook(ctx context.Context, env *cliEnv, kind hooks.Kind, args []string, argv0 string) error {
	// At info level, as the daemon logs: what a hook did without a daemon
	// (and the host's ppp scripts' output) is its only record.
	log := newDaemonLogger(env.stderr, false)
	e, err := hooks.Parse(kind, args, os.Getenv)
	if err != nil {
		return err
	}
	// pppd's own environment, for the host's ip-up/ip-down run afterwards.
	e.Env = os.Environ()
	stateDir := os.Getenv("PATHPIN_STATE_DIR")
	if stateDir == "" && argv0 != "" {
		stateDir = filepath.Dir(filepath.Dir(argv0))
	}
	if stateDir == "" {
		stateDir = defaultStateDir
	}
	cfgPath := os.Getenv("PATHPIN_CONFIG")
	if cfgPath == "" {
		cfgPath = config.DefaultPath
	}
	sendCtx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	err = hooks.Send(sendCtx, statedir.Dirs{State: stateDir}.HookSocket(), e)
	if !errors.Is(err, hooks.ErrNoDaemon) {
		return err
	}
	// No daemon: pathpin as a plain ppp hook applies the change itself,
	// under the same lock as apply and down.
	f := engineFlags{config: cfgPath, stateDir: stateDir}
	cfg, engine, err := f.open(env)
	if err != nil {
		return err
	}
	defer engine.Close()
	if err := e.Validate(cfg); err != nil {
		return err
	}
	l, err := lockState(ctx, stateDir)
	if err != nil {
		return fmt.Errorf("hook %s for %s: %w", kind, e.Uplink, err)
	}
	defer l.Release()
	held := uplink.Holds{}
	if kind == hooks.IPDown {
		held[e.Uplink] = uplink.Down(uplink.PPPDown, "pppd ip-down")
	}
	if _, err := engine.Apply(context.Background(), uplink.Input{Config: cfg, Holds: held}); err != nil {
		return fmt.Errorf("hook %s for %s: %w", kind, e.Uplink, err)
	}
	log.Info("applied without a daemon", "event", kind, "uplink", e.Uplink)
	if cfg.RunPPPScripts {
		dir := os.Getenv("PATHPIN_PPP_DIR")
		if dir == "" {
			dir = hooks.DefaultPPPDir
		}
		if err := hooks.RunPPPScript(ctx, dir, e, log); err != nil {
			log.Warn("the host's ppp script failed; pathpin's own work for the event is done", "err", err)
		}
	}
	return nil
}
