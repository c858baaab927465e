package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"

	"golang.org/x/sys/unix"

	"github.com/pathpin/pathpin/internal/config"
	"github.com/pathpin/pathpin/uplink"
	"github.com/vishvananda/netlink"
)

// defaultStateDir is --state-dir's default.
const defaultStateDir = "/run/pathpin"

// defaultLibDir is --lib-dir's default.
const defaultLibDir = "/var/lib/pathpin"

// engineFlags are the flags every command that touches kernel state takes.
type engineFlags struct {
	config   string
	stateDir string
	debug    bool
}

func (f *engineFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&f.config, "c", config.DefaultPath, "configuration file")
	fs.StringVar(&f.config, "config", config.DefaultPath, "configuration file")
	fs.StringVar(&f.stateDir, "state-dir", defaultStateDir, "where pathpin keeps what lives as long as its kernel state (lock, sockets, records)")
	fs.BoolVar(&f.debug, "debug", false, "verbose logging")
}

// open loads the configuration and builds the engine for this host.
func (f *engineFlags) open(env *cliEnv) (*config.Config, *uplink.Engine, error) {
	cfg, err := config.Load(f.config)
	if err != nil {
		return nil, nil, err
	}
	e, err := newEngine(f.stateDir, newLogger(env.stderr, f.debug), unix.NETLINK_ROUTE)
	if err != nil {
		return nil, nil, err
	}
	return cfg, e, nil
}

// newEngine opens the engine that changes this host's kernel state: a
// netlink handle for the given families, pathpin's nftables table, and the
// iptables variants an older pathpin's chains may be left in.
func newEngine(stateDir string, log *slog.Logger, families ...int) (*uplink.Engine, error) {
	h, err := netlink.NewHandle(families...)
	if err != nil {
		return nil, fmt.Errorf("opening netlink: %w", err)
	}
	tables, err := uplink.OpenTables()
	if err != nil {
		h.Close()
		return nil, err
	}
	return &uplink.Engine{NL: h, Tables: tables, Legacy: uplink.OpenLegacyIPTables(0), Sysctl: uplink.NewProcSys(), StateDir: stateDir, Log: log}, nil
}

// openReadOnly loads the configuration and opens netlink only: enough to
// read the kernel's view without root.
func (f *engineFlags) openReadOnly(env *cliEnv) (*config.Config, *uplink.Engine, error) {
	cfg, err := config.Load(f.config)
	if err != nil {
		return nil, nil, err
	}
	h, err := netlink.NewHandle(unix.NETLINK_ROUTE, unix.NETLINK_NETFILTER)
	if err != nil {
		if h, err = netlink.NewHandle(unix.NETLINK_ROUTE); err != nil {
			return nil, nil, fmt.Errorf("opening netlink: %w", err)
		}
	}
	return cfg, &uplink.Engine{NL: h, Log: newLogger(env.stderr, f.debug)}, nil
}

// findMarkUsers reads the other software on this host that uses packet
// marks, with sockets of its own (it only reads). iptables waits at most
// 5 s for another program's lock.
func findMarkUsers(ctx context.Context) (uplink.HostMarks, error) {
	h, err := netlink.NewHandle(unix.NETLINK_ROUTE)
	if err != nil {
		return uplink.HostMarks{}, fmt.Errorf("opening netlink: %w", err)
	}
	e := &uplink.Engine{NL: h, Legacy: uplink.OpenLegacyIPTables(5), Sysctl: uplink.NewProcSys()}
	defer e.Close()
	return e.FindMarkUsers(ctx)
}
