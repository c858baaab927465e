package main

import (
	"context"
	"time"

	"github.com/pathpin/pathpin/internal/daemon"
	"github.com/pathpin/pathpin/internal/status"
)

func runStatus(ctx context.Context, env *cliEnv, args []string) error {
	var f engineFlags
	fs := newFlagSet("status", env)
	f.register(fs)
	asJSON := fs.Bool("json", false, "print stable JSON")
	if err := parse(fs, args); err != nil || helpRequested(args) {
		return err
	}
	r, err := daemon.QueryStatus(ctx, f.stateDir)
	if err != nil {
		// No daemon (or no access to its socket): what the kernel shows.
		r, err = kernelStatus(ctx, env, &f)
		if err != nil {
			return err
		}
	}
	if *asJSON {
		return r.WriteJSON(env.stdout)
	}
	return r.WriteTable(env.stdout, time.Now())
}

func kernelStatus(ctx context.Context, env *cliEnv, f *engineFlags) (*status.Report, error) {
	cfg, e, err := f.openReadOnly(env)
	if err != nil {
		return nil, err
	}
	defer e.Close()
	return daemon.KernelReport(ctx, cfg, e)
}
