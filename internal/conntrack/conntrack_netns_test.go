package conntrack

import (
	"os"
	"strings"
	"testing"
	"time"

	"github.com/pathpin/pathpin/internal/netnstest"
)

func TestMain(m *testing.M) { os.Exit(netnstest.Main(m)) }

func TestCountAndDeleteByMark(t *testing.T) {
	netnstest.RequireRoot(t, "conntrack")
	ns := netnstest.New(t)
	start := time.Now()
	ns.AddFlows(3000, 0, 0x100)
	ns.AddFlows(2000, 3000, 0x200)
	ns.AddFlows(500, 5000, 0x10200) // a bit outside the mask: another tool's
	ns.AddFlows(100, 5500, 0)
	t.Logf("5,600 flows added in %s", time.Since(start))
	do := ns.Must
	var counts map[uint32]int
	do(func() (err error) { counts, err = CountByMark(0xff00); return err })
	if counts[0x100] != 3000 || counts[0x200] != 2500 || counts[0] != 100 || len(counts) != 3 {
		t.Fatalf("counts by mark: %v", counts)
	}
	var n int
	do(func() (err error) { n, err = CountMark(0x200, 0xff00); return err })
	if n != 2500 {
		t.Fatalf("the kernel-filtered count of 0x200: %d", n)
	}
	if out := ns.Run("sh", "-c", "conntrack -L 2>/dev/null | wc -l"); strings.TrimSpace(out) != "5600" {
		t.Fatalf("conntrack -L lists %s entries", out)
	}
	do(func() error { return DeleteMark(0x100, 0xff00) })
	do(func() (err error) { counts, err = CountByMark(0xff00); return err })
	if counts[0x100] != 0 || counts[0x200] != 2500 || counts[0] != 100 {
		t.Fatalf("after deleting 0x100: %v", counts)
	}
}

// TestCountAllocatesNothingPerEntry: counting 20,000 entries allocates as
// much as counting 2,000.
func TestCountAllocatesNothingPerEntry(t *testing.T) {
	netnstest.RequireRoot(t)
	ns := netnstest.New(t)
	allocs := func() float64 {
		var a float64
		ns.Do(func() {
			a = testing.AllocsPerRun(5, func() {
				if _, err := CountByMark(0xff00); err != nil {
					t.Fatal(err)
				}
			})
		})
		return a
	}
	ns.AddFlows(2000, 0, 0x100)
	small := allocs()
	ns.AddFlows(18000, 2000, 0x200)
	large := allocs()
	if large > small+2 {
		t.Fatalf("counting 20,000 entries allocates %.0f times, 2,000 entries %.0f", large, small)
	}
	t.Logf("allocations per count: %.0f at 2,000 entries, %.0f at 20,000", small, large)
}
