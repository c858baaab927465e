package daemon

import (
	"fmt"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pathpin/pathpin/internal/netnstest"
	"github.com/pathpin/pathpin/internal/stats"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// firstSwitched dials from the client every millisecond from t0 on and
// returns how long after t0 the first dial started whose connection went
// through want, and after which every dial did.
func firstSwitched(l *failoverLab, t0 time.Time, want string, limit time.Duration) (time.Duration, error) {
	type result struct {
		start time.Time
		src   string
	}
	var mu sync.Mutex
	var results []result
	var wg sync.WaitGroup
	stop := make(chan struct{})
	found := make(chan struct{}, 1)
	// The dialler adds to wg; it is done before anyone waits on wg.
	dialler := make(chan struct{})
	go func() {
		defer close(dialler)
		t := time.NewTicker(time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-stop:
				return
			case <-t.C:
			}
			wg.Add(1)
			go func(start time.Time) {
				defer wg.Done()
				c, err := l.Client.Dial(netnstest.ServerAddr+":80", 300*time.Millisecond)
				src := ""
				if err == nil {
					buf := make([]byte, 32)
					_ = c.SetDeadline(time.Now().Add(300 * time.Millisecond))
					n, _ := c.Read(buf)
					src = strings.TrimSpace(string(buf[:n]))
					c.Close()
				}
				mu.Lock()
				results = append(results, result{start, src})
				mu.Unlock()
				if src == want {
					select {
					case found <- struct{}{}:
					default:
					}
				}
			}(time.Now())
		}
	}()
	select {
	case <-found:
	case <-time.After(limit):
	}
	time.Sleep(50 * time.Millisecond) // let dials started just before settle
	close(stop)
	<-dialler
	wg.Wait()
	// The switch is at the earliest start after which no dial went elsewhere.
	var switched time.Time
	for _, r := range results {
		if r.src == want && (switched.IsZero() || r.start.Before(switched)) {
			switched = r.start
		}
	}
	if switched.IsZero() {
		return 0, fmt.Errorf("no connection went through %s within %s", want, limit)
	}
	for _, r := range results {
		if r.start.After(switched) && r.src != want && r.src != "" {
			switched = r.start
		}
	}
	return switched.Sub(t0), nil
}

// setLink sets the ISP's side of an uplink down or up through netlink, in
// process, so that no exec sits in the measured time.
func setLink(ns *netnstest.NS, name string, up bool) {
	ns.Do(func() {
		h, err := netlink.NewHandle(unix.NETLINK_ROUTE)
		if err != nil {
			panic(err)
		}
		defer h.Close()
		l, err := h.LinkByName(name)
		if err != nil {
			panic(err)
		}
		if up {
			_ = h.LinkSetUp(l)
		} else {
			_ = h.LinkSetDown(l)
		}
	})
}

// carrierLossSwitch takes ISP A's cable down (its side, in process) and
// returns how long until new connections went through ISP B, and when the
// cable went.
func carrierLossSwitch(b testing.TB, l *failoverLab) (time.Duration, time.Time) {
	t0 := time.Now()
	setLink(l.ISPs[0], "cpe", false)
	got, err := firstSwitched(l, t0, l.UplinkAddrs[1], 3*time.Second)
	if err != nil {
		b.Fatal(err)
	}
	return got, t0
}

// BenchmarkCarrierLossSwitch: ispA (weight 1) loses carrier; ispB is on
// standby. Time from the carrier loss until new connections go through
// ispB (the failover is one apply: the balance moves in one nftables
// transaction), next to the floor measured in the same run: the router's
// netlink event latency for the carrier loss plus one route change by
// netlink, no pathpin. Target ≤ 6× the floor.
func BenchmarkCarrierLossSwitch(b *testing.B) {
	l := newFailoverLab(b, 1, 0, fastHealth)
	const rounds = 10
	var switched, event, route []time.Duration
	for i := 0; i < b.N; i++ {
		for r := 0; r < rounds; r++ {
			// The floor's event half: a subscriber in the router namespace.
			updates := make(chan netlink.LinkUpdate, 16)
			done := make(chan struct{})
			l.Router.Do(func() {
				if err := netlink.LinkSubscribe(updates, done); err != nil {
					b.Fatal(err)
				}
			})
			received := make(chan time.Time, 1)
			go func() {
				for u := range updates {
					if u.Attrs().Name == "wan0" && u.Attrs().RawFlags&unix.IFF_LOWER_UP == 0 {
						received <- time.Now()
						return
					}
				}
			}()
			got, t0 := carrierLossSwitch(b, l)
			switched = append(switched, got)
			event = append(event, (<-received).Sub(t0))
			close(done)
			// The floor's route half: one route change by netlink.
			l.Router.Do(func() {
				h, _ := netlink.NewHandle(unix.NETLINK_ROUTE)
				defer h.Close()
				wan1, _ := h.LinkByName("wan1")
				gw := netip.MustParseAddr("192.168.2.254")
				start := time.Now()
				_ = h.RouteReplace(&netlink.Route{Table: 199, LinkIndex: wan1.Attrs().Index, Gw: gw.AsSlice()})
				route = append(route, time.Since(start))
				_ = h.RouteDel(&netlink.Route{Table: 199, LinkIndex: wan1.Attrs().Index, Gw: gw.AsSlice()})
			})
			setLink(l.ISPs[0], "cpe", true)
			l.waitState("ispa", "up", 10*time.Second)
		}
	}
	floor := make([]time.Duration, len(event))
	for i := range event {
		floor[i] = event[i] + route[i]
	}
	med, p90, fl := stats.Median(switched), stats.Percentile(switched, 90), stats.Median(floor)
	b.ReportMetric(stats.Ms(med), "switch-median-ms")
	b.ReportMetric(stats.Ms(p90), "switch-p90-ms")
	b.ReportMetric(stats.Ms(fl), "floor-median-ms")
	b.ReportMetric(stats.Ratio(med, fl), "switch/floor")
	b.Logf("carrier loss → new connections via the other uplink (one apply), %d rounds: median %s, p90 %s; floor (netlink event %s + route change %s) %s; %.2f× the floor (target ≤ 6)",
		rounds, med.Round(10*time.Microsecond), p90.Round(10*time.Microsecond), stats.Median(event).Round(10*time.Microsecond),
		stats.Median(route).Round(time.Microsecond), fl.Round(10*time.Microsecond), stats.Ratio(med, fl))
}

