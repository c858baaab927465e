package daemon

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/pathpin/pathpin/hooks"
	"github.com/pathpin/pathpin/internal/cgroup"
	"github.com/pathpin/pathpin/internal/config"
	"github.com/pathpin/pathpin/uplink"
)

// maxExecs bounds the commands pathpin exec steers at once: each is a
// rule in the table.
const maxExecs = 256

// execOwner keeps the commands pathpin exec runs, by cgroup, and the
// programs' groups; the applier alone calls it. An exec is steered while
// its group holds a process: a child the command left running in the
// background stays on its uplink after the command ends.
type execOwner struct {
	log    *slog.Logger
	layout cgroup.Layout
	// err: no cgroup v2 hierarchy; pathpin exec and program policies
	// cannot work.
	err   error
	execs map[string]uplink.Exec
	// found: the groups of a previous run were looked for (at the first
	// apply); made: the programs whose group pathpin made or found.
	found bool
	made  map[string]bool
	// programs are the configuration's programs, as of the last apply.
	programs []string
}

func newExecOwner(log *slog.Logger) *execOwner {
	l, err := cgroup.Detect()
	return &execOwner{log: log, layout: l, err: err, execs: map[string]uplink.Exec{}, made: map[string]bool{}}
}

func (d *Daemon) currentConfig() *config.Config {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.cfg
}

// take records pathpin exec's request e; it reports whether the table
// must change. An exec whose uplink is out of service (without fallback)
// is not taken: its command is refused.
func (o *execOwner) take(cfg *config.Config, e *hooks.Event, inService func(string) bool) bool {
	if o.err != nil || e.Cgroup == "" || strings.Contains(e.Cgroup, "..") {
		return false
	}
	if e.Kind == hooks.ExecDone {
		// Steered on while a child is left in the group; forgotten at
		// the apply that finds it empty.
		return !o.live(e.Cgroup) && o.forget(e.Cgroup)
	}
	if e.Program != "" {
		// A program's group: the policies find it at the apply.
		return true
	}
	if _, ok := cfg.Uplink(e.Uplink); !ok || len(o.execs) >= maxExecs || !e.Fallback && !inService(e.Uplink) {
		return false
	}
	g, err := cgroup.Stat(o.layout.Root, e.Cgroup)
	if err != nil {
		return false
	}
	o.execs[e.Cgroup] = uplink.Exec{Cgroup: uplink.Cgroup(g), Uplink: e.Uplink, Fallback: e.Fallback}
	return true
}

// live reports whether the group at path holds a process.
func (o *execOwner) live(path string) bool {
	return !cgroup.Empty(o.layout.Root, path)
}

