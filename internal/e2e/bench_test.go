package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/pathpin/pathpin/internal/netnstest"
	"github.com/pathpin/pathpin/internal/stats"
)

// TestBenchPPP is `make bench`'s VM part. Side by side, in one run:
//   - pppd alone (its own discovery, rp-pppoe plugin): start to ip-up;
//   - pathpin up: start to both uplinks routed;
//   - pathpin: pppd's ip-up to the PPP uplink carrying a new connection.
func TestBenchPPP(t *testing.T) {
	if os.Getenv("PATHPIN_BENCH") == "" {
		t.Skip("skipping: runs with make bench")
	}
	requireVM(t)
	s := newSeed(t)
	const rounds = 5
	var alone, routed, carrying []time.Duration
	marker := filepath.Join(s.dir, "ip-up-ran")
	script := filepath.Join(s.dir, "ip-up")
	if err := os.WriteFile(script, []byte("#!/bin/sh\n: > "+marker+"\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	for r := 0; r < rounds; r++ {
		// pppd alone on a VLAN made by hand.
		s.router.Run("ip", "link", "add", "link", "eth1", "name", "eth1.1000", "type", "vlan", "id", "1000")
		s.router.Run("ip", "link", "set", "eth1.1000", "up")
		s.router.WaitCarrier("eth1.1000")
		os.Remove(marker)
		start := time.Now()
		cmd := s.router.Command("pppd", "plugin", "pppoe.so", "nic-eth1.1000", "user", "cpeuser", "password", "cpe pass",
			"noauth", "noipdefault", "nodefaultroute", "nodetach", "ifname", "ppp9", "ip-up-script", script,
			"lcp-echo-interval", "1", "lcp-echo-failure", "3")
		var out strings.Builder
		cmd.Stdout, cmd.Stderr = &out, &out
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		for _, err := os.Stat(marker); err != nil; _, err = os.Stat(marker) {
			if time.Since(start) > 60*time.Second {
				t.Fatalf("pppd alone never ran ip-up:\n%s", out.String())
			}
			time.Sleep(5 * time.Millisecond)
		}
		alone = append(alone, time.Since(start))
		_ = cmd.Process.Signal(syscall.SIGTERM)
		_ = cmd.Wait()
		s.router.Run("ip", "link", "del", "eth1.1000")
		s.waitFor("the AC to close pppd's session", 20*time.Second, func() bool { return len(s.acSessions()) == 0 })

		// pathpin up.
		start = time.Now()
		s.startPathpin()
		s.waitFor("both uplinks routed", 60*time.Second, func() bool { a := s.pppAddress(); return a != "" && s.routed(a) })
		routed = append(routed, time.Since(start))
		addr := s.pppAddress()
		for {
			c, err := s.client.DialSource(netnstest.ServerAddr + ":80")
			if err == nil {
				c.Close()
				if c.First == addr {
					break
				}
			}
		}
		carried := time.Now()
		up := ipUpTime(t, s.logText())
		carrying = append(carrying, carried.Sub(up))
		_ = s.up.Signal(os.Interrupt)
		_, _ = s.up.Wait()
		s.waitFor("the AC to close pathpin's session", 20*time.Second, func() bool { return len(s.acSessions()) == 0 })
	}
	a, r, c := stats.Median(alone), stats.Median(routed), stats.Median(carrying)
	fmt.Printf("BENCH-VM median of %d: pppd alone start→ip-up %s; pathpin start→both uplinks routed %s (%.2f× pppd alone); pathpin ip-up→PPP carrying new connections %s\n",
		rounds, a.Round(time.Millisecond), r.Round(time.Millisecond), stats.Ratio(r, a), c.Round(time.Millisecond))
}

var timeField = regexp.MustCompile(`time=(\S+)`)

// ipUpTime is when the daemon logged the last ip-up.
func ipUpTime(t *testing.T, log string) time.Time {
	var last string
	for _, line := range strings.Split(log, "\n") {
		if strings.Contains(line, "pppd ip-up") {
			if m := timeField.FindStringSubmatch(line); m != nil {
				last = m[1]
			}
		}
	}
	ts, err := time.Parse(time.RFC3339Nano, last)
	if err != nil {
		t.Fatalf("no ip-up in the log (%v):\n%s", err, log)
	}
	return ts
}
