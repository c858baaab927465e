package daemon

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pathpin/pathpin/internal/history"
	"github.com/pathpin/pathpin/internal/netnstest"
)

// eightUplinks is a router with eight static uplinks to one ISP
// namespace (each its own link and subnet) that answers probes on
// 198.51.100.1, and a LAN; step is the daemon's history step.
func eightUplinks(b *testing.B, step string) *failoverLab {
	router, isp, client := netnstest.New(b), netnstest.New(b), netnstest.New(b)
	netnstest.Veth(b, router, "lan0", client, "lan0")
	router.Run("ip", "addr", "add", "10.0.0.1/24", "dev", "lan0")
	isp.Run("ip", "addr", "add", "198.51.100.1/32", "dev", "lo")
	var cfg strings.Builder
	cfg.WriteString("lan:\n  interfaces: [lan0]\nhealth:\n  targets: [198.51.100.1]\nuplinks:\n")
	for i := range 8 {
		netnstest.Veth(b, router, fmt.Sprintf("wan%d", i), isp, fmt.Sprintf("cpe%d", i))
		router.Run("ip", "addr", "add", fmt.Sprintf("192.168.%d.2/24", i+1), "dev", fmt.Sprintf("wan%d", i))
		isp.Run("ip", "addr", "add", fmt.Sprintf("192.168.%d.254/24", i+1), "dev", fmt.Sprintf("cpe%d", i))
		fmt.Fprintf(&cfg, "  - {name: isp%d, interface: wan%d, gateway: 192.168.%d.254}\n", i, i, i+1)
	}
	dir := b.TempDir()
	l := &failoverLab{TwoISP: &netnstest.TwoISP{Router: router, Client: client}, t: b, bin: netnstest.Binary(b),
		cfg: filepath.Join(dir, "pathpin.yaml"), runDir: filepath.Join(dir, "run"), log: filepath.Join(dir, "pathpin.log")}
	if err := os.WriteFile(l.cfg, []byte(cfg.String()), 0o644); err != nil {
		b.Fatal(err)
	}
	l.start("--history-step", step)
	for i := range 8 {
		l.waitState(fmt.Sprintf("isp%d", i), "up", 20*time.Second)
	}
	return l
}

// BenchmarkHistoryRSS: the daemon's RSS with a full day of history for
// eight uplinks (points every 10 ms here, so the day's 1,440 fill in
// 15 s; JSON of history is asked for only after), side by side with the same router whose history holds nothing
// (a step of an hour), both after the same time. Target: at most 4 MiB
// more.
func BenchmarkHistoryRSS(b *testing.B) {
	for i := 0; i < b.N; i++ {
		empty, full := eightUplinks(b, "1h"), eightUplinks(b, "10ms")
		// The day's 1,440 points take 14.4 s; both run 20 s, nobody
		// asking either for anything meanwhile.
		time.Sleep(20 * time.Second)
		e, f := rssKiB(b, empty.up.Pid), rssKiB(b, full.up.Pid)
		h, err := QueryHistory(context.Background(), full.runDir)
		if err != nil || len(h.Uplinks) != 8 || len(h.Uplinks[7].Points) != history.Points {
			b.Fatalf("the history did not fill: %v", err)
		}
		for range 5 {
			if _, err := QueryHistory(context.Background(), full.runDir); err != nil {
				b.Fatal(err)
			}
		}
		asked := rssKiB(b, full.up.Pid)
		b.ReportMetric(float64(f-e)/1024, "history-rss-MiB")
		b.ReportMetric(float64(asked-e)/1024, "history-asked-rss-MiB")
		b.Logf("after 6 requests for the whole history (the page asks every 10 s): %.1f MiB, +%.1f MiB", float64(asked)/1024, float64(asked-e)/1024)
		b.Logf("RSS with a day of history for 8 uplinks %.1f MiB, with none %.1f MiB: +%.1f MiB (target ≤ 4)", float64(f)/1024, float64(e)/1024, float64(f-e)/1024)
	}
}