// forget drops the exec of path, and its group when pathpin made it;
// it reports whether there was one.
func (o *execOwner) forget(path string) bool {
	_, had := o.execs[path]
	delete(o.execs, path)
	o.removeOwn(path)
	return had
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

// stale reports whether an exec's group has emptied or gone: the next
// apply forgets it.
func (o *execOwner) stale() bool {
	for path := range o.execs {
		if !o.live(path) {
			return true
		}
	}
	return false
}

// cgroups are the groups the table steers now: the running execs (those
// whose group is gone or empty are forgotten; at the first apply, those a
// previous run left running are found again) and the programs' groups,
// made when missing.
func (o *execOwner) cgroups(cfg *config.Config) uplink.Cgroups {
	var c uplink.Cgroups
	if o.err != nil {
		return c
	}
	if !o.found {
		o.found = true
		o.rediscover(cfg)
	}
	for path, x := range o.execs {
		if g, err := cgroup.Stat(o.layout.Root, path); err != nil || g.ID != x.Cgroup.ID || !o.live(path) {
			o.forget(path)
			continue
		}
		c.Execs = append(c.Execs, x)
	}
	slices.SortFunc(c.Execs, func(a, b uplink.Exec) int { return strings.Compare(a.Cgroup.Path, b.Cgroup.Path) })
	o.programs = o.programs[:0]
	for _, p := range cfg.Programs {
		o.programs = append(o.programs, p.Name)
		path := o.layout.Program(p.Name)
		g, err := cgroup.Stat(o.layout.Root, path)
		if err != nil && !o.made[p.Name] {
			// Made once per run (a unit with Slice= may make it too):
			// its policies' rules exist before anything runs in it.
			o.made[p.Name] = true
			if err := o.makeProgram(p.Name); err != nil {
				o.log.Warn("a program's group could not be made; its policies steer it once it exists (pathpin exec --program makes it)", "program", p.Name, "err", err)
			}
			g, err = cgroup.Stat(o.layout.Root, path)
		}
		if err == nil {
			if c.Programs == nil {
				c.Programs = map[string]uplink.Cgroup{}
			}
			c.Programs[p.Name] = uplink.Cgroup(g)
		}
	}
	return c
}

// makeProgram makes program name's group: under systemd its slice, made
// active through systemd; else a directory of pathpin's.
func (o *execOwner) makeProgram(name string) error {
	if !o.layout.Systemd {
		return os.MkdirAll(filepath.Join(o.layout.Root, o.layout.Program(name)), 0o755)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return cgroup.StartSlice(ctx, cgroup.ProgramSlice(name))
}

// rediscover takes back the exec groups a previous run left with
// processes in them (a restart, the watchdog): their commands stay on
// their uplinks.
func (o *execOwner) rediscover(cfg *config.Config) {
	for _, path := range o.layout.Execs() {
		via, fallback, _ := o.layout.ParseExec(path)
		if _, ok := cfg.Uplink(via); !ok || !o.live(path) || len(o.execs) >= maxExecs {
			o.removeOwn(path)
			continue
		}
		if g, err := cgroup.Stat(o.layout.Root, path); err == nil {
			o.execs[path] = uplink.Exec{Cgroup: uplink.Cgroup(g), Uplink: via, Fallback: fallback}
			o.log.Info("a command pathpin exec started before stays on its uplink", "cgroup", path, "uplink", via)
		}
	}
}

// execAnswer is what pathpin exec is told once the apply is in: an
// error when its command's connections cannot leave as asked. applyErr
// is the apply's.
func (d *Daemon) execAnswer(e *hooks.Event, applyErr error) error {
	o := d.execs
	if e.Kind == hooks.ExecDone {
		return nil
	}
	if o.err != nil {
		return fmt.Errorf("pathpin exec needs cgroup v2, which pathpin up does not see: %w", o.err)
	}
	if applyErr != nil {
		return fmt.Errorf("pathpin's table could not take the command's rule (is nft_socket loaded? modprobe nft_socket): %w", applyErr)
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
	if _, ok := o.execs[e.Cgroup]; ok {
		return nil
	}
	st, known := d.statusOf(e.Uplink)
	switch {
	case known && !st.Up() && !e.Fallback:
		return fmt.Errorf("%s is out of service (%s), and the command would leave by no other line; try later, or run pathpin exec --fallback to let another uplink carry it meanwhile", e.Uplink, st.Reason)
	case len(o.execs) >= maxExecs:
		return fmt.Errorf("pathpin already steers %d commands; wait for one to end", maxExecs)
	}
	return errors.New("pathpin up cannot see the command's cgroup " + e.Cgroup + " (does it run in another mount namespace, without /sys/fs/cgroup?)")
}

// close removes the programs' groups that are empty: their slices
// (under systemd; started by pathpin or by a unit with Slice=, which
// starts it again when it runs), or pathpin's own directories.
func (o *execOwner) close() {
	if o.err != nil {
		return
	}
	if o.layout.Systemd {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		for _, name := range o.programs {
			// Only an empty slice: stopping one stops what runs in it.
			if path := o.layout.Program(name); cgroup.Empty(o.layout.Root, path) && o.exists(path) {
				if err := cgroup.StopUnit(ctx, cgroup.ProgramSlice(name)); err != nil {
					o.log.Debug("a program's slice stays", "program", name, "err", err)
				}
			}
		}
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

// exists reports whether the group at path is there.
func (o *execOwner) exists(path string) bool {
	_, err := os.Stat(filepath.Join(o.layout.Root, path))
	return err == nil
}
