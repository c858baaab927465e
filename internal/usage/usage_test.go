package usage

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/pathpin/pathpin/internal/atomicfile"
	"github.com/pathpin/pathpin/internal/config"
)

// TestPeriodStart: daily from midnight, monthly from the reset day, a
// short month's last day standing in for a day it lacks.
func TestPeriodStart(t *testing.T) {
	day := func(s string) time.Time {
		d, err := time.Parse("2006-01-02 15:04", s)
		if err != nil {
			t.Fatal(err)
		}
		return d
	}
	for _, tt := range []struct {
		cap       *config.Cap
		now, want string
	}{
		{nil, "2026-12-02 12:00", "2026-12-01 00:00"},
		{&config.Cap{Period: "daily"}, "2026-12-02 12:00", "2026-12-02 00:00"},
		{&config.Cap{Period: "monthly", ResetDay: 15}, "2026-12-02 12:00", "2026-11-15 00:00"},
		{&config.Cap{Period: "monthly", ResetDay: 15}, "2026-12-15 00:00", "2026-12-15 00:00"},
		{&config.Cap{Period: "monthly", ResetDay: 31}, "2027-03-01 08:00", "2027-02-28 00:00"},
		{&config.Cap{Period: "monthly", ResetDay: 31}, "2027-01-05 08:00", "2026-12-31 00:00"},
	} {
		if got := PeriodStart(tt.cap, day(tt.now)); !got.Equal(day(tt.want)) {
			t.Errorf("PeriodStart(%+v, %s) = %s, want %s", tt.cap, tt.now, got, tt.want)
		}
	}
}

// TestObserve: gains count, a counter made again counts from zero, a new
// period starts from nothing, a baseline is not counted, and the ledger
// survives a save and a load.
func TestObserve(t *testing.T) {
	c := &config.Cap{Bytes: 1000, Period: "daily"}
	now := time.Date(2026, 12, 2, 10, 0, 0, 0, time.UTC)
	var l Ledger
	l.Baseline("lte", 500, 500) // a table a crashed pathpin left: counted before
	a := l.Observe("lte", c, 600, 700, now)
	if a.In != 100 || a.Out != 200 {
		t.Fatalf("after the baseline: %+v", a)
	}
	a = l.Observe("lte", c, 50, 60, now.Add(time.Minute)) // the table was made again
	if a.In != 150 || a.Out != 260 || a.Over(c) {
		t.Fatalf("after a new table: %+v", a)
	}
	a = l.Observe("lte", c, 650, 60, now.Add(2*time.Minute))
	if !a.Over(c) || a.Over(nil) {
		t.Fatalf("%d bytes against a cap of 1000: over %v", a.Total(), a.Over(c))
	}
	path := filepath.Join(t.TempDir(), "usage.json")
	if err := atomicfile.WriteJSON(path, &l, 0o644); err != nil {
		t.Fatal(err)
	}
	back, err := Load(path)
	if err != nil || back.Uplinks["lte"].Total() != a.Total() || back.Uplinks["lte"].KernelIn != 650 {
		t.Fatalf("loaded %+v, %v", back.Uplinks["lte"], err)
	}
	a = back.Observe("lte", c, 700, 60, now.Add(24*time.Hour))
	if a.Total() != 50 || !a.PeriodStart.Equal(time.Date(2026, 12, 3, 0, 0, 0, 0, time.UTC)) {
		t.Fatalf("the next day: %+v", a)
	}
	back.Forget(func(string) bool { return false })
	if len(back.Uplinks) != 0 {
		t.Fatalf("forgotten: %+v", back.Uplinks)
	}
}