// BenchmarkSilentFailureSwitch: ispA starts dropping everything; with the
// default probe settings (1 s interval, 500 ms timeout, 3 misses), time
// until new connections go through ispB. Target ≤ 4 s.
func BenchmarkSilentFailureSwitch(b *testing.B) {
	l := newFailoverLab(b, 1, 0, "health:\n  targets: [203.0.113.10]\n")
	const rounds = 10
	var switched []time.Duration
	for i := 0; i < b.N; i++ {
		for r := 0; r < rounds; r++ {
			// A failure comes at any point of the probe interval: the
			// rounds spread it over one (the wait for "up" ends just
			// after a round, which would always make it the worst case).
			time.Sleep(time.Duration(r) * time.Second / rounds)
			t0 := time.Now()
			l.ISPs[0].Run("iptables", "-I", "FORWARD", "-j", "DROP")
			got, err := firstSwitched(l, t0, l.UplinkAddrs[1], 10*time.Second)
			if err != nil {
				b.Fatal(err)
			}
			switched = append(switched, got)
			l.ISPs[0].Run("iptables", "-D", "FORWARD", "-j", "DROP")
			l.waitState("ispa", "up", 15*time.Second)
		}
	}
	b.ReportMetric(stats.Ms(stats.Median(switched)), "switch-median-ms")
	b.Logf("silent failure → switch with the default probes, %d rounds: median %s, max %s; target ≤ 1.5s median",
		rounds, stats.Median(switched).Round(time.Millisecond), stats.Percentile(switched, 100).Round(time.Millisecond))
}

// BenchmarkDaemonFootprint: RSS of `pathpin up` with two uplinks after
// probing every 100 ms for $PATHPIN_FOOTPRINT_MINUTES (default 5), and
// CPU time per probe. Target RSS ≤ 20 MB.
func BenchmarkDaemonFootprint(b *testing.B) {
	minutes := 5.0
	if v, err := strconv.ParseFloat(os.Getenv("PATHPIN_FOOTPRINT_MINUTES"), 64); err == nil {
		minutes = v
	}
	l := newFailoverLab(b, 1, 1, "health:\n  targets: [203.0.113.10, 172.16.1.2]\n  interval: 100ms\n  timeout: 80ms\n")
	cpu0 := cpuTime(b, l.up.Pid)
	start := time.Now()
	time.Sleep(time.Duration(minutes * float64(time.Minute)))
	elapsed := time.Since(start)
	cpu := cpuTime(b, l.up.Pid) - cpu0
	rss := rssKiB(b, l.up.Pid)
	probes := float64(2*2) * elapsed.Seconds() / 0.1 // uplinks × targets × rounds
	b.ReportMetric(float64(rss)/1024, "rss-MiB")
	b.ReportMetric(float64(cpu.Microseconds())/probes, "cpu-us/probe")
	b.Logf("after %s of probing 2 uplinks × 2 targets every 100ms: RSS %.1f MiB (target ≤ 20 MB), CPU %s in all, %.0f µs per probe, %.1f%% of one core",
		elapsed.Round(time.Second), float64(rss)/1024, cpu.Round(time.Millisecond), float64(cpu.Microseconds())/probes, 100*cpu.Seconds()/elapsed.Seconds())
}

func cpuTime(b *testing.B, pid int) time.Duration {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		b.Fatal(err)
	}
	f := strings.Fields(string(data[strings.LastIndexByte(string(data), ')')+2:]))
	ut, _ := strconv.Atoi(f[11])
	st, _ := strconv.Atoi(f[12])
	return time.Duration(ut+st) * time.Second / 100 // USER_HZ
}

func rssKiB(b *testing.B, pid int) int {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		b.Fatal(err)
	}
	for _, line := range strings.Split(string(data), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			n, _ := strconv.Atoi(strings.TrimSuffix(strings.TrimSpace(v), " kB"))
			return n
		}
	}
	b.Fatal("no VmRSS")
	return 0
}
