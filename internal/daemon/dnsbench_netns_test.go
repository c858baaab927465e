package daemon

import (
	"fmt"
	"os"
	"slices"
	"testing"
	"time"

	"github.com/pathpin/pathpin/internal/stats"
)

// TestBenchDNSQueue measures what holding an answer in pathpin's queue
// adds to a lookup: the same lookup of the same resolver, through the
// same router, on port 53 (queued: its addresses go into the set first)
// and on port 5353 (a second listener of the same dnsmasq configuration,
// whose answers no rule queues), alternating in the same run. Each
// lookup is of a name whose answer's address is fresh to the set, so
// every queued answer is a fill. p50 and p99 of each side. Run by make
// bench, in the VM (its kernel has the nft queue).
func TestBenchDNSQueue(t *testing.T) {
	if os.Getenv("PATHPIN_BENCH") == "" {
		t.Skip("skipping: a benchmark (make bench runs it, PATHPIN_BENCH=1)")
	}
	l := domainLab(t)
	args := []string{"--keep-in-foreground", "--no-resolv", "--no-hosts", "--conf-file=/dev/null", "--pid-file=" + t.TempDir() + "/b.pid",
		"--listen-address=" + resolver, "--bind-interfaces", "--port=5353", "--local-ttl=3"}
	for i := 1; i <= 100; i++ {
		args = append(args, fmt.Sprintf("--host-record=h%d.stream.example,%s", i, fresh(i)))
	}
	l.Server.Start("dnsmasq", args...)
	l.waitFor("the second listener", func() bool { _, a, _ := askPort(l.Client, resolver, 5353, "h1.stream.example"); return len(a) == 1 })
	var queued, direct []float64
	for round := 0; round < 10; round++ {
		for i := 1; i <= 100; i++ {
			port := []int{53, 5353}[(round+i)%2]
			start := time.Now()
			_, addrs, err := askPort(l.Client, resolver, port, fmt.Sprintf("h%d.stream.example", i))
			took := float64(time.Since(start).Microseconds()) / 1000
			if err != nil || len(addrs) != 1 {
				t.Fatalf("lookup on port %d: %v %v", port, addrs, err)
			}
			if port == 53 {
				queued = append(queued, took)
			} else {
				direct = append(direct, took)
			}
		}
		// Every address leaves the set again (TTL 3 s, kept min-ttl 5 s): the
		// next round's queued answers are fills again.
		l.waitFor("the set to empty", func() bool { return !inSet(l, "198.51.100.") })
	}
	p := func(xs []float64, q float64) float64 {
		s := slices.Clone(xs)
		slices.Sort(s)
		return s[min(len(s)-1, int(q*float64(len(s))))]
	}
	fmt.Printf("BENCH-DNS a lookup through the router, %d each: queued (filled into the set first) p50 %.2f ms p99 %.2f ms; not queued p50 %.2f ms p99 %.2f ms; added p50 %.2f ms, p99 %.2f ms (median ratio %.2f×)\n",
		len(queued), p(queued, 0.5), p(queued, 0.99), p(direct, 0.5), p(direct, 0.99), p(queued, 0.5)-p(direct, 0.5), p(queued, 0.99)-p(direct, 0.99),
		stats.MedianFloat(queued)/stats.MedianFloat(direct))
}
