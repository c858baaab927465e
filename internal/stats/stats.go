// Package stats has the small summaries pathpin's benchmarks print.
package stats

import (
	"slices"
	"time"
)

// Median returns the median of ds (0 for none).
func Median(ds []time.Duration) time.Duration {
	return Percentile(ds, 50)
}

// Percentile returns the p-th percentile (nearest rank) of ds.
func Percentile(ds []time.Duration, p int) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	i := (p*len(s) + 99) / 100
	if i < 1 {
		i = 1
	}
	return s[min(i, len(s))-1]
}

// Ratio returns a/b as a float (0 when b is 0).
func Ratio(a, b time.Duration) float64 {
	if b == 0 {
		return 0
	}
	return float64(a) / float64(b)
}

// Ms returns d in milliseconds as a float, for b.ReportMetric.
func Ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// MedianFloat returns the median of xs (0 for none).
func MedianFloat(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	return s[(len(s)-1)/2]
}
