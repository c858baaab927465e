package uplink

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"slices"
	"strings"

	"github.com/pathpin/pathpin/internal/config"
	"github.com/pathpin/pathpin/internal/statedir"
)

// Engine applies pathpin's state to one network namespace. It is not safe
// for concurrent use: callers serialise Apply and Down (the daemon has one
// applier).
type Engine struct {
	NL Netlink
	// Tables is pathpin's nftables table; nil for an engine that only
	// reads uplink statuses (status without root).
	Tables NFTables
	// Legacy are the iptables variants in which down and check look for
	// the PATHPIN-* chains an older pathpin left.
	Legacy   []LegacyIPTables
	Sysctl   Sysctls
	StateDir string // where the sysctl and address records live, e.g. /run/pathpin
	Log      *slog.Logger

	// refused is what was last logged of each uplink's refused lease
	// routes, so that each refusal is logged once, not on every apply.
	refused map[string]string
}

// Input is everything besides the kernel that an apply is computed from.
type Input struct {
	Config *config.Config
	// Holds are the uplinks health checks or PPP hold out of service.
	Holds Holds
	// Leases are the DHCP uplinks' leases in force, by uplink name.
	Leases map[string]Lease
	// Cgroups are the program groups' cgroups and the commands pathpin
	// exec runs, whose connections leave by a chosen uplink.
	Cgroups Cgroups
}

// errNoBackend is what a read-only engine (status without root) answers
// when asked for anything that needs the firewall.
var errNoBackend = errors.New("this engine has no firewall: it only reads uplink statuses (run the command as root)")

// A Snapshot is the kernel read once: the facts the desired state depends
// on (links, addresses, routes) and the state pathpin owns in it. The
// plan, the diff and the verification all use snapshots, read by one
// function.
type Snapshot struct {
	Facts *Facts
	Live  *State
	// owned are the addresses the record says pathpin put on interfaces,
	// orig the settings it changed with the values it found.
	owned []LinkAddr
	orig  map[string]string
}

// A Plan is the outcome of comparing the desired state with a snapshot.
type Plan struct {
	Statuses []Status
	Desired  *State
	Live     *State
	Changes  Changes

	snap *Snapshot
	// wantSysctls are the desired settings before the snapshot narrowed
	// Desired's to those needing a change at all.
	wantSysctls []Sysctl
}

