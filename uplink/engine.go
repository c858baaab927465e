package uplink

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"slices"
	"strings"

	"github.com/pathpin/pathpin/internal/config"
	"github.com/vishvananda/netlink"
)

// Engine applies pathpin's state to one network namespace. It is not safe
// for concurrent use: callers serialise Apply and Down (the daemon has one
// applier).
type Engine struct {
	NL       Netlink
	Backend  *Backend
	Sysctl   Sysctls
	StateDir string // where the sysctl and address records live, e.g. /run/pathpin
	Log      *slog.Logger
	// Leases are the DHCP uplinks' leases; nil: none is in force.
	Leases Leases
}

// errNoBackend is what a read-only engine (status without root) answers
// when asked for anything that needs the firewall.
var errNoBackend = errors.New("this engine has no firewall backend: it only reads uplink statuses (run the command as root)")

// A Plan is the outcome of comparing the desired state with the live one.
type Plan struct {
	Statuses []Status
	Desired  *State
	Live     *State
	Changes  Changes

	index map[string]int // link indexes as the plan read them
	names map[int]string // and names by index
	// sysctls are the desired settings before readLive narrowed them to
	// those needing a change.
	sysctls []Sysctl
	// orig is the settings record as the plan read it: the values pathpin
	// found before it changed them.
	orig map[string]string
}

