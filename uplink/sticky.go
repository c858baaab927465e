package uplink

import (
	"net/netip"
	"time"

	"github.com/pathpin/pathpin/internal/atomicfile"
	"github.com/pathpin/pathpin/internal/nft"
	"github.com/pathpin/pathpin/internal/statedir"
)

// Sticky sets live in pathpin's table, in the kernel: a rewrite of the
// table carries their sources over (nft.Conn.Apply), so a reload or a
// failover keeps them. Stopping removes the table; the sources are kept
// in the state directory meanwhile, each with the time it had left, and
// the first apply that makes their set again puts back those still
// within their time.

// stickyRecord is the sources of the sticky sets when pathpin stopped.
type stickyRecord struct {
	Saved time.Time               `json:"saved"`
	Sets  map[string][]stickyItem `json:"sets"`
}

type stickyItem struct {
	Addr    netip.Addr    `json:"addr"`
	Expires time.Duration `json:"expires"`
}

// savedLeft is the record's sources with the time each has left at now;
// none when there is no record (found is false), it cannot be read, or the
// clock went back since it was written (the time left is then unknown: a router without a
// real-time clock boots in the past until NTP answers).
func (e *Engine) savedLeft(now time.Time) (left map[string][]stickyItem, found bool) {
	var rec stickyRecord
	found, err := atomicfile.ReadJSON(e.stickyPath(), &rec)
	if err != nil {
		e.log().Warn("the sticky sources kept while pathpin stopped cannot be read; sticky policies start afresh", "err", err)
	}
	elapsed := now.Sub(rec.Saved)
	left = map[string][]stickyItem{}
	if !found || err != nil || elapsed < 0 {
		return left, found || err != nil
	}
	for name, items := range rec.Sets {
		for _, it := range items {
			if it.Expires -= elapsed; it.Expires > 0 && it.Addr.Is4() && len(left[name]) < maxStickySaved {
				left[name] = append(left[name], it)
			}
		}
	}
	return left, true
}

// maxStickySaved bounds what a record may bring back per set.
const maxStickySaved = nft.StickySize

func (e *Engine) stickyPath() string { return statedir.Dirs{State: e.StateDir}.Sticky() }

// saveSticky records the sources of live's sticky sets, before the table
// goes.
func (e *Engine) saveSticky(live *nft.Table) error {
	if live == nil || e.Tables == nil {
		return nil
	}
	// Sources still waiting for their set (an uplink that never came up
	// while pathpin ran) are kept with the time they have left.
	waiting, _ := e.savedLeft(time.Now())
	rec := stickyRecord{Saved: time.Now(), Sets: waiting}
	for _, s := range live.Sets {
		if !s.IsSticky() {
			continue
		}
		entries, err := e.Tables.Sticky(s.Name)
		if err != nil {
			return err
		}
		rec.Sets[s.Name] = nil
		for _, en := range entries {
			rec.Sets[s.Name] = append(rec.Sets[s.Name], stickyItem{Addr: en.Addr, Expires: en.Expires})
		}
		if len(rec.Sets[s.Name]) == 0 {
			delete(rec.Sets, s.Name)
		}
	}
	if len(rec.Sets) == 0 {
		return atomicfile.Remove(e.stickyPath())
	}
	return atomicfile.WriteJSON(e.stickyPath(), rec, 0o600)
}

// withSavedSticky is want with the recorded sources put back into each
// sticky set that have does not hold yet, each with the time it has left.
// taken is called once the table is written: it keeps in the record the
// sets this apply did not make (an uplink not in service yet, such as a
// PPPoE line still dialling, makes its sets later), and removes the record
// when none is left.
func (e *Engine) withSavedSticky(want, have *nft.Table) (out *nft.Table, taken func()) {
	taken = func() {}
	if want == nil || e.StateDir == "" {
		return want, taken
	}
	now := time.Now()
	sets, found := e.savedLeft(now)
	if !found {
		// No record: the apply path does no more than look.
		return want, taken
	}
	left := stickyRecord{Saved: now, Sets: sets}
	if len(left.Sets) == 0 {
		return want, func() { _ = atomicfile.Remove(e.stickyPath()) }
	}
	out = want.Clone()
	for i := range out.Sets {
		s := &out.Sets[i]
		if !s.IsSticky() {
			continue
		}
		if have != nil {
			if _, live := have.Set(s.Name); live {
				delete(left.Sets, s.Name)
				continue
			}
		}
		for _, it := range left.Sets[s.Name] {
			if len(s.Entries) < maxStickySaved {
				s.Entries = append(s.Entries, nft.Entry{Addr: it.Addr, Expires: min(it.Expires, s.Timeout)})
			}
		}
		delete(left.Sets, s.Name)
	}
	return out, func() {
		if len(left.Sets) == 0 {
			_ = atomicfile.Remove(e.stickyPath())
			return
		}
		_ = atomicfile.WriteJSON(e.stickyPath(), left, 0o600)
	}
}
