package uplink

import (
	"errors"
	"fmt"
	"io/fs"

	"golang.org/x/sys/unix"
)

// undoStack holds the inverse of each step taken, oldest first.
type undoStack []func() error

// unwind undoes every step, newest first, and says in the returned error
// what is in place now: the previous state, or, when an undo failed too,
// something to repair by hand.
func (u undoStack) unwind(cause error) error {
	var errs []error
	for i := len(u) - 1; i >= 0; i-- {
		if err := u[i](); err != nil {
			errs = append(errs, err)
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("%w; undoing the earlier steps also failed, so the kernel holds part of the change (run pathpin down, then apply): %w", cause, errors.Join(errs...))
	}
	return fmt.Errorf("%w (nothing was changed: the earlier steps were undone)", cause)
}

// change carries out c in the order that keeps traffic flowing: sysctls,
// new rules, then at once the old rules they replace (same priority: a new
// rule goes in behind the old one, so the old one must go for the new to
// take effect, before any table it pointed at changes), addresses, new
// routes, pathpin's nftables table (one transaction), then the other
// deletions. On failure it undoes what it did and returns the error; on
// success it returns the undo steps, for a failed verification. before is
// the live state c was computed against, index the links as then read.
func (e *Engine) change(c *Changes, before *State, index map[string]int) (undo undoStack, err error) {
	defer func() {
		if err != nil {
			err = undo.unwind(err)
			undo = nil
		}
	}()
	if err := e.setSysctls(c.Sysctls, &undo); err != nil {
		return undo, err
	}
	replacedRule := map[int]bool{}
	for _, r := range c.AddRules {
		nr := toNetlinkRule(r)
		if err := ignoreExists(e.NL.RuleAdd(nr)); err != nil {
			return undo, fmt.Errorf("adding rule %s: %w", r, err)
		}
		undo = append(undo, func() error { return ignoreExists(e.NL.RuleDel(nr)) })
		replacedRule[r.Priority] = true
	}
	if err := e.delRules(c.DelRules, func(r Rule) bool { return replacedRule[r.Priority] }, &undo); err != nil {
		return undo, err
	}
	// A lease's address first: its routes need it.
	for _, a := range c.AddAddrs {
		if err := e.addAddr(a, &undo); err != nil {
			return undo, err
		}
	}
	// A new route whose ID a live one has is a replacement: its undo puts
	// the live one back.
	replaced := map[routeID]Route{}
	for _, r := range before.Routes {
		replaced[r.ID()] = r
	}
	for _, r := range c.AddRoutes {
		nr, err := toNetlinkRoute(r, index)
		if err != nil {
			return undo, &UplinkError{Table: r.Table, Err: err}
		}
		if err := e.NL.RouteReplace(nr); err != nil {
			err = fmt.Errorf("adding route %s: %w", r, err)
			if refusedRoute(err) {
				err = &UplinkError{Table: r.Table, Err: err}
			}
			return undo, err
		}
		if old, ok := replaced[r.ID()]; ok {
			if onr, err := toNetlinkRoute(old, index); err == nil {
				undo = append(undo, func() error { return e.NL.RouteReplace(onr) })
				continue
			}
		}
		key := routeKeyOf(r)
		undo = append(undo, func() error { return ignoreExists(e.NL.RouteDel(key)) })
	}
	if c.NFT != nil {
		if e.Tables == nil {
			return undo, errNoBackend
		}
		// One transaction: the kernel holds the old table or the new one.
		want, taken := e.withSavedSticky(c.NFT.Want, c.NFT.Have)
		if err := e.Tables.Update(c.NFT.Have, want); err != nil {
			return undo, fmt.Errorf("applying pathpin's nftables table: %w", err)
		}
		taken()
		have := c.NFT.Have
		undo = append(undo, func() error { return e.Tables.Apply(have) })
	}
	if err := e.delRules(c.DelRules, func(r Rule) bool { return !replacedRule[r.Priority] }, &undo); err != nil {
		return undo, err
	}
	for _, r := range c.DelRoutes {
		// By the kernel's key, whatever the route's device: a foreign type
		// (blackhole, prohibit, throw) goes like any other, and one whose
		// interface has gone went with it (ESRCH).
		if err := e.NL.RouteDel(routeKeyOf(r)); err != nil {
			if ignoreExists(err) == nil {
				continue
			}
			return undo, fmt.Errorf("deleting route %s: %w", r, err)
		}
		if onr, err := toNetlinkRoute(r, index); err == nil {
			undo = append(undo, func() error { return e.NL.RouteReplace(onr) })
		}
	}
	// A stale address last, once no route of pathpin's uses it.
	for _, a := range c.DelAddrs {
		if err := e.delAddr(a, &undo); err != nil {
			return undo, err
		}
	}
	return undo, nil
}

// refusedRoute reports whether the kernel refused a route for what it
// says about the uplink (its link down or gone, a gateway it cannot
// reach, a value it will not take), rather than for want of resources or
// permission, which would refuse every uplink alike.
func refusedRoute(err error) bool {
	for _, errno := range []unix.Errno{unix.ENETUNREACH, unix.ENETDOWN, unix.ENODEV, unix.EINVAL, unix.ERANGE, unix.EHOSTUNREACH} {
		if errors.Is(err, errno) {
			return true
		}
	}
	return false
}

// delRules deletes the rules that pick selects.
func (e *Engine) delRules(rules []Rule, pick func(Rule) bool, undo *undoStack) error {
	for _, r := range rules {
		if !pick(r) {
			continue
		}
		nr := toNetlinkRule(r)
		if err := e.NL.RuleDel(nr); err != nil {
			if ignoreExists(err) == nil {
				continue
			}
			return fmt.Errorf("deleting rule %s: %w", r, err)
		}
		*undo = append(*undo, func() error { return ignoreExists(e.NL.RuleAdd(nr)) })
	}
	return nil
}

// setSysctls records each original value before its first change.
func (e *Engine) setSysctls(changes []SysctlChange, undo *undoStack) error {
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
		if err := e.settings().Set(s.Key, s.Value); err != nil {
			return err
		}
		key, old := s.Key, s.Old
		*undo = append(*undo, func() error {
			if err := e.settings().Set(key, old); err != nil && !errors.Is(err, fs.ErrNotExist) {
				return err
			}
			return nil // the device went, and its setting with it
		})
	}
	return nil
}
