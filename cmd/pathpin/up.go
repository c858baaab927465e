package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"os/user"
	"path/filepath"
	"strconv"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/pathpin/pathpin/hooks"
	"github.com/pathpin/pathpin/internal/config"
	"github.com/pathpin/pathpin/internal/daemon"
	"github.com/pathpin/pathpin/uplink"
)

func runUp(ctx context.Context, env *cliEnv, args []string) error {
	var f engineFlags
	fs := newFlagSet("up", env)
	f.register(fs)
	libDir := fs.String("lib-dir", defaultLibDir, "where DHCP leases and PPPoE sessions are kept across reboots")
	pppDir := fs.String("ppp-dir", hooks.DefaultPPPDir, "where the host's ip-up and ip-down scripts are, run after pathpin's own work (run-ppp-scripts)")
	pppdPath := fs.String("pppd", "/usr/sbin/pppd", "pppd to run")
	initial := fs.Duration("discovery-initial-timeout", 0, "wait after the first PADI; doubles on each retry (default 500ms)")
	statusGroup := fs.String("status-group", "", "group allowed to read the status socket (pathpin status without root)")
	historyStep := fs.Duration("history-step", time.Minute, "the length of a history point (a day of them is kept)")
	if err := parse(fs, args); err != nil || helpRequested(args) {
		return err
	}
	exe, err := os.Executable()
	if err != nil {
		return fmt.Errorf("finding pathpin's own binary: %w", err)
	}
	if exe, err = filepath.EvalSymlinks(exe); err != nil {
		return fmt.Errorf("finding pathpin's own binary: %w", err)
	}
	gid := -1
	if *statusGroup != "" {
		g, err := user.LookupGroup(*statusGroup)
		if err != nil {
			return fmt.Errorf("--status-group: %w", err)
		}
		gid, _ = strconv.Atoi(g.Gid)
	}
	if cfg, err := config.Load(f.config); err == nil && hasPPPoE(cfg) {
		if _, err := exec.LookPath(*pppdPath); err != nil {
			return fmt.Errorf("pppd not found at %s (Debian: apt-get install ppp): %w", *pppdPath, err)
		}
	}
	reload := make(chan struct{}, 1)
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	go func() {
		for range hup {
			select {
			case reload <- struct{}{}:
			default:
			}
		}
	}()
	log := newDaemonLogger(env.stderr, f.debug)
	return daemon.Run(ctx, daemon.Options{
		ConfigPath: f.config, StateDir: f.stateDir, LibDir: *libDir, PPPDir: *pppDir, Exe: exe, PPPD: *pppdPath,
		Log: log, Notify: daemon.Systemd{}, DiscoveryInitialTimeout: *initial, StatusGID: gid, HistoryStep: *historyStep,
		MarkUsers: func(ctx context.Context, cfg *config.Config) ([]uplink.Finding, error) {
			marks, err := findMarkUsers(ctx)
			return uplink.MarkFindings(cfg, marks), err
		},
		NewEngine: func(*config.Config) (*uplink.Engine, error) {
			// Routes and rules, and conntrack (netfilter) for failover.
			return newEngine(f.stateDir, log, unix.NETLINK_ROUTE, unix.NETLINK_NETFILTER)
		},
	}, reload)
}

func hasPPPoE(cfg *config.Config) bool {
	for _, u := range cfg.Uplinks {
		if u.IsPPPoE() {
			return true
		}
	}
	return false
}
