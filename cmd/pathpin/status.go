package main

import (
	"context"
	"fmt"
	"time"

	"github.com/pathpin/pathpin/internal/daemon"
	"github.com/pathpin/pathpin/internal/status"
)

func runStatus(ctx context.Context, env *cliEnv, args []string) error {
	var f engineFlags
	fs := newFlagSet("status", env)
	f.register(fs)
	asJSON := fs.Bool("json", false, "print stable JSON")
	public := fs.String("public-address", "", "print only this uplink's public address (as found through it), e.g. for ddclient's cmdv4")
	if err := parse(fs, args); err != nil || helpRequested(args) {
		return err
	}
	r, err := daemon.QueryStatus(ctx, f.stateDir)
	if *public != "" {
		if err != nil {
			return fmt.Errorf("status --public-address: pathpin up is not answering: %w", err)
		}
		for _, u := range r.Uplinks {
			if u.Name == *public && u.PublicAddress != "" {
				fmt.Fprintln(env.stdout, u.PublicAddress)
				return nil
			}
			if u.Name == *public {
				return fmt.Errorf("status --public-address: %s's public address is not known yet (set public-address: in the configuration; it is found once the uplink is in service)", *public)
			}
		}
		return fmt.Errorf("status --public-address: no uplink %q", *public)
	}
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