func (e *Engine) log() *slog.Logger {
	if e.Log == nil {
		return slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	return e.Log
}

func (e *Engine) record() sysctlRecord {
	return sysctlRecord{path: filepath.Join(e.StateDir, "sysctl.json")}
}

// Plan computes what Apply would change. held names the uplinks health
// checks or PPP hold out of service, with the reason.
func (e *Engine) Plan(ctx context.Context, cfg *config.Config, held Holds) (*Plan, error) {
	facts, err := readFacts(e.NL, devicesOf(cfg))
	if err != nil {
		return nil, err
	}
	owned, err := e.addrRecord().load()
	if err != nil {
		return nil, err
	}
	orig, err := e.record().load()
	if err != nil {
		return nil, err
	}
	facts.Leases = e.leasesOf(cfg)
	expectAddresses(cfg, facts, owned)
	expectMTUs(cfg, facts, orig)
	statuses := Statuses(cfg, facts, held)
	desired := Desired(cfg, facts, statuses)
	if e.Backend != nil && e.Backend.Tables != nil {
		desired.NFT = nftDesired(cfg, facts, statuses)
		desired.Chains, desired.Jumps = nil, nil
	}
	sysctls := slices.Clone(desired.Sysctls)
	live, err := e.readLive(ctx, everything, tablesOf(cfg), facts.names, facts.routes, owned, orig, desired)
	if err != nil {
		return nil, err
	}
	return &Plan{Statuses: statuses, Desired: desired, Live: live, Changes: Diff(desired, live),
		index: facts.index, names: facts.names, sysctls: sysctls, orig: orig}, nil
}

// verify reads back what p's changes touched (routes, rules, addresses,
// the firewall, settings) and returns how the kernel still differs from
// p's desired state. A part the change did not touch is not read again:
// the plan read it just before and found it as desired. Links are not
// read again either: the desired state is the one the change was made for.
func (e *Engine) verify(ctx context.Context, cfg *config.Config, p *Plan) (Changes, error) {
	parts := touched(&p.Changes)
	var (
		routes []netlink.Route
		owned  []LinkAddr
		err    error
	)
	if parts.routes {
		if routes, err = dumpRoutes(e.NL); err != nil {
			return Changes{}, err
		}
	}
	if parts.addrs {
		if owned, err = e.addrRecord().load(); err != nil {
			return Changes{}, err
		}
	}
	want := *p.Desired
	if parts.sysctls {
		want.Sysctls = slices.Clone(p.sysctls)
	}
	live, err := e.readLive(ctx, parts, tablesOf(cfg), p.names, routes, owned, p.orig, &want)
	if err != nil {
		return Changes{}, err
	}
	live.keep(p.Live, parts)
	return Diff(&want, live), nil
}

func tablesOf(cfg *config.Config) []int {
	var t []int
	for _, u := range cfg.Uplinks {
		t = append(t, u.Table)
	}
	return t
}

// readLive reads the parts of what pathpin owns; routes are every
// table's, read with names, owned the addresses the record says are
// pathpin's and orig the settings it changed, with the values it found.
// desired.Sysctls is narrowed to the settings that need a change at all.
func (e *Engine) readLive(ctx context.Context, parts liveParts, tables []int, names map[int]string, routes []netlink.Route, owned []LinkAddr, orig map[string]string, desired *State) (*State, error) {
	var err error
	live := &State{}
	if parts.rules {
		if live.Rules, err = readRules(e.NL); err != nil {
			return nil, err
		}
		// Tables named by pathpin's rules are pathpin's too (a config
		// that dropped an uplink leaves them behind).
		for _, r := range live.Rules {
			if !kernelTable(r.Table) && !slices.Contains(tables, r.Table) {
				tables = append(tables, r.Table)
			}
		}
	}
	if parts.routes {
		live.Routes = routesIn(routes, tables, names)
	}
	if parts.addrs {
		var wanted []LinkAddr
		if desired != nil {
			wanted = desired.Addrs
		}
		if live.Addrs, err = readAddrs(e.NL, owned, wanted, names); err != nil {
			return nil, err
		}
	}
	if parts.firewall {
		if e.Backend != nil && e.Backend.Tables != nil {
			if live.NFT, err = e.Backend.Tables.Read(); err != nil {
				return nil, err
			}
		} else if live.Chains, live.Jumps, err = e.readChains(ctx); err != nil {
			return nil, err
		}
	}
	if parts.sysctls && desired != nil {
		if live.Sysctls, desired.Sysctls, err = readSysctls(e.settings(), desired.Sysctls, orig); err != nil {
			return nil, err
		}
	}
	live.sort()
	return live, nil
}

// Apply makes the live state match the desired one: it adds before it
// deletes, reads back and verifies. When a step fails, or the read-back
// differs, the steps taken are undone, so the previous state stays in
// place; the error says when even the undo failed.
func (e *Engine) Apply(ctx context.Context, cfg *config.Config, held Holds) (*Plan, error) {
	p, err := e.Plan(ctx, cfg, held)
	if err != nil {
		return nil, err
	}
	if p.Changes.Empty() {
		return p, nil
	}
	undo, err := e.change(ctx, &p.Changes, p.Live, p.index)
	if err != nil {
		return p, err
	}
	after, err := e.verify(ctx, cfg, p)
	if err != nil {
		err = fmt.Errorf("reading back after apply: %w", err)
	} else if !after.Empty() {
		err = fmt.Errorf("verification failed: after applying, the live state still differs:\n%s", RenderChanges(&after))
	}
	if err != nil {
		return p, undo.unwind(err)
	}
	e.log().Info("applied", "routes_added", len(p.Changes.AddRoutes), "routes_deleted", len(p.Changes.DelRoutes),
		"rules_added", len(p.Changes.AddRules), "rules_deleted", len(p.Changes.DelRules), "chains_changed", len(p.Changes.Chains), "nftables_table", p.Changes.NFT != nil)
	return p, nil
}

// Down removes everything pathpin installed and puts back the sysctls it
// changed. A setting whose device has gone since (a USB NIC unplugged, a
// PPP link closed) went with its device: there is nothing to put back.
func (e *Engine) Down(ctx context.Context, cfg *config.Config) (*Plan, error) {
	index, names, err := linkIndexes(e.NL)
	if err != nil {
		return nil, err
	}
	routes, err := dumpRoutes(e.NL)
	if err != nil {
		return nil, err
	}
	owned, err := e.addrRecord().load()
	if err != nil {
		return nil, err
	}
	live, err := e.readLive(ctx, everything, tablesOf(cfg), names, routes, owned, nil, nil)
	if err != nil {
		return nil, err
	}
	rec := e.record()
	orig, err := rec.load()
	if err != nil {
		return nil, err
	}
	p := &Plan{Desired: &State{}, Live: live, index: index}
	p.Changes = Diff(p.Desired, live)
	for key, old := range orig {
		now, err := e.settings().Get(key)
		if err != nil {
			return p, err
		}
		if now != old && old != "" && now != "" {
			p.Changes.Sysctls = append(p.Changes.Sysctls, SysctlChange{Sysctl: Sysctl{Key: key, Value: old, Why: "restore the value found before pathpin"}, Old: now})
		}
	}
	slices.SortFunc(p.Changes.Sysctls, func(a, b SysctlChange) int { return strings.Compare(a.Key, b.Key) })
	if _, err := e.change(ctx, &p.Changes, p.Live, p.index); err != nil {
		return p, err
	}
	if err := rec.remove(); err != nil {
		return p, err
	}
	return p, nil
}

// Close releases the engine's sockets (netlink, nftables) and open files.
func (e *Engine) Close() {
	if c, ok := e.NL.(interface{ Close() }); ok {
		c.Close()
	}
	if c, ok := e.Sysctl.(interface{ Close() }); ok {
		c.Close()
	}
	if e.Backend != nil {
		if e.Backend.Tables != nil {
			_ = e.Backend.Tables.Close()
		}
	}
}

// Statuses reads only what decides each uplink's status (links, addresses,
// routes); it needs no privilege and does not touch iptables.
func (e *Engine) Statuses(_ context.Context, cfg *config.Config) ([]Status, error) {
	facts, err := readFacts(e.NL, devicesOf(cfg))
	if err != nil {
		return nil, err
	}
	return Statuses(cfg, facts, nil), nil
}

func devicesOf(cfg *config.Config) map[string]bool {
	devices := map[string]bool{}
	for _, l := range cfg.LAN.Interfaces {
		devices[l] = true
	}
	for _, u := range cfg.Uplinks {
		devices[u.DeviceName()] = true
	}
	return devices
}

// readChains reads pathpin's chains and jumps with one iptables-save.
func (e *Engine) readChains(ctx context.Context) ([]Chain, []Jump, error) {
	if e.Backend == nil {
		return nil, nil, errNoBackend
	}
	save, err := e.Backend.Rules.Save(ctx)
	if err != nil {
		return nil, nil, fmt.Errorf("reading iptables: %w", err)
	}
	chains, jumps := parseChains(save)
	return chains, jumps, nil
}
