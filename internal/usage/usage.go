// Package usage keeps each uplink's data use per period from the kernel's
// counters, across restarts of pathpin and of its table, and says when a
// cap is reached.
package usage

import (
	"time"

	"github.com/pathpin/pathpin/internal/atomicfile"
	"github.com/pathpin/pathpin/internal/config"
)

// Ledger is every uplink's account, by name.
type Ledger struct {
	Uplinks map[string]*Account `json:"uplinks"`
}

// Account is one uplink's data use in its current period.
type Account struct {
	PeriodStart time.Time `json:"period_start"`
	In          uint64    `json:"bytes_in"`
	Out         uint64    `json:"bytes_out"`
	// KernelIn and KernelOut are the counters as last read: only what
	// they gained since counts. A counter below its last reading was made
	// again (pathpin's table is new) and counts from zero.
	KernelIn  uint64 `json:"kernel_in"`
	KernelOut uint64 `json:"kernel_out"`
}

// Total is in and out together, as a cap counts.
func (a *Account) Total() uint64 { return a.In + a.Out }

// Over reports whether the account has reached cap c (none: never).
func (a *Account) Over(c *config.Cap) bool { return c != nil && a.Total() >= c.Bytes }

// PeriodStart is when the period holding now began: midnight for a daily
// cap; for a monthly one (and without a cap) the reset day at midnight,
// the month's last day when it is shorter.
func PeriodStart(c *config.Cap, now time.Time) time.Time {
	y, m, d := now.Date()
	loc := now.Location()
	if c != nil && c.Period == "daily" {
		return time.Date(y, m, d, 0, 0, 0, 0, loc)
	}
	day := 1
	if c != nil {
		day = c.ResetDay
	}
	at := func(y int, m time.Month) time.Time {
		last := time.Date(y, m+1, 0, 0, 0, 0, 0, loc).Day()
		return time.Date(y, m, min(day, last), 0, 0, 0, 0, loc)
	}
	if s := at(y, m); !now.Before(s) {
		return s
	}
	return at(y, m-1)
}

// Baseline takes the counters as they are now as the starting point for
// uplink name, without counting them: they are either a table a crashed
// pathpin left (its use was counted up to the last save) or zero.
func (l *Ledger) Baseline(name string, kin, kout uint64) {
	a := l.account(name)
	a.KernelIn, a.KernelOut = kin, kout
}

// Observe counts what uplink name's counters gained since they were last
// read into its account, starting a new period when one began, and returns
// the account.
func (l *Ledger) Observe(name string, c *config.Cap, kin, kout uint64, now time.Time) *Account {
	a := l.account(name)
	if start := PeriodStart(c, now); a.PeriodStart.IsZero() || start.After(a.PeriodStart) {
		a.PeriodStart, a.In, a.Out = start, 0, 0
	}
	a.In += gained(a.KernelIn, kin)
	a.Out += gained(a.KernelOut, kout)
	a.KernelIn, a.KernelOut = kin, kout
	return a
}

// Forget drops the accounts of uplinks not in names.
func (l *Ledger) Forget(keep func(string) bool) {
	for name := range l.Uplinks {
		if !keep(name) {
			delete(l.Uplinks, name)
		}
	}
}

func (l *Ledger) account(name string) *Account {
	if l.Uplinks == nil {
		l.Uplinks = map[string]*Account{}
	}
	a, ok := l.Uplinks[name]
	if !ok {
		a = &Account{}
		l.Uplinks[name] = a
	}
	return a
}

func gained(last, now uint64) uint64 {
	if now < last {
		return now
	}
	return now - last
}

// Load reads a ledger; a missing file is an empty one.
func Load(path string) (*Ledger, error) {
	l := &Ledger{}
	if _, err := atomicfile.ReadJSON(path, l); err != nil {
		return &Ledger{}, err
	}
	return l, nil
}