func (e *Engine) log() *slog.Logger {
	if e.Log == nil {
		return slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	return e.Log
}

func (e *Engine) record() sysctlRecord {
	return sysctlRecord{path: statedir.Dirs{State: e.StateDir}.SysctlRecord()}
}

// snapshot reads the facts the configuration depends on and the parts of
// what pathpin owns that parts names. desired, when given, is the state
// being compared: its settings are narrowed to those needing a change and
// its addresses tell which live ones to read.
func (e *Engine) snapshot(cfg *config.Config, parts liveParts, desired *State) (*Snapshot, error) {
	facts, err := readFacts(e.NL, devicesOf(cfg))
	if err != nil {
		return nil, err
	}
	s := &Snapshot{Facts: facts, Live: &State{}}
	if s.owned, err = e.addrRecord().load(); err != nil {
		return nil, err
	}
	if s.orig, err = e.record().load(); err != nil {
		return nil, err
	}
	if err := e.readLive(s, parts, tablesOf(cfg), desired); err != nil {
		return nil, err
	}
	return s, nil
}

// Plan computes what Apply would change.
func (e *Engine) Plan(_ context.Context, in Input) (*Plan, error) {
	cfg := in.Config
	snap, err := e.snapshot(cfg, liveParts{}, nil)
	if err != nil {
		return nil, err
	}
	facts := snap.Facts
	facts.Leases = leasesOf(cfg, in.Leases)
	facts.Cgroups = in.Cgroups
	expectAddresses(cfg, facts, snap.owned)
	expectMTUs(cfg, facts, snap.orig)
	statuses := Statuses(cfg, facts, in.Holds)
	desired := Desired(cfg, facts, statuses)
	wantSysctls := slices.Clone(desired.Sysctls)
	if err := e.readLive(snap, everything, tablesOf(cfg), desired); err != nil {
		return nil, err
	}
	return &Plan{Statuses: statuses, Desired: desired, Live: snap.Live, Changes: Diff(desired, snap.Live),
		snap: snap, wantSysctls: wantSysctls}, nil
}

// verify reads back what p's changes touched (routes, rules, addresses,
// the firewall, settings) and returns how the kernel still differs from
// p's desired state. A part the change did not touch is taken from the
// plan's snapshot: it was read just before and found as desired.
func (e *Engine) verify(cfg *config.Config, p *Plan) (Changes, error) {
	parts := touched(&p.Changes)
	want := *p.Desired
	if parts.sysctls {
		want.Sysctls = slices.Clone(p.wantSysctls)
	}
	after := &Snapshot{Facts: p.snap.Facts, Live: &State{}, owned: p.snap.owned, orig: p.snap.orig}
	var err error
	if parts.routes {
		// Only the routes are read again: the links and addresses are
		// those the plan read just before, and the names it keyed by.
		facts := *p.snap.Facts
		if facts.routes, err = dumpRoutes(e.NL); err != nil {
			return Changes{}, err
		}
		after.Facts = &facts
	}
	if parts.addrs {
		if after.owned, err = e.addrRecord().load(); err != nil {
			return Changes{}, err
		}
	}
	if err := e.readLive(after, parts, tablesOf(cfg), &want); err != nil {
		return Changes{}, err
	}
	after.Live.keep(p.Live, parts)
	return Diff(&want, after.Live), nil
}

func tablesOf(cfg *config.Config) []int {
	var t []int
	for _, u := range cfg.Uplinks {
		t = append(t, u.Table)
	}
	return t
}

// readLive reads into s.Live the parts of what pathpin owns that parts
// names: rules in its band, the routes of its tables (from the snapshot's
// route dump), the addresses it put on, its nftables table and the
// settings desired names. desired.Sysctls is narrowed to the settings that
// need a change at all.
func (e *Engine) readLive(s *Snapshot, parts liveParts, tables []int, desired *State) error {
	var err error
	live := s.Live
	if parts.rules {
		if live.Rules, err = readRules(e.NL); err != nil {
			return err
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
		live.Routes = routesIn(s.Facts.routes, tables, s.Facts.names)
	}
	if parts.addrs {
		var wanted []LinkAddr
		if desired != nil {
			wanted = desired.Addrs
		}
		if live.Addrs, err = readAddrs(e.NL, s.owned, wanted, s.Facts.names); err != nil {
			return err
		}
	}
	if parts.firewall {
		if e.Tables == nil {
			return errNoBackend
		}
		if live.NFT, err = e.Tables.Read(); err != nil {
			return err
		}
	}
	if parts.sysctls && desired != nil {
		if live.Sysctls, desired.Sysctls, err = readSysctls(e.settings(), desired.Sysctls, s.orig); err != nil {
			return err
		}
	}
	live.sort()
	return nil
}

// Apply makes the live state match the desired one: it adds before it
// deletes, reads back and verifies. When a step fails, or the read-back
// differs, the steps taken are undone, so the previous state stays in
// place; the error says when even the undo failed.
//
// A change the kernel refuses for one uplink's table (a route through a
// link that went down meanwhile, a lease's route it will not take) takes
// that uplink out of service with the kernel's reason, and the others are
// applied without it: one uplink never holds the rest back.
func (e *Engine) Apply(ctx context.Context, in Input) (*Plan, error) {
	holds := maps.Clone(in.Holds)
	for range len(in.Config.Uplinks) + 1 {
		in.Holds = holds
		p, err := e.apply(ctx, in)
		if err == nil {
			e.logRefused(p.Statuses)
		}
		var ue *UplinkError
		if err == nil || !errors.As(err, &ue) {
			return p, err
		}
		u, ok := uplinkOfTable(in.Config, ue.Table)
		if !ok || holds[u.Name].Cause == Refused {
			return p, err
		}
		if holds == nil {
			holds = Holds{}
		}
		holds[u.Name] = Down(Refused, "the kernel refused its routes: "+ue.Err.Error())
		e.log().Warn("the kernel refused an uplink's state; applying the others without it", "uplink", u.Name, "err", ue.Err)
	}
	return nil, errors.New("apply: every uplink was refused in turn")
}

// apply is one attempt of Apply.
func (e *Engine) apply(ctx context.Context, in Input) (*Plan, error) {
	p, err := e.Plan(ctx, in)
	if err != nil {
		return nil, err
	}
	if p.Changes.Empty() {
		return p, nil
	}
	undo, err := e.change(&p.Changes, p.Live, p.snap.Facts.index)
	if err != nil {
		return p, err
	}
	after, err := e.verify(in.Config, p)
	if err != nil {
		err = fmt.Errorf("reading back after apply: %w", err)
	} else if !after.Empty() {
		err = fmt.Errorf("verification failed: after applying, the live state still differs:\n%s", RenderChanges(&after))
	}
	if err != nil {
		return p, undo.unwind(err)
	}
	e.log().Info("applied", "routes_added", len(p.Changes.AddRoutes), "routes_deleted", len(p.Changes.DelRoutes),
		"rules_added", len(p.Changes.AddRules), "rules_deleted", len(p.Changes.DelRules), "nftables_table", p.Changes.NFT != nil)
	return p, nil
}

// logRefused logs each uplink's refused lease routes when they change.
func (e *Engine) logRefused(statuses []Status) {
	if e.refused == nil {
		e.refused = map[string]string{}
	}
	for _, st := range statuses {
		now := strings.Join(st.Refused, "\n")
		if e.refused[st.Name] == now {
			continue
		}
		e.refused[st.Name] = now
		for _, why := range st.Refused {
			e.log().Warn(why, "uplink", st.Name)
		}
	}
}

// uplinkOfTable is the uplink whose routing table t is.
func uplinkOfTable(cfg *config.Config, t int) (*config.Uplink, bool) {
	for i := range cfg.Uplinks {
		if cfg.Uplinks[i].Table == t {
			return &cfg.Uplinks[i], true
		}
	}
	return nil, false
}

// Down removes everything pathpin installed and puts back the sysctls it
// changed. A setting whose device has gone since (a USB NIC unplugged, a
// PPP link closed) went with its device: there is nothing to put back.
func (e *Engine) Down(_ context.Context, cfg *config.Config) (*Plan, error) {
	snap, err := e.snapshot(cfg, everything, nil)
	if err != nil {
		return nil, err
	}
	live := snap.Live
	p := &Plan{Desired: &State{}, Live: live, snap: snap}
	p.Changes = Diff(p.Desired, live)
	for key, old := range snap.orig {
		now, err := e.settings().Get(key)
		if err != nil {
			return p, err
		}
		if now != old && old != "" && now != "" {
			p.Changes.Sysctls = append(p.Changes.Sysctls, SysctlChange{Sysctl: Sysctl{Key: key, Value: old, Why: "restore the value found before pathpin"}, Old: now})
		}
	}
	slices.SortFunc(p.Changes.Sysctls, func(a, b SysctlChange) int { return strings.Compare(a.Key, b.Key) })
	if err := e.saveSticky(live.NFT); err != nil {
		e.log().Warn("the sticky policies' sources cannot be kept while pathpin is stopped; they start afresh", "err", err)
	}
	if _, err := e.change(&p.Changes, p.Live, snap.Facts.index); err != nil {
		return p, err
	}
	if err := e.record().remove(); err != nil {
		return p, err
	}
	if found, err := removeLegacyChains(e.Legacy); err != nil {
		return p, err
	} else if len(found) > 0 {
		e.log().Info("removed the iptables chains an older pathpin left", "chains", fmt.Sprint(found))
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
	if e.Tables != nil {
		_ = e.Tables.Close()
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
