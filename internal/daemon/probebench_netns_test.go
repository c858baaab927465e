package daemon

import (
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/pathpin/pathpin/internal/config"
	"github.com/pathpin/pathpin/internal/netnstest"
)

// BenchmarkFalseDownsUnderLoss: 5% random loss each way on one uplink's
// probes for 600 rounds (ten minutes at the default 1 s interval; here the
// default settings a tenth as long: 100 ms rounds, 20 ms quick rounds, a
// 50 ms timeout), two targets; the other uplink loses nothing. Counts the
// times either was taken down. Target: 0.
func BenchmarkFalseDownsUnderLoss(b *testing.B) {
	for i := 0; i < b.N; i++ {
		l := flapLab(b, "health:\n  targets: [203.0.113.10, "+secondTarget+"]\n  interval: 100ms\n  fast-interval: 20ms\n  timeout: 50ms\n")
		lossy(l.ISPs[1], 5)
		time.Sleep(600 * 100 * time.Millisecond) // the 600 rounds under loss
		lossyB, clean := downs(l, "ispb"), downs(l, "ispa")
		rounds := l.state("ispb").Probes
		b.ReportMetric(float64(lossyB), "false-downs-5%-loss")
		b.ReportMetric(float64(clean), "false-downs-no-loss")
		b.Logf("600 rounds (scaled defaults, two targets): 5%% loss each way: %d false downs; no loss: %d (target 0); last minute's rounds on the lossy uplink: %d",
			lossyB, clean, rounds)
	}
}

// BenchmarkProbeTraffic: the probes' bytes on the wire per uplink per
// day, side by side in one run: a weighted uplink probing both targets at
// its interval, and a metered standby (weight 0, a weighted uplink in
// service) probing one target at its metered interval. Both are measured
// the same way, by a counter of the ICMP each ISP forwards for 30 s, with
// the intervals a tenth and a sixtieth of the defaults (100 ms for 1 s;
// 1 s for the metered 1 min), and scaled back to a day at the defaults.
func BenchmarkProbeTraffic(b *testing.B) {
	const window = 30 * time.Second
	for i := 0; i < b.N; i++ {
		l := prepareLab(b, 1, 0, "")
		addSecondTarget(l)
		cfg := l.Config(1, 0, "health:\n  targets: [203.0.113.10, "+secondTarget+"]\n  interval: 100ms\n  timeout: 80ms\n  metered-interval: 1s\n")
		cfg = strings.Replace(cfg, "    gateway: 192.168.2.254\n", "    gateway: 192.168.2.254\n    health: {metered: true}\n", 1)
		if !strings.Contains(cfg, "metered: true") {
			b.Fatalf("no metered uplink in:\n%s", cfg)
		}
		if err := os.WriteFile(l.cfg, []byte(cfg), 0o644); err != nil {
			b.Fatal(err)
		}
		l.start()
		l.waitState("ispa", "up", 10*time.Second)
		l.waitState("ispb", "up", 10*time.Second)
		for _, isp := range l.ISPs {
			isp.Run("nft", "add table ip probes; add chain ip probes f { type filter hook forward priority 0; }; add rule ip probes f meta l4proto icmp counter")
		}
		time.Sleep(window) // the measured window
		perDay := func(ns *netnstest.NS, scale float64) float64 {
			m := regexp.MustCompile(`counter packets \d+ bytes (\d+)`).FindStringSubmatch(ns.Run("nft", "list", "chain", "ip", "probes", "f"))
			if m == nil {
				b.Fatal("no probe counter")
			}
			n, _ := strconv.ParseFloat(m[1], 64)
			return n / window.Seconds() * 86400 * scale
		}
		normal := perDay(l.ISPs[0], 0.1) // 100 ms rounds for 1 s
		metered := perDay(l.ISPs[1], float64(time.Second)/float64(config.DefaultMeteredInterval))
		if st := l.state("ispb"); !st.Metered {
			b.Fatalf("ispb is not on its budget: %+v", st)
		}
		b.ReportMetric(normal, "bytes/day-default")
		b.ReportMetric(metered, "bytes/day-metered")
		b.Logf("probe traffic per uplink per day: %s at the defaults (two targets, 1 s), %s metered while idle (one target, %s): %.0f× less",
			config.FormatBytes(uint64(normal)), config.FormatBytes(uint64(metered)), config.DefaultMeteredInterval, normal/max(metered, 1))
	}
}
