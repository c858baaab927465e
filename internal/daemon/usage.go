package daemon

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/pathpin/pathpin/internal/atomicfile"
	"github.com/pathpin/pathpin/internal/config"
	"github.com/pathpin/pathpin/internal/nft"
	"github.com/pathpin/pathpin/internal/status"
	"github.com/pathpin/pathpin/internal/usage"
	"github.com/pathpin/pathpin/uplink"
)

// Usage pacing: counters are read every usageRead (a cap is noticed that
// soon after it is reached) and the ledger written every usageSave (and at
// every cap change and at the end), not at every read: the lib dir may be
// an SD card.
const (
	usageRead = 5 * time.Second
	usageSave = 5 * time.Minute
)

// usageOwner keeps each uplink's data use from pathpin's table's counters
// in a ledger in the lib dir, and tells the applier when an uplink reaches
// its cap or its period starts again. Its lock is its own.
type usageOwner struct {
	path string
	log  *slog.Logger
	read time.Duration

	mu     sync.Mutex
	ledger *usage.Ledger
	saved  time.Time
	// capped are the uplinks over their cap as last told to the applier.
	capped map[string]bool
}

func newUsageOwner(path string, log *slog.Logger, read time.Duration) *usageOwner {
	if read <= 0 {
		read = usageRead
	}
	l, err := usage.Load(path)
	if err != nil {
		log.Warn("the data use ledger cannot be read; counting from zero", "path", path, "err", err)
	}
	return &usageOwner{path: path, log: log, read: read, ledger: l, capped: map[string]bool{}}
}

// baseline takes the counters in a table an earlier pathpin left (a
// crash) as counted already; call before the first apply.
func (o *usageOwner) baseline(cfg *config.Config) {
	counts, ok := readUsage(cfg)
	if !ok {
		return
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	for name, u := range counts {
		o.ledger.Baseline(name, u.In, u.Out)
	}
}

// readUsage reads the usage counters on a socket of its own.
func readUsage(cfg *config.Config) (map[string]uplink.Usage, bool) {
	c, err := nft.Open()
	if err != nil {
		return nil, false
	}
	defer c.Close()
	t, err := c.Read()
	if err != nil || t == nil {
		return nil, false
	}
	return uplink.CountUsage(cfg, t), true
}

// capChange is an uplink that reached its cap (reason set) or whose period
// began again (reason empty).
type capChange struct {
	uplink, reason string
}

// observe counts what the counters gained, saves the ledger when it is
// due (or force), and returns the uplinks whose cap state changed. With
// no counters to read (pathpin's table is not there yet: a start after a
// clean stop), the caps are judged on the ledger alone. The file is
// written after the lock is let go: a slow card never holds up status.
func (o *usageOwner) observe(cfg *config.Config, now time.Time, force bool) []capChange {
	counts, ok := readUsage(cfg)
	o.mu.Lock()
	var out []capChange
	if ok {
		o.ledger.Forget(func(name string) bool { _, ok := cfg.Uplink(name); return ok })
	}
	for _, u := range cfg.Uplinks {
		var a *usage.Account
		if c, found := counts[u.Name]; found {
			a = o.ledger.Observe(u.Name, u.Cap, c.In, c.Out, now)
		} else if a = o.ledger.Uplinks[u.Name]; a == nil || usage.PeriodStart(u.Cap, now).After(a.PeriodStart) {
			// Nothing counted in this period yet.
			a = &usage.Account{PeriodStart: usage.PeriodStart(u.Cap, now)}
		}
		if over := a.Over(u.Cap); over != o.capped[u.Name] {
			o.capped[u.Name] = over
			ch := capChange{uplink: u.Name}
			if over {
				ch.reason = fmt.Sprintf("data cap reached: %s of %s since %s", config.FormatBytes(a.Total()), config.FormatBytes(u.Cap.Bytes), a.PeriodStart.Format("2 Jan 15:04"))
			}
			out = append(out, ch)
		}
	}
	for name := range o.capped {
		if _, ok := cfg.Uplink(name); !ok {
			delete(o.capped, name)
		}
	}
	var data []byte
	save := ok && (force || len(out) > 0 || now.Sub(o.saved) >= usageSave)
	if save {
		var err error
		if data, err = json.Marshal(o.ledger); err != nil {
			save = false
		}
		o.saved = now
	}
	o.mu.Unlock()
	if save {
		if err := atomicfile.Write(o.path, data, 0o644); err != nil {
			o.log.Warn("saving the data use ledger", "path", o.path, "err", err)
		}
	}
	return out
}

// run reads the counters every o.read until ctx ends, handing cap
// changes to the applier.
func (o *usageOwner) run(ctx context.Context, d *Daemon) {
	t := time.NewTicker(o.read)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		for _, ch := range o.observe(d.currentConfig(), time.Now(), false) {
			if !d.send(ctx, event{kind: evCap, uplink: ch.uplink, capReason: ch.reason}) {
				return
			}
		}
	}
}

// report is uplink name's use in its period, for status.
func (o *usageOwner) report(u *config.Uplink) *status.Usage {
	o.mu.Lock()
	defer o.mu.Unlock()
	a, ok := o.ledger.Uplinks[u.Name]
	if !ok || a.PeriodStart.IsZero() {
		return nil
	}
	r := &status.Usage{Since: a.PeriodStart, In: a.In, Out: a.Out}
	if u.Cap != nil {
		r.Cap, r.Capped = u.Cap.Bytes, a.Over(u.Cap)
	}
	return r
}

// totals is each uplink's use in its period so far, in and out, by name.
func (o *usageOwner) totals() map[string][2]uint64 {
	o.mu.Lock()
	defer o.mu.Unlock()
	out := map[string][2]uint64{}
	for name, a := range o.ledger.Uplinks {
		out[name] = [2]uint64{a.In, a.Out}
	}
	return out
}
