package main

import (
	"flag"
	"fmt"
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
	h, err := netlink.NewHandle(unix.NETLINK_ROUTE)
	if err != nil {
		return nil, nil, fmt.Errorf("opening netlink: %w", err)
	}
	backend, err := uplink.NewFirewall(cfg)
	if err != nil {
		h.Close()
		return nil, nil, err
	}
	return cfg, &uplink.Engine{NL: h, Backend: backend, Sysctl: uplink.NewProcSys(), StateDir: f.stateDir, Log: newLogger(env.stderr, f.debug)}, nil
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
