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
)

// Engine applies pathpin's state to one network namespace. It is not safe
// for concurrent use: callers serialise Apply and Down (the daemon has one
// applier).
type Engine struct {
	NL       Netlink
	Backend  *Backend
	Sysctl   Sysctls
	StateDir string // where the sysctl record lives, e.g. /run/pathpin
	Log      *slog.Logger
	// CacheReads lets a long-lived engine (the daemon) skip iptables-save
	// when the backend's netlink fingerprint of pathpin's chains matches
	// one it has seen with iptables-save: the kernel then holds exactly
	// what that read showed. Reads stay reads; only the exec is saved.
	CacheReads bool
	cache      chainCache
}

// A Plan is the outcome of comparing the desired state with the live one.
type Plan struct {
	Statuses []Status
	Desired  *State
	Live     *State
	Changes  Changes

	index map[string]int // link indexes as the plan read them
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

// Plan computes what Apply would change. down names uplinks declared down
// by health checks or PPP hooks, with the reason.
func (e *Engine) Plan(ctx context.Context, cfg *config.Config, down map[string]string) (*Plan, error) {
	facts, err := readFacts(e.NL, devicesOf(cfg))
	if err != nil {
		return nil, err
	}
	statuses := Statuses(cfg, facts, down)
	desired := Desired(cfg, facts, statuses)
	live, err := e.readLive(ctx, tablesOf(cfg), facts.names, desired)
	if err != nil {
		return nil, err
	}
	return &Plan{Statuses: statuses, Desired: desired, Live: live, Changes: Diff(desired, live), index: facts.index}, nil
}

func tablesOf(cfg *config.Config) []int {
	var t []int
	for _, u := range cfg.Uplinks {
		t = append(t, u.Table)
	}
	return t
}

// readLive reads everything pathpin owns. desired.Sysctls is narrowed to
// the settings that need a change at all.
func (e *Engine) readLive(ctx context.Context, tables []int, names map[int]string, desired *State) (*State, error) {
	var err error
	live := &State{}
	if live.Rules, err = readRules(e.NL); err != nil {
		return nil, err
	}
	// Tables named by pathpin's rules are pathpin's too (a config that
	// dropped an uplink leaves them behind).
	for _, r := range live.Rules {
		if !slices.Contains(tables, r.Table) {
			tables = append(tables, r.Table)
		}
	}
	if live.Routes, err = readRoutes(e.NL, tables, names); err != nil {
		return nil, err
	}
	if live.Chains, live.Jumps, err = e.readChains(ctx); err != nil {
		return nil, err
	}
	if desired != nil {
		if live.Sysctls, desired.Sysctls, err = readSysctls(e.Sysctl, desired.Sysctls); err != nil {
			return nil, err
		}
	}
	live.sort()
	return live, nil
}

// Apply makes the live state match the desired one: it adds before it
// deletes, reads back and verifies. When a step fails, the steps already
// taken are undone, so the previous working state stays in place.
func (e *Engine) Apply(ctx context.Context, cfg *config.Config, down map[string]string) (*Plan, error) {
	p, err := e.Plan(ctx, cfg, down)
	if err != nil {
		return nil, err
	}
	if p.Changes.Empty() {
		return p, nil
	}
	if err := e.change(ctx, &p.Changes, p.Live, p.index); err != nil {
		return p, err
	}
	after, err := e.Plan(ctx, cfg, down)
	if err != nil {
		return p, fmt.Errorf("reading back after apply: %w", err)
	}
	if !after.Changes.Empty() {
		return p, fmt.Errorf("verification failed: after applying, the live state still differs:\n%s", RenderChanges(&after.Changes))
	}
	e.log().Info("applied", "routes_added", len(p.Changes.AddRoutes), "routes_deleted", len(p.Changes.DelRoutes),
		"rules_added", len(p.Changes.AddRules), "rules_deleted", len(p.Changes.DelRules), "chains_changed", len(p.Changes.Chains))
	return p, nil
}

// Down removes everything pathpin installed and puts back the sysctls it
// changed.
func (e *Engine) Down(ctx context.Context, cfg *config.Config) (*Plan, error) {
	index, names, err := linkIndexes(e.NL)
	if err != nil {
		return nil, err
	}
	live, err := e.readLive(ctx, tablesOf(cfg), names, nil)
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
		now, err := e.Sysctl.Get(key)
		if err != nil {
			return p, err
		}
		if now != old && old != "" {
			p.Changes.Sysctls = append(p.Changes.Sysctls, SysctlChange{Sysctl: Sysctl{Key: key, Value: old, Why: "restore the value found before pathpin"}, Old: now})
		}
	}
	slices.SortFunc(p.Changes.Sysctls, func(a, b SysctlChange) int { return strings.Compare(a.Key, b.Key) })
	if err := e.change(ctx, &p.Changes, p.Live, p.index); err != nil {
		return p, err
	}
	if err := rec.remove(); err != nil {
		return p, err
	}
	return p, nil
}

