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

// maxStickySaved bounds what a record may bring back per set.
const maxStickySaved = nft.StickySize

func (e *Engine) stickyPath() string { return statedir.Dirs{State: e.StateDir}.Sticky() }

// saveSticky records the sources of live's sticky sets, before the table
// goes.
func (e *Engine) saveSticky(live *nft.Table) error {
	if live == nil || e.Tables == nil {
		return nil
	}
	rec := stickyRecord{Saved: time.Now(), Sets: map[string][]stickyItem{}}
	for _, s := range live.Sets {
		if !s.IsSticky() {
			continue
		}
		entries, err := e.Tables.Sticky(s.Name)
		if err != nil {
			return err
		}
		for _, en := range entries {
			rec.Sets[s.Name] = append(rec.Sets[s.Name], stickyItem{Addr: en.Addr, Expires: en.Expires})
		}
	}
	if len(rec.Sets) == 0 {
		return atomicfile.Remove(e.stickyPath())
	}
	return atomicfile.WriteJSON(e.stickyPath(), rec, 0o600)
}

// withSavedSticky is want with the recorded sources put back into each
// sticky set that have does not hold yet, each with the time it has left.
// The record is read once: taken is called when the table is written.
func (e *Engine) withSavedSticky(want, have *nft.Table) (out *nft.Table, taken func()) {
	taken = func() {}
	if want == nil || e.StateDir == "" {
		return want, taken
	}
	var rec stickyRecord
	found, err := atomicfile.ReadJSON(e.stickyPath(), &rec)
	if err != nil || !found {
		if err != nil {
			e.log().Warn("the sticky sources kept while pathpin stopped cannot be read; sticky policies start afresh", "err", err)
			taken = func() { _ = atomicfile.Remove(e.stickyPath()) }
		}
		return want, taken
	}
	elapsed := time.Since(rec.Saved)
	out = want.Clone()
	for i := range out.Sets {
		s := &out.Sets[i]
		if !s.IsSticky() {
			continue
		}
		if have != nil {
			if _, live := have.Set(s.Name); live {
				continue
			}
		}
		for _, it := range rec.Sets[s.Name] {
			left := it.Expires - elapsed
			if left <= 0 || !it.Addr.Is4() || left > s.Timeout || len(s.Entries) >= maxStickySaved {
				continue
			}
			s.Entries = append(s.Entries, nft.Entry{Addr: it.Addr, Expires: left})
		}
	}
	return out, func() { _ = atomicfile.Remove(e.stickyPath()) }
}
