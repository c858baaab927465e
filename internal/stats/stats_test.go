package stats

import (
	"testing"
	"time"
)

func TestPercentile(t *testing.T) {
	ds := []time.Duration{5, 1, 4, 2, 3}
	for _, tt := range []struct {
		p    int
		want time.Duration
	}{{50, 3}, {90, 5}, {0, 1}, {100, 5}, {20, 1}, {21, 2}} {
		if got := Percentile(ds, tt.p); got != tt.want {
			t.Errorf("Percentile(%d) = %d, want %d", tt.p, got, tt.want)
		}
	}
	if Median(nil) != 0 || Ratio(1, 0) != 0 || Ratio(3, 2) != 1.5 {
		t.Error("edge cases wrong")
	}
}
