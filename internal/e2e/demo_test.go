package e2e

import (
	"fmt"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/pathpin/pathpin/internal/netnstest"
)

// TestDemo is `make demo`: the seed topology working, narrated. It runs
// only when PATHPIN_DEMO is set.
func TestDemo(t *testing.T) {
	if os.Getenv("PATHPIN_DEMO") == "" {
		t.Skip("skipping: the demo runs with make demo")
	}
	requireVM(t)
	say := func(format string, args ...any) { fmt.Printf(format+"\n", args...) }
	step := func(title string) { say("\n\033[1m== %s\033[0m", title) }
	s := newSeed(t)

	step("the lab: a LAN client, the router, two ISPs and a server behind both")
	say("  client 10.0.0.2 ── eth1 (LAN, untagged) router ── eth1.1000 (VLAN) ── ISP A: PPPoE access concentrator (CHAP)")
	say("                                           router ── eth0 192.168.1.2 ── ISP B: router 192.168.1.254")
	say("  server %s sees which uplink a connection used by its source address", netnstest.ServerAddr)

	step("pathpin's configuration (examples/seed.yaml, adapted to the lab)")
	cfg, _ := os.ReadFile(s.cfg)
	say("%s", strings.TrimSpace(string(cfg)))

	step("pathpin discover -i eth1.1000, before pathpin up (the VLAN made by hand)")
	s.router.Run("ip", "link", "add", "link", "eth1", "name", "eth1.1000", "type", "vlan", "id", "1000")
	s.router.Run("ip", "link", "set", "eth1.1000", "up")
	s.router.WaitCarrier("eth1.1000")
	say("%s", strings.TrimSpace(s.router.Run(s.bin, "discover", "-i", "eth1.1000")))
	s.router.Run("ip", "link", "del", "eth1.1000")

	step("pathpin up: VLAN, discovery, pppd on pathpin's own session, ip-up hook")
	start := time.Now()
	s.startPathpin()
	s.waitFor("the PPP uplink", 60*time.Second, func() bool { return s.pppAddress() != "" })
	addr := s.pppAddress()
	s.waitFor("both uplinks routed", 20*time.Second, func() bool { return s.routed(addr) })
	say("both uplinks routed %s after start; PPP address %s", time.Since(start).Round(10*time.Millisecond), addr)
	interesting := regexp.MustCompile(`PPPoE session established|pppd started|pppd ip-up|uplinks changed|msg=ready`)
	for _, line := range strings.Split(s.logText(), "\n") {
		if interesting.MatchString(line) {
			say("  log: %s", regexp.MustCompile(`^time=\S+ level=\S+ `).ReplaceAllString(line, ""))
		}
	}

	step("ip rule (pathpin's priorities 10000-10999)")
	say("%s", strings.TrimSpace(s.router.Run("ip", "rule")))
	step("ip route show table 101 (talktalk) and 102 (plusnet)")
	say("%s\n%s", strings.TrimSpace(s.router.Run("ip", "route", "show", "table", "101")), strings.TrimSpace(s.router.Run("ip", "route", "show", "table", "102")))
	step("nft list table ip pathpin: marks, balance by weight, MSS, NAT (one atomic table)")
	say("%s", strings.TrimSpace(pathpinTable(s.router.Run)))

	step("60 new connections from the client, and 10 long-lived ones asked again")
	counts := map[string]int{}
	var long []*netnstest.SourceConn
	for i := 0; i < 60; i++ {
		c, err := s.client.DialSource(netnstest.ServerAddr + ":80")
		if err != nil {
			t.Fatal(err)
		}
		counts[c.First]++
		if i < 10 {
			long = append(long, c)
		} else {
			c.Close()
		}
	}
	say("the server saw: %d from %s (PPP, plusnet), %d from 192.168.1.2 (talktalk)", counts[addr], addr, counts["192.168.1.2"])
	moved := 0
	for _, c := range long {
		if src, err := c.Ask(); err != nil || src != c.First {
			moved++
		}
		c.Close()
	}
	say("long-lived connections that changed uplink: %d of %d", moved, len(long))

	step("pathpin stops (SIGTERM): pppd ends the session, pathpin removes its rules")
	_ = s.up.Signal(os.Interrupt)
	_, _ = s.up.Wait()
	say("pathpin rules left: %d", strings.Count(s.router.Run("ip", "rule"), "lookup 10"))
	say("\ndone.")
}
