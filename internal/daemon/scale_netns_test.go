package daemon

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/pathpin/pathpin/internal/config"
	"github.com/pathpin/pathpin/internal/conntrack"
	"github.com/pathpin/pathpin/internal/stats"
	"github.com/pathpin/pathpin/internal/status"
	"github.com/pathpin/pathpin/uplink"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// timeCmd runs a command in the router namespace and returns how long it
// took, its output discarded.
func (l *failoverLab) timeCmd(name string, args ...string) time.Duration {
	l.t.Helper()
	cmd := l.Router.Command(name, args...)
	start := time.Now()
	if err := cmd.Run(); err != nil {
		l.t.Fatalf("%s: %v", name, err)
	}
	return time.Since(start)
}

var flushTook = regexp.MustCompile(`msg="connections deleted" what="uplink ispa's connections" took=(\S+)`)

// firstFlush is how long the first delete of ispa's connections logged
// after offset took (the fast switch's; the one after the apply finds
// few left).
func (l *failoverLab) firstFlush(offset int) time.Duration {
	text := l.logText()
	if offset > len(text) {
		return 0
	}
	m := flushTook.FindStringSubmatch(text[offset:])
	if m == nil {
		return 0
	}
	d, _ := time.ParseDuration(m[1])
	return d
}

// flowsOf counts the router's conntrack entries with a mark.
func (l *failoverLab) flowsOf(mark uint32) int {
	var n int
	var err error
	l.Router.Do(func() { n, err = conntrack.CountMark(mark, 0xff00) })
	if err != nil {
		l.t.Fatal(err)
	}
	return n
}

