package daemon

import (
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/pathpin/pathpin/internal/netnstest"
)

// newDHCPLab is the two-ISP lab with ISP A's router handing the router
// its address by DHCP (dnsmasq in ISP A's namespace): wan0 starts bare.
// T1 and T2 are the server's, in seconds.
func newDHCPLab(t testing.TB, t1, t2 int, weightB int) (*failoverLab, *netnstest.RunningDHCPServer) {
	netnstest.RequireRoot(t, "dnsmasq")
	l := prepareLab(t, 1, 1, "")
	l.Router.Run("ip", "addr", "flush", "dev", "wan0")
	srv := l.ISPs[0].StartDHCPServer(netnstest.DHCPServer{Interface: "cpe", Range: "192.168.1.10,192.168.1.20,255.255.255.0,2m",
		Router: "192.168.1.254", DNS: "192.168.1.53", T1: t1, T2: t2, Extra: []string{"--no-ping"}})
	cfg := `lan:
  interfaces: [lan0]
uplinks:
  - name: ispa
    interface: wan0
    weight: 1
    dhcp:
      hostname: pathpin-test
  - name: ispb
    interface: wan1
    gateway: 192.168.2.254
    weight: %d
`
	if err := os.WriteFile(l.cfg, []byte(fmt.Sprintf(cfg, weightB)), 0o644); err != nil {
		t.Fatal(err)
	}
	return l, srv
}

// dhcpAndStatic is the configuration of ispa by DHCP on wan0 and ispb
// static on wan1 by gatewayB, with extra appended.
func dhcpAndStatic(gatewayB, extra string) string {
	return `lan:
  interfaces: [lan0]
uplinks:
  - name: ispa
    interface: wan0
    dhcp: {}
  - name: ispb
    interface: wan1
    gateway: ` + gatewayB + "\n" + extra
}

// routerState is what pathpin may change on the router, as text.
var nftCounters = regexp.MustCompile(`counter packets \d+ bytes \d+`)

func (l *failoverLab) routerState() string {
	var b strings.Builder
	b.WriteString(l.Router.Links())
	b.WriteString(l.Router.Run("ip", "rule"))
	b.WriteString(l.Router.Run("ip", "route", "show", "table", "all"))
	// The usage counters count the renewal itself.
	b.WriteString(nftCounters.ReplaceAllString(l.Router.Run("nft", "list", "ruleset"), "counter"))
	b.WriteString(l.Router.Run("sysctl", "net.ipv4.ip_forward", "net.ipv4.conf.wan0.rp_filter", "net.ipv4.conf.wan1.rp_filter"))
	return b.String()
}

