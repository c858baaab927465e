package e2e

import (
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestColdStandbyPPPoE: the seed home with its PPPoE line as a cold
// standby. While the static line serves, the AC sees no PADI at all; when
// the static line dies the PPPoE line is dialled and carries the LAN's
// connections; once the static line is back and its failback hold has
// passed, the session is hung up (the AC runs none) and the standby is idle.
func TestColdStandbyPPPoE(t *testing.T) {
	requireVM(t)
	s := newSeed(t)
	events := filepath.Join(s.dir, "events")
	b, err := os.ReadFile(s.cfg)
	if err != nil {
		t.Fatal(err)
	}
	cfg := strings.Replace(string(b), "  - name: plusnet\n    weight: 1\n", "  - name: plusnet\n    standby: cold\n", 1)
	cfg = strings.Replace(cfg, "    weight: 1\n  - name: plusnet", "    weight: 1\n    failback: {hold: 3s}\n    health: {targets: [203.0.113.10], interval: 200ms, timeout: 150ms}\n  - name: plusnet", 1)
	cfg += "health:\n  on-change: [sh, -c, 'echo \"$PATHPIN_UPLINK $PATHPIN_FROM $PATHPIN_TO $PATHPIN_REASON\" >> " + events + "']\n"
	if !strings.Contains(cfg, "standby: cold") || !strings.Contains(cfg, "hold: 3s") {
		t.Fatalf("the configuration was not rewritten:\n%s", cfg)
	}
	if err := os.WriteFile(s.cfg, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	// Every PPPoE discovery frame that reaches the AC is counted.
	s.ispa.Run("nft", "add table netdev ac; add chain netdev ac in { type filter hook ingress device cpe.1000 priority 0; }; add rule netdev ac in ether type 0x8863 counter")
	padis := func() int {
		m := regexp.MustCompile(`counter packets (\d+)`).FindStringSubmatch(s.ispa.Run("nft", "list", "chain", "netdev", "ac", "in"))
		if m == nil {
			t.Fatal("no discovery counter at the AC")
		}
		n, _ := strconv.Atoi(m[1])
		return n
	}
	t0 := time.Now()
	s.startPathpin()
	s.waitFor("talktalk routed", 20*time.Second, func() bool { return strings.Contains(s.router.Run("ip", "rule"), "from 192.168.1.2 lookup 101") })
	// 20 s idle: longer than the start's grace and many probe rounds.
	s.waitFor("20 s of pathpin", 30*time.Second, func() bool { return time.Since(t0) > 20*time.Second })
	if n := padis(); n != 0 || len(s.acSessions()) != 0 || s.pppAddress() != "" {
		t.Fatalf("the cold standby was dialled while talktalk served: %d discovery frames at the AC, sessions %v", n, s.acSessions())
	}
	if got := sources(t, s, 10); got["192.168.1.2"] != 10 {
		t.Fatalf("while talktalk serves, connections went %v", got)
	}

	s.ispb.Run("ip", "link", "set", "cpe", "down")
	s.waitFor("the standby dialled", 60*time.Second, func() bool { return s.pppAddress() != "" })
	addr := s.pppAddress()
	s.waitFor("the standby routed", 20*time.Second, func() bool {
		return strings.Contains(pathpinTable(s.router.Run), `oifname "ppp1" masquerade`)
	})
	if padis() == 0 || len(s.acSessions()) != 1 {
		t.Fatalf("dialled without discovery at the AC? frames %d, sessions %v", padis(), s.acSessions())
	}
	if got := sources(t, s, 20); got[addr] != 20 {
		t.Fatalf("with talktalk dead, connections went %v; want all 20 by PPP %s", got, addr)
	}

	s.ispb.Run("ip", "link", "set", "cpe", "up")
	back := time.Now()
	s.waitFor("the standby hung up", 60*time.Second, func() bool { return len(s.acSessions()) == 0 && s.pppAddress() == "" })
	if held := time.Since(back); held < 3*time.Second {
		t.Errorf("the standby hung up %s after talktalk's link came back: before its hold of 3s", held)
	}
	if got := sources(t, s, 20); got["192.168.1.2"] != 20 {
		t.Fatalf("after failback, connections went %v", got)
	}
	b, _ = os.ReadFile(events)
	if !strings.Contains(string(b), "plusnet up standby cold standby taken down: talktalk is in service again") {
		t.Errorf("the on-change command was not told:\n%s", b)
	}
	// Idle again: no discovery for a while.
	frames := padis()
	s.waitFor("5 s more", 10*time.Second, func() bool { return time.Since(back) > 5*time.Second+3*time.Second })
	if n := padis(); n != frames {
		t.Errorf("%d discovery frames after the hang-up", n-frames)
	}
}

// sources opens n short client connections and counts their sources.
func sources(t *testing.T, s *seed, n int) map[string]int {
	t.Helper()
	out := map[string]int{}
	for i := 0; i < n; i++ {
		c, err := s.client.DialSource("203.0.113.10:80")
		if err != nil {
			t.Fatalf("connection %d: %v", i, err)
		}
		out[c.First]++
		c.Close()
	}
	return out
}
