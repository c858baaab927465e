package daemon

import (
	"github.com/pathpin/pathpin/internal/config"
	"github.com/pathpin/pathpin/uplink"
)

// warnMarkUsers logs what pathpin check would say about the other software
// here that uses packet marks: each clash with cfg's mark-mask (with its
// fix) as a warning. It only reads, off the applier's path.
func (d *Daemon) warnMarkUsers(cfg *config.Config) {
	if d.opt.MarkUsers == nil {
		return
	}
	findings, err := d.opt.MarkUsers(cfg)
	if err != nil {
		d.log.Warn("could not read the other software's packet marks", "err", err)
		return
	}
	for _, f := range findings {
		if f.Severity >= uplink.Warning {
			d.log.Warn("another program's marks: " + f.Text)
		}
	}
}
