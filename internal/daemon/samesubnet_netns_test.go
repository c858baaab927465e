package daemon

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/pathpin/pathpin/internal/netnstest"
)

// TestDHCPAndStaticOnTheSameSubnetWithHostileRoutes: ISP A's router hands
// out 192.168.1.0/24 by DHCP, ISP B's is a static 192.168.1.254 on the
// same subnet, and ISP A's server adds option 121 routes a lease must not
// have: the LAN's subnet, the router's own address on ISP B, a router that
// is not on the link. Those are refused and named in status; the lease's
// good route is installed; both uplinks carry; stopping leaves the router
// as it was.
func TestDHCPAndStaticOnTheSameSubnetWithHostileRoutes(t *testing.T) {
	netnstest.RequireRoot(t, "dnsmasq", "conntrack")
	dir := t.TempDir()
	l := &failoverLab{TwoISP: netnstest.NewTwoISPSameSubnet(t), t: t, bin: netnstest.Binary(t),
		cfg: filepath.Join(dir, "pathpin.yaml"), runDir: filepath.Join(dir, "run"), log: filepath.Join(dir, "pathpin.log")}
	l.Router.Run("ip", "addr", "flush", "dev", "wan0")
	l.Router.Run("ip", "route", "add", "default", "via", "192.168.1.254", "dev", "wan1")
	// The server's way back to the leases, through ISP A.
	l.Server.Run("ip", "route", "add", "192.168.1.8/29", "via", "172.16.1.1")
	before := l.routerState()
	// Option 121 replaces option 3 (RFC 3442): the default goes in it too.
	routes := strings.Join([]string{
		"10.0.0.0/24,192.168.1.254",    // the LAN's subnet
		"192.168.1.3/32,192.168.1.254", // the router's own address on ISP B
		"198.51.100.0/24,10.20.30.1",   // a router that is not on the link
		"198.18.0.0/15,192.168.1.254",  // fine
		"0.0.0.0/0,192.168.1.254",
	}, ",")
	l.ISPs[0].StartDHCPServer(netnstest.DHCPServer{Interface: "cpe", Range: "192.168.1.10,192.168.1.14,255.255.255.0,2m",
		Router: "192.168.1.254", Extra: []string{"--no-ping", "--dhcp-option=option:classless-static-route," + routes}})
	cfg := dhcpAndStatic("192.168.1.254", fastHealth)
	if err := os.WriteFile(l.cfg, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	l.start()
	a := l.waitState("ispa", "up", 15*time.Second)
	l.waitState("ispb", "up", 10*time.Second)
	for _, want := range []string{
		"option 121 route 10.0.0.0/24 via 192.168.1.254 from ispa's DHCP lease refused: it overlaps the LAN's subnet 10.0.0.0/24",
		"option 121 route 192.168.1.3/32 via 192.168.1.254 from ispa's DHCP lease refused: it holds the router's own address 192.168.1.3",
		"option 121 route 198.51.100.0/24 via 10.20.30.1 from ispa's DHCP lease refused: the router 10.20.30.1 is not on the lease's link",
	} {
		if !slices.ContainsFunc(a.RefusedRoutes, func(r string) bool { return strings.HasPrefix(r, want) }) {
			t.Errorf("status does not name the refused route %q; it has %q", want, a.RefusedRoutes)
		}
		if !strings.Contains(l.logText(), want) {
			t.Errorf("the log does not name the refused route %q", want)
		}
	}
	if len(a.RefusedRoutes) != 3 {
		t.Errorf("refused routes: %q, want the three hostile ones", a.RefusedRoutes)
	}
	table := l.Router.Run("ip", "route", "show", "table", "101")
	if !strings.Contains(table, "198.18.0.0/15 via 192.168.1.254 dev wan0") || strings.Contains(table, "10.0.0.0/24 via") || strings.Contains(table, "198.51.100.0/24") {
		t.Errorf("ispa's table holds the wrong lease routes:\n%s", table)
	}
	leased := a.Local
	// The LAN stays closed to the DHCP uplink's side.
	netnstest.ServeSourceAddress(l.Client.Listen("10.0.0.2:80"))
	l.ISPs[0].Run("ip", "route", "add", "10.0.0.0/24", "via", leased)
	if c, err := l.ISPs[0].DialSourceWithin("10.0.0.2:80", 500*time.Millisecond); err == nil {
		c.Close()
		t.Error("the DHCP uplink's side reached a LAN client through the router")
	}
	got := l.connect(200)
	if got[leased] == 0 || got[l.UplinkAddrs[1]] == 0 || got[leased]+got[l.UplinkAddrs[1]] != 200 {
		t.Fatalf("new connections went %v; want both %s (ispa's lease) and %s", got, leased, l.UplinkAddrs[1])
	}
	l.stop()
	if diff := cmp.Diff(before, l.routerState()); diff != "" {
		t.Fatalf("stopping pathpin did not leave the router as it was (-before +after):\n%s", diff)
	}
}
