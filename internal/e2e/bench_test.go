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

// TestBenchPPP is `make bench`'s VM part. Side by side, in one run, to the
// same endpoint — the first new client connection carried by the PPP
// uplink, polled the same way — with the same discovery timers (1 s
// initial wait):
//   - pppd alone (its own discovery, the PPPoE plugin) with the ip-up
//     script people write: a default route and a MASQUERADE rule;
//   - pathpin up, from start;
//   - and, within pathpin's run, pppd's ip-up to that connection.
func TestBenchPPP(t *testing.T) {
	if os.Getenv("PATHPIN_BENCH") == "" {
		t.Skip("skipping: runs with make bench")
	}
	requireVM(t)
	s := newSeed(t)
	s.upArgs = []string{"--discovery-initial-timeout", "1s"}
	const rounds = 5
	var alone, routed, carrying []time.Duration
	script := filepath.Join(s.dir, "ip-up")
	if err := os.WriteFile(script, []byte("#!/bin/sh\nip route replace default dev \"$1\"\niptables -t nat -A POSTROUTING -o \"$1\" -j MASQUERADE\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	for r := 0; r < rounds; r++ {
		// pppd alone on a VLAN made by hand.
		s.router.Run("ip", "link", "add", "link", "eth1", "name", "eth1.1000", "type", "vlan", "id", "1000")
		s.router.Run("ip", "link", "set", "eth1.1000", "up")
		s.router.WaitCarrier("eth1.1000")
		s.router.Run("sysctl", "-qw", "net.ipv4.ip_forward=1")
		start := time.Now()
		cmd := s.router.Command("pppd", "plugin", "pppoe.so", "nic-eth1.1000", "user", "cpeuser", "password", "cpe pass",
			"pppoe-padi-timeout", "1", "noauth", "noipdefault", "nodefaultroute", "nodetach", "ifname", "ppp9", "ip-up-script", script,
			"lcp-echo-interval", "1", "lcp-echo-failure", "3")
		var out strings.Builder
		cmd.Stdout, cmd.Stderr = &out, &out
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		s.waitCarriedByPPP()
		alone = append(alone, time.Since(start))
		_ = cmd.Process.Signal(syscall.SIGTERM)
		_ = cmd.Wait()
		s.router.Run("iptables", "-t", "nat", "-F", "POSTROUTING")
		s.router.Run("sysctl", "-qw", "net.ipv4.ip_forward=0")
		s.router.Run("ip", "link", "del", "eth1.1000")
		s.waitFor("the AC to close pppd's session", 20*time.Second, func() bool { return len(s.acSessions()) == 0 })

		// pathpin up.
		start = time.Now()
		s.startPathpin()
		s.waitCarriedByPPP()
		routed = append(routed, time.Since(start))
		carrying = append(carrying, time.Since(ipUpTime(t, s.logText())))
		_ = s.up.Signal(os.Interrupt)
		_, _ = s.up.Wait()
		s.waitFor("the AC to close pathpin's session", 20*time.Second, func() bool { return len(s.acSessions()) == 0 })
	}
	a, r, c := stats.Median(alone), stats.Median(routed), stats.Median(carrying)
	fmt.Printf("BENCH-VM median of %d, start → first new client connection carried by PPP: pppd alone %s; pathpin up %s (%.2f× pppd alone); pathpin ip-up → that connection %s\n",
		rounds, a.Round(time.Millisecond), r.Round(time.Millisecond), stats.Ratio(r, a), c.Round(time.Millisecond))
}

// waitCarriedByPPP dials from the client until the server sees a PPP
// address (100.64.0.0/24): the same poll for pppd alone and for pathpin.
func (s *seed) waitCarriedByPPP() {
	s.t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		// A dial whose SYN was lost would wait for the kernel's one-second
		// retransmission: give up on it and dial afresh instead.
		c, err := s.client.DialSourceWithin(netnstest.ServerAddr+":80", 100*time.Millisecond)
		if err == nil {
			c.Close()
			if strings.HasPrefix(c.First, "100.64.0.") {
				return
			}
		}
		time.Sleep(5 * time.Millisecond)
	}
	s.t.Fatalf("no client connection was carried by PPP within 60s\n%s", s.logText())
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
