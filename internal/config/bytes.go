package config

import (
	"fmt"
	"math"
	"strconv"
	"strings"
)

// byteUnits are the suffixes ParseBytes takes: powers of 1000, as ISPs
// count a cap, and powers of 1024 spelt with an i.
var byteUnits = []struct {
	suffix string
	factor uint64
}{
	{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30}, {"TiB", 1 << 40},
	{"KB", 1e3}, {"MB", 1e6}, {"GB", 1e9}, {"TB", 1e12},
	{"K", 1e3}, {"M", 1e6}, {"G", 1e9}, {"T", 1e12}, {"B", 1},
}

// ParseBytes reads an amount of data like 50G, 1.5TB, 500MiB or 1000000.
func ParseBytes(s string) (uint64, error) {
	t := strings.TrimSpace(s)
	factor := uint64(1)
	for _, u := range byteUnits {
		if strings.HasSuffix(t, u.suffix) {
			t, factor = strings.TrimSpace(strings.TrimSuffix(t, u.suffix)), u.factor
			break
		}
	}
	f, err := strconv.ParseFloat(t, 64)
	if err != nil || f <= 0 || math.IsInf(f, 0) || f*float64(factor) >= 1<<63 {
		return 0, fmt.Errorf("%q is not an amount of data; write one like 50G (10^9 bytes) or 50GiB (2^30)", s)
	}
	return uint64(f * float64(factor)), nil
}

// FormatBytes writes n the way ParseBytes reads it, to three figures.
func FormatBytes(n uint64) string {
	units := []string{"B", "KB", "MB", "GB", "TB"}
	f := float64(n)
	i := 0
	for f >= 1000 && i < len(units)-1 {
		f /= 1000
		i++
	}
	if i == 0 {
		return fmt.Sprintf("%d B", n)
	}
	return fmt.Sprintf("%.3g %s", f, units[i])
}
