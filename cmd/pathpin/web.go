package main

import (
	"context"
	"net/netip"

	"github.com/pathpin/pathpin/internal/config"
	"github.com/pathpin/pathpin/internal/daemon"
	"github.com/pathpin/pathpin/internal/history"
	"github.com/pathpin/pathpin/internal/status"
	"github.com/pathpin/pathpin/internal/web"
	"github.com/vishvananda/netlink"
)

// runWeb serves the status page, its JSON and the metrics from the status
// socket, unprivileged: it reads the configuration (for where to listen)
// and asks the daemon, nothing else.
func runWeb(ctx context.Context, env *cliEnv, args []string) error {
	var f engineFlags
	fs := newFlagSet("web", env)
	f.register(fs)
	if err := parse(fs, args); err != nil || helpRequested(args) {
		return err
	}
	cfg, err := config.Load(f.config)
	if err != nil {
		return err
	}
	listen, err := web.Addresses(cfg, interfaceAddrs)
	if err != nil {
		return err
	}
	log := newDaemonLogger(env.stderr, f.debug)
	return web.Serve(ctx, web.Options{Listen: listen, Source: socketSource{stateDir: f.stateDir}, UI: webUI(), Log: log})
}

// socketSource asks the daemon over its status socket.
type socketSource struct{ stateDir string }

func (s socketSource) Status(ctx context.Context) (*status.Report, error) {
	return daemon.QueryStatus(ctx, s.stateDir)
}

func (s socketSource) History(ctx context.Context) (*history.History, error) {
	return daemon.QueryHistory(ctx, s.stateDir)
}

// interfaceAddrs lists an interface's addresses by netlink (none when it
// is missing).
func interfaceAddrs(iface string) []netip.Addr {
	l, err := netlink.LinkByName(iface)
	if err != nil {
		return nil
	}
	as, err := netlink.AddrList(l, netlink.FAMILY_ALL)
	if err != nil {
		return nil
	}
	var out []netip.Addr
	for _, a := range as {
		if ip, ok := netip.AddrFromSlice(a.IP); ok {
			out = append(out, ip.Unmap())
		}
	}
	return out
}