// change carries out c in the order that keeps traffic flowing: sysctls,
// new routes, new rules, iptables (one restore, atomic per table), then
// the deletions. On failure it undoes what it did, newest first; before is
// the live state c was computed against, index the links as then read.
func (e *Engine) change(ctx context.Context, c *Changes, before *State, index map[string]int) (err error) {
	var undo []func() error
	defer func() {
		if err == nil {
			return
		}
		var errs []error
		for i := len(undo) - 1; i >= 0; i-- {
			if uerr := undo[i](); uerr != nil {
				errs = append(errs, uerr)
			}
		}
		if len(errs) > 0 {
			err = fmt.Errorf("%w; undoing the earlier steps also failed (run pathpin down, then apply): %w", err, errors.Join(errs...))
		} else {
			err = fmt.Errorf("%w (nothing was changed: the earlier steps were undone)", err)
		}
	}()

	if err := e.setSysctls(c.Sysctls, &undo); err != nil {
		return err
	}
	for _, r := range c.AddRoutes {
		nr, err := toNetlinkRoute(r, index)
		if err != nil {
			return err
		}
		if err := e.NL.RouteReplace(nr); err != nil {
			return fmt.Errorf("adding route %s: %w", r, err)
		}
		undo = append(undo, func() error { return ignoreExists(e.NL.RouteDel(nr)) })
	}
	for _, r := range c.AddRules {
		nr := toNetlinkRule(r)
		if err := ignoreExists(e.NL.RuleAdd(nr)); err != nil {
			return fmt.Errorf("adding rule %s: %w", r, err)
		}
		undo = append(undo, func() error { return ignoreExists(e.NL.RuleDel(nr)) })
	}
	if batch := iptablesBatch(c); batch != nil {
		err := e.Backend.Rules.Restore(ctx, batch)
		// Even a failed restore may have committed its first table: undo
		// puts back, from a fresh read, whatever differs from before.
		undo = append(undo, func() error { return e.restoreChains(ctx, before) })
		if err != nil {
			return fmt.Errorf("applying the iptables rules: %w", err)
		}
	}
	for _, r := range c.DelRules {
		nr := toNetlinkRule(r)
		if err := ignoreExists(e.NL.RuleDel(nr)); err != nil {
			return fmt.Errorf("deleting rule %s: %w", r, err)
		}
		undo = append(undo, func() error { return ignoreExists(e.NL.RuleAdd(nr)) })
	}
	for _, r := range c.DelRoutes {
		nr, err := toNetlinkRoute(r, index)
		if err != nil {
			// Its interface is gone, and the kernel removed the route with it.
			continue
		}
		if err := ignoreExists(e.NL.RouteDel(nr)); err != nil {
			return fmt.Errorf("deleting route %s: %w", r, err)
		}
		undo = append(undo, func() error { return e.NL.RouteReplace(nr) })
	}
	return nil
}

// setSysctls records each original value before its first change.
func (e *Engine) setSysctls(changes []SysctlChange, undo *[]func() error) error {
	if len(changes) == 0 {
		return nil
	}
	rec := e.record()
	orig, err := rec.load()
	if err != nil {
		return err
	}
	dirty := false
	for _, s := range changes {
		if _, seen := orig[s.Key]; !seen && s.Old != "" {
			orig[s.Key] = s.Old
			dirty = true
		}
	}
	if dirty {
		if err := rec.save(orig); err != nil {
			return err
		}
	}
	for _, s := range changes {
		if err := e.Sysctl.Set(s.Key, s.Value); err != nil {
			return err
		}
		old := s.Old
		key := s.Key
		*undo = append(*undo, func() error { return e.Sysctl.Set(key, old) })
	}
	return nil
}

// restoreChains makes pathpin's chains and jumps what they were in before.
func (e *Engine) restoreChains(ctx context.Context, before *State) error {
	save, err := e.Backend.Rules.Save(ctx)
	if err != nil {
		return err
	}
	now := &State{}
	now.Chains, now.Jumps = parseChains(save)
	c := Diff(before, now)
	if batch := iptablesBatch(&c); batch != nil {
		return e.Backend.Rules.Restore(ctx, batch)
	}
	return nil
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

// readChains reads pathpin's chains and jumps: from the cache when the
// fingerprint matches an earlier iptables-save, else with iptables-save
// (remembered if the fingerprint held still during the read).
func (e *Engine) readChains(ctx context.Context) ([]Chain, []Jump, error) {
	fp := e.Backend.Fingerprint
	var before string
	if e.CacheReads && fp != nil {
		if d, err := fp.Fingerprint(); err == nil {
			if v, ok := e.cache.get(d); ok {
				return slices.Clone(v.chains), slices.Clone(v.jumps), nil
			}
			before = d
		}
	}
	save, err := e.Backend.Rules.Save(ctx)
	if err != nil {
		return nil, nil, fmt.Errorf("reading iptables: %w", err)
	}
	chains, jumps := parseChains(save)
	if before != "" {
		if after, err := fp.Fingerprint(); err == nil && after == before {
			e.cache.put(after, cachedChains{chains: chains, jumps: jumps})
		}
	}
	return chains, jumps, nil
}
