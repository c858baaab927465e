package daemon

import (
	"context"
	"sync"

	"github.com/pathpin/pathpin/internal/config"
	"github.com/pathpin/pathpin/uplink"
)

// markScans runs the reads of the other software's packet marks, one at a
// time, off the applier's path: a start and every reload ask for a round;
// asks that come while one runs are served by one more round, for the
// newest configuration.
type markScans struct {
	mu    sync.Mutex
	cfg   *config.Config
	round int // the newest asked for
	kick  chan struct{}
}

func newMarkScans() *markScans { return &markScans{kick: make(chan struct{}, 1)} }

// ask asks for a round for cfg.
func (m *markScans) ask(cfg *config.Config) {
	if m == nil {
		return
	}
	m.mu.Lock()
	m.cfg = cfg
	m.round++
	m.mu.Unlock()
	select {
	case m.kick <- struct{}{}:
	default:
	}
}

// runMarkScans logs, for each round asked, what pathpin check would say
// about the other software here that uses packet marks: each clash with
// the configuration's mark-mask (with its fix) as a warning, then one line
// that the round is done.
func (d *Daemon) runMarkScans(ctx context.Context) {
	if d.opt.MarkUsers == nil || d.marks == nil {
		return
	}
	for {
		select {
		case <-ctx.Done():
			return
		case <-d.marks.kick:
		}
		d.marks.mu.Lock()
		cfg, round := d.marks.cfg, d.marks.round
		d.marks.mu.Unlock()
		d.warnMarkUsers(ctx, cfg, round)
	}
}

// warnMarkUsers reads the other mark users once and logs the clashes.
func (d *Daemon) warnMarkUsers(ctx context.Context, cfg *config.Config, round int) {
	if d.opt.MarkUsers == nil {
		return
	}
	findings, err := d.opt.MarkUsers(ctx, cfg)
	if ctx.Err() != nil {
		return // stopping
	}
	if err != nil {
		d.log.Warn("could not read the other software's packet marks", "err", err, "round", round)
		return
	}
	clashes := 0
	for _, f := range findings {
		if f.Severity >= uplink.Warning {
			clashes++
			d.log.Warn("another program's marks: " + f.Text)
		}
	}
	d.log.Info("read the other software's packet marks (pathpin check says more)", "warnings", clashes, "round", round)
}