// waitLog waits until the daemon's log has n lines containing s.
func (l *failoverLab) waitLog(s string, n int, limit time.Duration) {
	l.t.Helper()
	deadline := time.Now().Add(limit)
	for strings.Count(l.logText(), s) < n {
		if time.Now().After(deadline) {
			l.t.Fatalf("the log has not %d× %q after %s:\n%s", n, s, limit, l.logText())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// dialVia keeps dialling until a connection leaves with source src.
func (l *failoverLab) dialVia(src string) *netnstest.SourceConn {
	l.t.Helper()
	for i := 0; i < 100; i++ {
		c, err := l.Client.DialSource(netnstest.ServerAddr + ":80")
		if err != nil {
			l.t.Fatal(err)
		}
		if c.First == src {
			return c
		}
		c.Close()
	}
	l.t.Fatalf("no connection left by %s", src)
	return nil
}

func inPrefix(t testing.TB, addr, prefix string) bool {
	t.Helper()
	a, err := netip.ParseAddr(addr)
	return err == nil && netip.MustParsePrefix(prefix).Contains(a)
}

// TestDHCPUplink: a lease routes the uplink and carries a share of new
// connections; a renewal changes nothing in the kernel; a server that
// comes back with another range refuses the lease (DHCPNAK), and the new
// lease moves the rules and NAT, deletes the old address's connections
// and leaves the other uplink's alone; stopping releases the lease and
// leaves the router as it was.
func TestDHCPUplink(t *testing.T) {
	l, srv := newDHCPLab(t, 4, 7, 1)
	before := l.routerState()
	l.start()
	u := l.waitState("ispa", "up", 15*time.Second)
	if !inPrefix(t, u.Local, "192.168.1.0/24") || u.Gateway != "192.168.1.254" || u.Lease == nil || u.Lease.State != "bound" ||
		u.Lease.Server != "192.168.1.254" || u.Lease.T1.Sub(u.Lease.Obtained) != 4*time.Second || len(u.Lease.DNS) != 1 {
		t.Fatalf("ispa after the lease: %+v %+v", u, u.Lease)
	}
	leased := u.Local
	if b, err := os.ReadFile(filepath.Join(l.runDir, "resolv.conf.ispa")); err != nil || !strings.Contains(string(b), "nameserver 192.168.1.53") {
		t.Fatalf("resolv.conf.ispa: %v %q", err, b)
	}
	if !strings.Contains(srv.LogText(), "pathpin-test") {
		t.Errorf("the server was not told the host name:\n%s", srv.LogText())
	}
	counts := l.connect(40)
	if counts[leased] == 0 || counts["192.168.2.2"] == 0 {
		t.Fatalf("new connections by source: %v, want both %s and 192.168.2.2", counts, leased)
	}

	// A renewal at T1 (4 s) with the same lease changes nothing.
	state := l.routerState()
	l.waitLog("DHCP lease renewed", strings.Count(l.logText(), "DHCP lease renewed")+1, 20*time.Second)
	if after := l.routerState(); after != state {
		t.Fatalf("the renewal changed the kernel:\nbefore:\n%s\nafter:\n%s", state, after)
	}

	// Long-lived connections on each uplink.
	onA, onB := l.dialVia(leased), l.dialVia("192.168.2.2")
	defer onA.Close()
	defer onB.Close()

	// The ISP's router comes back with another range and gateway.
	l.ISPs[0].Run("ip", "addr", "add", "192.168.3.254/24", "dev", "cpe")
	l.Server.Run("ip", "route", "add", "192.168.3.0/24", "via", "172.16.1.1")
	srv = srv.Restart(netnstest.DHCPServer{Interface: "cpe", Range: "192.168.3.10,192.168.3.20,255.255.255.0,2m",
		Router: "192.168.3.254", T1: 4, T2: 7, Extra: []string{"--no-ping"}})
	deadline := time.Now().Add(30 * time.Second)
	for u = l.state("ispa"); !inPrefix(t, u.Local, "192.168.3.0/24") || u.State != "up"; u = l.state("ispa") {
		if time.Now().After(deadline) {
			t.Fatalf("no new lease after the server changed: %+v\n%s\n%s", u, l.logText(), srv.LogText())
		}
		time.Sleep(50 * time.Millisecond)
	}
	if !strings.Contains(srv.LogText(), "DHCPNAK") || u.Gateway != "192.168.3.254" {
		t.Fatalf("the change came without a NAK, or with gateway %s:\n%s", u.Gateway, srv.LogText())
	}
	// The NAK took the lease: the old address's connections went with it
	// (deleted off the applier's path, so perhaps a moment later).
	for deadline := time.Now().Add(5 * time.Second); strings.Contains(l.Router.Run("conntrack", "-L", "-q", leased), "tcp "); {
		if time.Now().After(deadline) {
			t.Fatalf("connections of the old address %s are still tracked:\n%s", leased, l.Router.Run("conntrack", "-L", "-q", leased))
		}
		time.Sleep(20 * time.Millisecond)
	}
	if src, err := onB.Ask(); err != nil || src != "192.168.2.2" {
		t.Fatalf("the other uplink's connection broke: %q %v", src, err)
	}
	state = l.routerState()
	if strings.Contains(state, leased+"/") || !strings.Contains(state, u.Local+"/24") {
		t.Fatalf("the old address stayed or the new one is missing:\n%s", state)
	}
	counts = l.connect(40)
	if counts[u.Local] == 0 || counts["192.168.2.2"] == 0 || counts[leased] != 0 {
		t.Fatalf("new connections by source after the change: %v", counts)
	}

	// Stopping releases the lease and puts the router back.
	l.stop()
	if !strings.Contains(srv.LogText(), "DHCPRELEASE(cpe) "+u.Local) {
		t.Fatalf("the server saw no release of %s:\n%s", u.Local, srv.LogText())
	}
	if after := l.routerState(); after != before {
		t.Fatalf("after stopping, the router differs:\nbefore:\n%s\nafter:\n%s", before, after)
	}
}

// TestDHCPLeaseExpires: with its server gone, the lease runs out (dnsmasq's
// shortest lease is 2 minutes) and the uplink leaves service; new
// connections use the other uplink.
func TestDHCPLeaseExpires(t *testing.T) {
	t.Parallel()
	l, srv := newDHCPLab(t, 5, 8, 1)
	l.start()
	u := l.waitState("ispa", "up", 15*time.Second)
	srv.Stop()
	deadline := time.Now().Add(150 * time.Second)
	for u = l.state("ispa"); u.State != "down"; u = l.state("ispa") {
		if time.Now().After(deadline) {
			t.Fatalf("the lease did not expire: %+v\n%s", u, l.logText())
		}
		time.Sleep(200 * time.Millisecond)
	}
	if !strings.Contains(u.Reason, "no DHCP lease") || u.Lease == nil || u.Lease.Address != "" {
		t.Fatalf("after expiry: %+v %+v", u, u.Lease)
	}
	if !strings.Contains(l.logText(), "the lease expired") {
		t.Fatalf("the log does not say the lease expired:\n%s", l.logText())
	}
	if counts := l.connect(20); counts["192.168.2.2"] != 20 {
		t.Fatalf("new connections by source after expiry: %v", counts)
	}
	if strings.Contains(l.Router.Run("ip", "-4", "addr", "show", "wan0"), "inet ") {
		t.Fatal("the expired lease's address is still on wan0")
	}
	l.stop()
}

// TestDHCPDownAfterKill: a daemon killed outright leaves its lease stored
// and its address in place; pathpin down releases the lease and removes
// everything.
func TestDHCPDownAfterKill(t *testing.T) {
	l, srv := newDHCPLab(t, 0, 0, 1)
	before := l.routerState()
	l.start()
	u := l.waitState("ispa", "up", 15*time.Second)
	_ = l.up.Kill()
	_, _ = l.up.Wait()
	out, err := l.Router.Command(l.bin, "down", "-c", l.cfg, "--state-dir", l.runDir, "--lib-dir", filepath.Join(filepath.Dir(l.cfg), "lib")).CombinedOutput()
	if err != nil {
		t.Fatalf("pathpin down: %v\n%s", err, out)
	}
	if !strings.Contains(srv.LogText(), "DHCPRELEASE(cpe) "+u.Local) {
		t.Fatalf("the server saw no release of %s:\n%s", u.Local, srv.LogText())
	}
	if after := l.routerState(); after != before {
		t.Fatalf("after down, the router differs:\nbefore:\n%s\nafter:\n%s", before, after)
	}
}

// TestDHCPRestartAsksForTheSameLease: with release: false, a restarted
// daemon asks for its stored lease again (INIT-REBOOT: a REQUEST, no
// DISCOVER) and gets the same address.
func TestDHCPRestartAsksForTheSameLease(t *testing.T) {
	l, srv := newDHCPLab(t, 0, 0, 1)
	cfg, _ := os.ReadFile(l.cfg)
	if err := os.WriteFile(l.cfg, []byte(strings.Replace(string(cfg), "hostname: pathpin-test\n", "hostname: pathpin-test\n      release: false\n", 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	l.start()
	first := l.waitState("ispa", "up", 15*time.Second).Local
	l.stop()
	if strings.Contains(srv.LogText(), "DHCPRELEASE") {
		t.Fatal("release: false released the lease")
	}
	discovers := strings.Count(srv.LogText(), "DHCPDISCOVER")
	l.start()
	if again := l.waitState("ispa", "up", 15*time.Second).Local; again != first {
		t.Fatalf("restarted with %s, want the stored %s", again, first)
	}
	if n := strings.Count(srv.LogText(), "DHCPDISCOVER"); n != discovers {
		t.Fatalf("the restart sent a DISCOVER instead of asking for its lease:\n%s", srv.LogText())
	}
	l.stop()
}

// TestDHCPReloadKeepsTheLease: a reload that leaves the DHCP uplink's
// settings as they were keeps its client and lease; one that drops the
// uplink releases the lease and removes its address.
func TestDHCPReloadKeepsTheLease(t *testing.T) {
	l, srv := newDHCPLab(t, 0, 0, 1)
	l.start()
	leased := l.waitState("ispa", "up", 15*time.Second).Local
	requests := strings.Count(srv.LogText(), "DHCPREQUEST")
	cfg, _ := os.ReadFile(l.cfg)
	if err := os.WriteFile(l.cfg, []byte(strings.Replace(string(cfg), "weight: 1\n", "weight: 2\n", 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := l.up.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	l.waitLog("configuration reloaded", 1, 10*time.Second)
	if u := l.waitState("ispa", "up", 5*time.Second); u.Local != leased || u.Weight != 2 {
		t.Fatalf("after the reload: %+v", u)
	}
	if n := strings.Count(srv.LogText(), "DHCPREQUEST"); n != requests {
		t.Fatalf("the reload asked the server again:\n%s", srv.LogText())
	}

	// The uplink leaves the configuration: its lease goes back.
	if err := os.WriteFile(l.cfg, []byte("lan:\n  interfaces: [lan0]\nuplinks:\n  - name: ispb\n    interface: wan1\n    gateway: 192.168.2.254\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := l.up.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	l.waitLog("configuration reloaded", 2, 10*time.Second)
	deadline := time.Now().Add(5 * time.Second)
	for strings.Contains(l.Router.Run("ip", "-4", "addr", "show", "wan0"), "inet ") || !strings.Contains(srv.LogText(), "DHCPRELEASE") {
		if time.Now().After(deadline) {
			t.Fatalf("the dropped uplink's lease was not released or its address stayed:\n%s\n%s", l.Router.Run("ip", "-4", "addr"), srv.LogText())
		}
		time.Sleep(50 * time.Millisecond)
	}
	l.stop()
}

// TestAnUnpluggedDHCPNICCostsNoApplies: a DHCP uplink whose interface is
// missing (a USB adapter unplugged) is retried every few seconds; those
// retries change nothing in the kernel, so they make no apply.
func TestAnUnpluggedDHCPNICCostsNoApplies(t *testing.T) {
	l := prepareLab(t, 1, 1, "")
	cfg := `lan:
  interfaces: [lan0]
uplinks:
  - name: usb
    interface: wan9
    dhcp: {}
  - name: ispb
    interface: wan1
    gateway: 192.168.2.254
`
	if err := os.WriteFile(l.cfg, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	l.start("--debug")
	l.waitState("ispb", "up", 10*time.Second)
	settled := strings.Count(l.logText(), `msg=apply `)
	// Two retries of the missing interface.
	l.waitLog("DHCP cannot start on its interface", 3, 3*dhcpRetry)
	if n := strings.Count(l.logText(), `msg=apply `) - settled; n > 0 {
		t.Fatalf("%d applies while the DHCP interface was missing:\n%s", n, l.logText())
	}
}
