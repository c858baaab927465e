package main

import (
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/pathpin/pathpin/internal/netnstest"
	"github.com/pathpin/pathpin/internal/stats"
)

// BenchmarkDiscoverSession times `pathpin discover --session --keep` and
// rp-pppoe's `pppoe -d` against the same pppoe-server, alternating, and
// reports both medians and their ratio (target: pathpin ≤ 1.2× rp-pppoe).
// Every session is closed with PADT between runs, outside the timing.
func BenchmarkDiscoverSession(b *testing.B) {
	netnstest.RequireRoot(b, "pppoe-server", "pppoe")
	client, isp := netnstest.New(b), netnstest.New(b)
	netnstest.Veth(b, client, "wan0", isp, "isp0")
	isp.StartPPPoEServer(netnstest.PPPoEServer{Interface: "isp0", ACName: "bench-ac", Service: "isp", RecordSessions: true})
	bin := netnstest.Binary(b)

	const rounds = 25
	tools := []struct {
		name string
		argv []string
	}{
		{"pathpin", []string{bin, "discover", "-i", "wan0", "--service", "isp", "--session", "--keep"}},
		{"rp-pppoe", []string{"pppoe", "-I", "wan0", "-S", "isp", "-d"}},
	}
	times := make([][]time.Duration, len(tools))
	for i := 0; i < b.N; i++ {
		for r := 0; r < rounds; r++ {
			for k, tool := range tools {
				var out []byte
				var err error
				start := time.Now()
				// Started from a thread inside the namespace: no `ip netns exec`
				// in the measured time.
				client.Do(func() { out, err = exec.Command(tool.argv[0], tool.argv[1:]...).Output() })
				elapsed := time.Since(start)
				sess := strings.TrimSpace(string(out))
				if err != nil || !strings.Contains(sess, ":") {
					b.Fatalf("%s: %v: %q", tool.name, err, out)
				}
				times[k] = append(times[k], elapsed)
				sid, mac, _ := strings.Cut(sess, ":")
				client.Run(bin, "padt", "-i", "wan0", "--session", sid, "--ac", mac)
			}
		}
	}
	pp, rp := stats.Median(times[0]), stats.Median(times[1])
	b.ReportMetric(stats.Ms(pp), "pathpin-median-ms")
	b.ReportMetric(stats.Ms(rp), "rp-pppoe-median-ms")
	b.ReportMetric(stats.Ratio(pp, rp), "pathpin/rp-pppoe")
	b.Logf("discovery to PADS, median of %d each: pathpin %s, rp-pppoe pppoe -d %s, ratio %.2f (target ≤ 1.2)",
		len(times[0]), pp.Round(10*time.Microsecond), rp.Round(10*time.Microsecond), stats.Ratio(pp, rp))
}
