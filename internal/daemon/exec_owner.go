package daemon

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/pathpin/pathpin/hooks"
	"github.com/pathpin/pathpin/internal/cgroup"
	"github.com/pathpin/pathpin/internal/config"
	"github.com/pathpin/pathpin/uplink"
)

// maxExecs bounds the commands pathpin exec steers at once: each is a
// rule in the table.
const maxExecs = 256

// execOwner keeps the commands pathpin exec runs, by cgroup, and finds
// the programs' groups; the applier alone calls it.
type execOwner struct {
	log    *slog.Logger
	layout cgroup.Layout
	// err: no cgroup v2 hierarchy; pathpin exec and program policies
	// cannot work.
	err   error
	execs map[string]uplink.Exec
}

func newExecOwner(log *slog.Logger) *execOwner {
	l, err := cgroup.Detect()
	return &execOwner{log: log, layout: l, err: err, execs: map[string]uplink.Exec{}}
}

func (d *Daemon) currentConfig() *config.Config {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.cfg
}

// take records pathpin exec's request e; it reports whether the table
// must change.
func (o *execOwner) take(cfg *config.Config, e *hooks.Event) bool {
	if o.err != nil || e.Cgroup == "" || strings.Contains(e.Cgroup, "..") {
		return false
	}
	if e.Kind == hooks.ExecDone {
		_, had := o.execs[e.Cgroup]
		delete(o.execs, e.Cgroup)
		o.removeOwn(e.Cgroup)
		return had || e.Program != ""
	}
	if e.Program != "" {
		// A program's group: the policies find it at the apply.
		return true
	}
	if _, ok := cfg.Uplink(e.Uplink); !ok || len(o.execs) >= maxExecs {
		return false
	}
	g, err := cgroup.Stat(o.layout.Root, e.Cgroup)
	if err != nil {
		return false
	}
	o.execs[e.Cgroup] = uplink.Exec{Cgroup: uplink.Cgroup(g), Uplink: e.Uplink, Fallback: e.Fallback}
	return true
}

// removeOwn removes an exec group pathpin made itself (without systemd)
// once it is empty; systemd removes its scopes.
func (o *execOwner) removeOwn(path string) {
	if o.layout.Systemd || !strings.HasPrefix(path, "pathpin/") || !cgroup.Empty(o.layout.Root, path) {
		return
	}
	if err := cgroup.Remove(o.layout.Root, path); err != nil {
		o.log.Debug("an empty exec cgroup stays", "cgroup", path, "err", err)
	}
}

// cgroups are the groups the table steers now: the running execs (those
// whose group is gone or empty are forgotten) and the programs' groups
// that exist.
func (o *execOwner) cgroups(cfg *config.Config) uplink.Cgroups {
	var c uplink.Cgroups
	if o.err != nil {
		return c
	}
	for path, x := range o.execs {
		if g, err := cgroup.Stat(o.layout.Root, path); err != nil || g.ID != x.Cgroup.ID || cgroup.Empty(o.layout.Root, path) {
			delete(o.execs, path)
			o.removeOwn(path)
			continue
		}
		c.Execs = append(c.Execs, x)
	}
	slices.SortFunc(c.Execs, func(a, b uplink.Exec) int { return strings.Compare(a.Cgroup.Path, b.Cgroup.Path) })
	for _, p := range cfg.Programs {
		if g, err := cgroup.Stat(o.layout.Root, o.layout.Program(p.Name)); err == nil {
			if c.Programs == nil {
				c.Programs = map[string]uplink.Cgroup{}
			}
			c.Programs[p.Name] = uplink.Cgroup(g)
		}
	}
	return c
}

// execAnswer is what pathpin exec is told once the apply is in: an
// error when its command's connections cannot leave as asked.
func (d *Daemon) execAnswer(e *hooks.Event) error {
	o := d.execs
	if e.Kind == hooks.ExecDone {
		return nil
	}
	if o.err != nil {
		return fmt.Errorf("pathpin exec needs cgroup v2: %w", o.err)
	}
	cfg := d.currentConfig()
	if e.Program != "" {
		if !slices.ContainsFunc(cfg.Programs, func(p config.Program) bool { return p.Name == e.Program }) {
			return fmt.Errorf("%q is no entry of programs: in %s; add it and reload pathpin", e.Program, cfg.Path)
		}
		return nil
	}
	if _, ok := cfg.Uplink(e.Uplink); !ok {
		return fmt.Errorf("%q names no uplink of %s", e.Uplink, cfg.Path)
	}
	if _, ok := o.execs[e.Cgroup]; !ok {
		if len(o.execs) >= maxExecs {
			return fmt.Errorf("pathpin already steers %d commands; wait for one to end", maxExecs)
		}
		return errors.New("the command's cgroup " + e.Cgroup + " is not there (did it end already?)")
	}
	st, ok := d.statusOf(e.Uplink)
	if !ok || !st.Up() {
		reason := "it is not up"
		if ok {
			reason = st.Reason.String()
		}
		if e.Fallback {
			d.log.Info("pathpin exec: the uplink is out of service; the command's connections are balanced meanwhile", "uplink", e.Uplink, "reason", reason)
			return nil
		}
		delete(o.execs, e.Cgroup)
		return fmt.Errorf("%s is out of service (%s), and the command would leave by no other line; try later, or run pathpin exec --fallback to let another uplink carry it meanwhile", e.Uplink, reason)
	}
	return nil
}

// close removes pathpin's own groups (without systemd) that are empty:
// the execs', the programs' and pathpin's.
func (o *execOwner) close() {
	if o.err != nil || o.layout.Systemd {
		return
	}
	for path := range o.execs {
		o.removeOwn(path)
	}
	dirs, _ := filepath.Glob(filepath.Join(o.layout.Root, "pathpin", "*"))
	for _, d := range append(dirs, filepath.Join(o.layout.Root, "pathpin")) {
		_ = os.Remove(d) // only an empty group goes
	}
}
