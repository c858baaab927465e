package e2e

import (
	"os"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/pathpin/pathpin/internal/netnstest"
)

var dhcpLocal = regexp.MustCompile(`inet (192\.168\.1\.\d+)/24`)

// TestSeedTopologyDHCP is the seed with the static line replaced by DHCP:
// TalkTalk's router (dnsmasq) hands the router its address on eth0. Both
// uplinks carry connections, the lease renews, and stopping releases it
// and leaves the router as it was.
func TestSeedTopologyDHCP(t *testing.T) {
	requireVM(t)
	netnstest.RequireRoot(t, "dnsmasq")
	s := newSeed(t)
	s.router.Run("ip", "addr", "flush", "dev", "eth0")
	srv := s.ispb.StartDHCPServer(netnstest.DHCPServer{Interface: "cpe", Range: "192.168.1.100,192.168.1.150,255.255.255.0,2m",
		Router: "192.168.1.254", DNS: "192.168.1.254", T1: 5, T2: 8, Extra: []string{"--no-ping"}})
	cfg, err := os.ReadFile(s.cfg)
	if err != nil {
		t.Fatal(err)
	}
	dhcpCfg := strings.Replace(string(cfg), "    gateway: 192.168.1.254\n", "    dhcp:\n      hostname: pathpin\n", 1)
	if err := os.WriteFile(s.cfg, []byte(dhcpCfg), 0o644); err != nil {
		t.Fatal(err)
	}
	before := s.state()
	s.startPathpin()

	s.waitFor("the PPP uplink", 60*time.Second, func() bool { return s.pppAddress() != "" })
	ppp := s.pppAddress()
	leased := ""
	s.waitFor("the DHCP lease", 30*time.Second, func() bool {
		if m := dhcpLocal.FindStringSubmatch(s.router.Run("ip", "-4", "addr", "show", "dev", "eth0")); m != nil {
			leased = m[1]
		}
		return leased != ""
	})
	s.waitFor("both uplinks routed", 20*time.Second, func() bool {
		rules := s.router.Run("ip", "rule")
		return strings.Contains(rules, "from "+leased+" lookup 101") && strings.Contains(rules, "from "+ppp+" lookup 102") &&
			strings.Contains(pathpinTable(s.router.Run), `oifname "eth0" snat to `+leased)
	})
	if st := s.state(); !strings.Contains(st, "default via 192.168.1.254 dev eth0 table 101 src "+leased) {
		t.Fatalf("table 101 does not route by the lease's router:\n%s", st)
	}
	counts := map[string]int{}
	for i := 0; i < 60; i++ {
		c, err := s.client.DialSource(netnstest.ServerAddr + ":80")
		if err != nil {
			t.Fatalf("connection %d: %v", i, err)
		}
		counts[c.First]++
		c.Close()
	}
	if counts[ppp] < 10 || counts[leased] < 10 {
		t.Fatalf("60 connections went %v; want both the lease %s and PPP %s", counts, leased, ppp)
	}
	s.waitFor("a renewal", 20*time.Second, func() bool { return strings.Contains(s.logText(), "DHCP lease renewed") })
	t.Logf("DHCP lease %s, PPP address %s; connections %v", leased, ppp, counts)

	if err := s.up.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if _, err := s.up.Wait(); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(srv.LogText(), "DHCPRELEASE(cpe) "+leased) {
		t.Fatalf("the server saw no release of %s:\n%s", leased, srv.LogText())
	}
	if after := s.state(); after != before {
		t.Fatalf("after stopping, the router differs:\nbefore:\n%s\nafter:\n%s", before, after)
	}
}