// waitFlows waits until status counts want flows on ispa (ispb also
// carries the probes' own, which come and go), and returns how long that
// took.
func (l *failoverLab) waitFlows(want int, limit time.Duration) time.Duration {
	l.t.Helper()
	start := time.Now()
	for {
		n := l.state("ispa").Flows
		if n != nil && *n == want {
			return time.Since(start)
		}
		if time.Since(start) > limit {
			l.t.Fatalf("status counts %v flows on ispa after %s, want %d", deref(n), limit, want)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// waitFlushes waits until n deletes of ispa's connections are logged
// after offset: a lost uplink's are two, the fast switch's and the one
// after the apply.
func (l *failoverLab) waitFlushes(offset, n int, limit time.Duration) {
	l.t.Helper()
	for deadline := time.Now().Add(limit); len(flushTook.FindAllString(l.logText()[offset:], -1)) < n; time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			l.t.Fatalf("%d deletes of ispa's connections were not logged after %s:\n%s", n, limit, l.logText()[offset:])
		}
	}
}

// BenchmarkScale: a busy home's conntrack table (1k, 10k, 50k, 100k UDP
// flows from LAN clients, half on each uplink) under a running daemon.
// Side by side at each size: `pathpin status --json` (the whole command)
// and `conntrack -L -o id` (the kernel's dump, printed), both run the same
// way in the router's namespace (target ≤ 0.5×), once status counts the
// new flows (the daemon keeps its counts from conntrack events; how long
// after the flows were in is reported too); in process, one dump counted
// as it arrives (what the daemon does at start and after lost events) and
// the kernel's own mark filter (one filtered dump per uplink). At 100k: the daemon's RSS after 20
// status requests (target ≤ 20 MB), and what does not grow with the
// table: a plan's reads and the probes' RTT. Carrier loss with 50k
// connections on the dying uplink, once status counts them (which also
// checks that the counts come right within 30 s of the mass delete before):
// the switch, next to the idle switch measured in the same run (target
// ≤ 2×), and the delete's own duration.
func BenchmarkScale(b *testing.B) {
	l := newFailoverLab(b, 1, 0, fastHealth)
	cfg, err := config.Load(l.cfg)
	if err != nil {
		b.Fatal(err)
	}
	const rounds = 7
	switchRounds := func(n int) (switched, flushed []time.Duration) {
		for r := 0; r < 5; r++ {
			if n > 0 {
				l.Router.AddFlows(n, 0, 0x100)
				// The cable goes once the daemon has taken the new
				// entries' events (status counts them), not while it is.
				l.waitFlows(n, 30*time.Second)
			}
			offset := len(l.logText())
			got, _ := carrierLossSwitch(b, l)
			switched = append(switched, got)
			if n > 0 {
				deadline := time.Now().Add(10 * time.Second)
				for l.flowsOf(0x100) > 0 || l.firstFlush(offset) == 0 {
					if time.Now().After(deadline) {
						b.Fatalf("ispa's %d connections were not deleted:\n%s", n, l.logText())
					}
					time.Sleep(10 * time.Millisecond)
				}
				flushed = append(flushed, l.firstFlush(offset))
			}
			setLink(l.ISPs[0], "cpe", true)
			l.waitState("ispa", "up", 10*time.Second)
			var err2 error
			l.Router.Do(func() { err2 = conntrack.DeleteMark(0x100, 0xff00) })
			if err2 != nil {
				b.Fatal(err2)
			}
		}
		return switched, flushed
	}
	plan := func() time.Duration {
		var d time.Duration
		l.Router.Do(func() {
			h, err := netlink.NewHandle(unix.NETLINK_ROUTE)
			if err != nil {
				b.Fatal(err)
			}
			defer h.Close()
			fw, err := uplink.OpenTables()
			if err != nil {
				b.Fatal(err)
			}
			e := &uplink.Engine{NL: h, Tables: fw, Sysctl: uplink.NewProcSys(), StateDir: l.runDir}
			defer e.Close()
			var times []time.Duration
			for i := 0; i < rounds; i++ {
				start := time.Now()
				if _, err := e.Plan(context.Background(), uplink.Input{Config: cfg}); err != nil {
					b.Fatal(err)
				}
				times = append(times, time.Since(start))
			}
			d = stats.Median(times)
		})
		return d
	}
	rtt := func() float64 {
		var xs []float64
		for i := 0; i < 5; i++ {
			if u := l.state("ispb"); u.RTTMillis != nil {
				xs = append(xs, *u.RTTMillis)
			}
			time.Sleep(120 * time.Millisecond)
		}
		return stats.MedianFloat(xs)
	}

	idleSwitch, _ := switchRounds(0)
	idlePlan, idleRTT := plan(), rtt()
	have := 0
	var lines []string
	for i := 0; i < b.N; i++ {
		for _, size := range []int{1000, 10000, 50000, 100000} {
			l.Router.AddFlows((size-have)/2, have, 0x100)
			l.Router.AddFlows((size-have)/2, have+(size-have)/2, 0x200)
			have = size
			settled := l.waitFlows(size/2, 30*time.Second)
			var st, ct, one, filtered []time.Duration
			for r := 0; r < rounds; r++ {
				st = append(st, l.timeCmd(l.bin, "status", "--json", "-c", l.cfg, "--state-dir", l.runDir))
				ct = append(ct, l.timeCmd("conntrack", "-L", "-o", "id"))
				l.Router.Do(func() {
					start := time.Now()
					if _, err := conntrack.CountByMark(0xff00); err != nil {
						b.Fatal(err)
					}
					one = append(one, time.Since(start))
					start = time.Now()
					for _, m := range []uint32{0x100, 0x200} {
						if _, err := conntrack.CountMark(m, 0xff00); err != nil {
							b.Fatal(err)
						}
					}
					filtered = append(filtered, time.Since(start))
				})
			}
			ratio := stats.Ratio(stats.Median(st), stats.Median(ct))
			b.ReportMetric(ratio, fmt.Sprintf("status/conntrack-%dk", size/1000))
			lines = append(lines, fmt.Sprintf("%dk: status --json %s, conntrack -L -o id %s (%.2f×); in process one dump counted %s, kernel filter per uplink %s; status right %s after the flows were in",
				size/1000, stats.Median(st).Round(10*time.Microsecond), stats.Median(ct).Round(10*time.Microsecond), ratio,
				stats.Median(one).Round(10*time.Microsecond), stats.Median(filtered).Round(10*time.Microsecond), settled.Round(time.Millisecond)))
		}
	}
	// The heap after 20 status requests at 100k.
	for i := 0; i < 20; i++ {
		out, err := l.Router.Command(l.bin, "status", "--json", "-c", l.cfg, "--state-dir", l.runDir).Output()
		var r status.Report
		if err != nil || json.Unmarshal(out, &r) != nil {
			b.Fatalf("status: %v", err)
		}
	}
	rss := rssKiB(b, l.up.Pid)
	// pathpin web's /metrics at 100k: the scrape's time, and the daemon's
	// CPU per scrape (its report; the web process turns it into metrics).
	startWeb(b, l, l.cfg, "10.0.0.1:9430", "root")
	web := httpIn(l.Client)
	var scrapes []time.Duration
	cpu0 := cpuTime(b, l.up.Pid)
	for i := 0; i < 20; i++ {
		start := time.Now()
		r, err := web.Get("http://10.0.0.1:9430/metrics")
		if err != nil {
			b.Fatal(err)
		}
		body, _ := io.ReadAll(r.Body)
		r.Body.Close()
		if !strings.Contains(string(body), `pathpin_uplink_flows{uplink="ispa"} 5`) {
			b.Fatalf("a scrape at 100k:\n%s", body)
		}
		scrapes = append(scrapes, time.Since(start))
	}
	scrapeCPU := (cpuTime(b, l.up.Pid) - cpu0) / 20
	b.ReportMetric(stats.Ms(stats.Median(scrapes)), "scrape-100k-ms")
	lines = append(lines, fmt.Sprintf("/metrics at 100k: median %s, max %s over 20 scrapes; the daemon's CPU %s per scrape (10 ms ticks)",
		stats.Median(scrapes).Round(10*time.Microsecond), stats.Percentile(scrapes, 100).Round(10*time.Microsecond), scrapeCPU))
	busyPlan, busyRTT := plan(), rtt()
	b.ReportMetric(float64(rss)/1024, "rss-100k-MiB")

	// Carrier loss with 50k of ispa's connections in the table.
	l.Router.Do(func() {
		for _, m := range []uint32{0x100, 0x200} {
			if err := conntrack.DeleteMark(m, 0xff00); err != nil {
				b.Fatal(err)
			}
		}
	})
	busySwitch, flushed := switchRounds(50000)
	switchRatio := stats.Ratio(stats.Median(busySwitch), stats.Median(idleSwitch))
	b.ReportMetric(switchRatio, "switch-50k/idle")
	b.Logf("tracked connections, median of %d:\n  %s", rounds, strings.Join(lines, "\n  "))
	b.Logf("daemon RSS after 20 status requests at 100k: %.1f MiB (target ≤ 20 MB)", float64(rss)/1024)
	b.Logf("independent of the table: a plan's reads %s idle, %s at 100k; probe RTT %.3f ms idle, %.3f ms at 100k",
		idlePlan.Round(time.Microsecond), busyPlan.Round(time.Microsecond), idleRTT, busyRTT)
	b.Logf("carrier loss → switched, median of 5: idle %s, with 50k connections on the dying uplink %s (%.2f×, target ≤ 2); their delete took %s (median), after the switch",
		stats.Median(idleSwitch).Round(10*time.Microsecond), stats.Median(busySwitch).Round(10*time.Microsecond), switchRatio, stats.Median(flushed).Round(100*time.Microsecond))
}
