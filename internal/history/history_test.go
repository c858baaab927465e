package history

import (
	"strings"
	"testing"
	"time"
	"unsafe"
)

// TestRing: points come back oldest first, as they went in, and a full
// ring drops the oldest; a slot stays small.
func TestRing(t *testing.T) {
	var r Ring
	t0 := time.Date(2026, 12, 2, 0, 0, 0, 0, time.UTC)
	for i := range Points + 10 {
		r.Add(Point{T: t0.Add(time.Duration(i) * time.Minute), RTTP50: 1.5, RTTMax: float64(i), Loss: 0.25, State: "up", NewConns: uint64(i), Flows: i, BytesIn: uint64(i) << 33, BytesOut: 7})
	}
	pts := r.Points()
	if len(pts) != Points || r.Len() != Points {
		t.Fatalf("%d points held, want %d", len(pts), Points)
	}
	first, last := pts[0], pts[len(pts)-1]
	if !first.T.Equal(t0.Add(10*time.Minute)) || first.NewConns != 10 || last.Flows != Points+9 || last.BytesIn != uint64(Points+9)<<33 {
		t.Fatalf("first %+v last %+v", first, last)
	}
	if first.RTTP50 != 1.5 || first.Loss != 0.25 || first.State != "up" {
		t.Fatalf("values changed on the way: %+v", first)
	}
	if size := unsafe.Sizeof(slot{}); size > 48 {
		t.Errorf("a slot is %d bytes: a day of 8 uplinks would be %d KB", size, 8*Points*int(size)/1000)
	}
	var e Ring
	e.Add(Point{T: t0, State: "nonsense", Flows: -1})
	if p := e.Points()[0]; p.State != "" || p.Flows != 0 {
		t.Fatalf("junk stored as %+v", p)
	}
}

// TestEvents: the last MaxEvents changes, oldest first, reasons bounded.
func TestEvents(t *testing.T) {
	var l Events
	for i := range MaxEvents + 5 {
		l.Add(Event{Uplink: "a", Reason: strings.Repeat("x", i)})
	}
	got := l.List()
	if len(got) != MaxEvents || len(got[0].Reason) != 5 {
		t.Fatalf("%d events, the first with a reason of %d", len(got), len(got[0].Reason))
	}
	l.Add(Event{Reason: strings.Repeat("y", 10000)})
	if r := l.List()[MaxEvents-1].Reason; len(r) > maxReason+4 {
		t.Fatalf("a reason of %d bytes kept", len(r))
	}
}
