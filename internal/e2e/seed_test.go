// Package e2e runs the seed topology end to end inside pathpin's test VM,
// on a stock Debian kernel with PPP and 802.1Q: real pppd, rp-pppoe's
// pppoe-server with CHAP over VLAN 1000, real iptables and TCP.
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
)

func TestMain(m *testing.M) { os.Exit(netnstest.Main(m)) }

// requireVM skips outside the VM: the host kernel has neither PPP nor 8021q.
func requireVM(t *testing.T) {
	if os.Getenv("PATHPIN_VM") == "" {
		t.Skip("skipping: needs PPP and 802.1Q; runs inside pathpin's test VM (make test-vm)")
	}
	netnstest.RequireRoot(t, "pppd", "pppoe-server")
}

// seed is the brief's home network:
//
//	client ─┐                                   ┌─ ispa: pppoe-server (CHAP) on cpe.1000 ─┐
//	        ├─ switch ── eth1 router (pathpin) ─┘                                          ├─ server 203.0.113.10
//	        │           (LAN untagged, PPPoE on eth1.1000)                                 │
//	        └─          eth0 192.168.1.2 ── ispb 192.168.1.254 ────────────────────────────┘
type seed struct {
	t                                  *testing.T
	client, router, sw, ispa, ispb, sv *netnstest.NS
	bin, dir, cfg, runDir, libDir      string
	log                                string
	up                                 *os.Process
	// upArgs replace the discovery timer startPathpin gives pathpin up.
	upArgs []string
}

func newSeed(t *testing.T) *seed {
	s := &seed{t: t, client: netnstest.New(t), router: netnstest.New(t), sw: netnstest.New(t),
		ispa: netnstest.New(t), ispb: netnstest.New(t), sv: netnstest.New(t), bin: netnstest.Binary(t), dir: t.TempDir()}
	s.cfg = filepath.Join(s.dir, "pathpin.yaml")
	s.runDir = filepath.Join(s.dir, "run")
	s.libDir = filepath.Join(s.dir, "lib")
	s.sw.Run("ip", "link", "add", "br0", "type", "bridge")
	s.sw.Run("ip", "link", "set", "br0", "up")
	for name, ns := range map[string]*netnstest.NS{"router": s.router, "client": s.client, "ispa": s.ispa} {
		inner := map[string]string{"router": "eth1", "client": "lan0", "ispa": "cpe"}[name]
		netnstest.Veth(t, ns, inner, s.sw, "p-"+name)
		s.sw.Run("ip", "link", "set", "p-"+name, "master", "br0")
	}
	s.router.Run("ip", "addr", "add", "10.0.0.1/24", "dev", "eth1")
	s.client.Run("ip", "addr", "add", "10.0.0.2/24", "dev", "lan0")
	s.client.Run("ip", "route", "add", "default", "via", "10.0.0.1")

	netnstest.Veth(t, s.router, "eth0", s.ispb, "cpe")
	s.router.Run("ip", "addr", "add", "192.168.1.2/24", "dev", "eth0")
	s.ispb.Run("ip", "addr", "add", "192.168.1.254/24", "dev", "cpe")

	s.sv.Run("ip", "addr", "add", netnstest.ServerAddr+"/32", "dev", "lo")
	for i, isp := range []*netnstest.NS{s.ispa, s.ispb} {
		netnstest.Veth(t, isp, "core", s.sv, fmt.Sprintf("core%d", i))
		isp.Run("ip", "addr", "add", fmt.Sprintf("172.16.%d.1/30", i+1), "dev", "core")
		s.sv.Run("ip", "addr", "add", fmt.Sprintf("172.16.%d.2/30", i+1), "dev", fmt.Sprintf("core%d", i))
		isp.Run("ip", "route", "add", netnstest.ServerAddr+"/32", "via", fmt.Sprintf("172.16.%d.2", i+1))
		isp.Run("sysctl", "-qw", "net.ipv4.ip_forward=1")
	}
	s.sv.Run("ip", "route", "add", "100.64.0.0/24", "via", "172.16.1.1")
	s.sv.Run("ip", "route", "add", "192.168.1.0/24", "via", "172.16.2.1")
	netnstest.ServeSourceAddress(s.sv.Listen(netnstest.ServerAddr + ":80"))

	// The ISP's access concentrator: CHAP, on VLAN 1000 behind the bridge.
	s.ispa.Run("ip", "link", "add", "link", "cpe", "name", "cpe.1000", "type", "vlan", "id", "1000")
	s.ispa.Run("ip", "link", "set", "cpe.1000", "up")
	s.ispa.EtcFile("ppp/chap-secrets", "\"cpeuser\" * \"cpe pass\" *\n", 0o600)
	s.startAC("100.64.0.10")

	if err := os.WriteFile(filepath.Join(s.dir, "password"), []byte("cpe pass\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := fmt.Sprintf(`lan:
  interfaces: [eth1]
uplinks:
  - name: talktalk
    interface: eth0
    gateway: 192.168.1.254
    weight: 1
  - name: plusnet
    weight: 1
    pppoe:
      interface: eth1
      vlan: 1000
      username: cpeuser
      password-file: %s
      ifname: ppp1
      lcp-echo-interval: 1
      lcp-echo-failure: 3
`, filepath.Join(s.dir, "password"))
	if err := os.WriteFile(s.cfg, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	return s
}

// startAC (re)starts pppoe-server handing out remote addresses from pool.
func (s *seed) startAC(pool string) {
	// The whole AC goes: the server and every session it runs.
	for len(s.ispa.Pids("ppp")) > 0 {
		s.ispa.Kill("ppp", syscall.SIGTERM)
		time.Sleep(100 * time.Millisecond)
	}
	opts := filepath.Join(s.dir, "ac-options")
	// A slow LCP echo on the AC: only a PADT ends a session quickly.
	if err := os.WriteFile(opts, []byte("require-chap\nlcp-echo-interval 10\nlcp-echo-failure 6\n"), 0o644); err != nil {
		s.t.Fatal(err)
	}
	s.ispa.Run("pppoe-server", "-I", "cpe.1000", "-C", "plusnet-bras", "-L", "100.64.0.1", "-R", pool,
		"-N", "8", "-X", s.dir+"/ac.pid", "-O", opts)
}

// startPathpin runs `pathpin up` in the router namespace.
func (s *seed) startPathpin() {
	s.log = filepath.Join(s.dir, fmt.Sprintf("pathpin-%d.log", time.Now().UnixNano()))
	f, err := os.Create(s.log)
	if err != nil {
		s.t.Fatal(err)
	}
	args := s.upArgs
	if args == nil {
		args = []string{"--discovery-initial-timeout", "300ms"}
	}
	cmd := s.router.Command(s.bin, append([]string{"up", "-c", s.cfg, "--state-dir", s.runDir, "--lib-dir", s.libDir}, args...)...)
	cmd.Stdout, cmd.Stderr = f, f
	if err := cmd.Start(); err != nil {
		s.t.Fatal(err)
	}
	s.up = cmd.Process
	s.t.Cleanup(func() { _ = cmd.Process.Kill(); _, _ = cmd.Process.Wait(); f.Close() })
}

func (s *seed) logText() string {
	b, _ := os.ReadFile(s.log)
	return string(b)
}

// waitFor polls cond for up to limit.
func (s *seed) waitFor(what string, limit time.Duration, cond func() bool) time.Duration {
	s.t.Helper()
	start := time.Now()
	for !cond() {
		if time.Since(start) > limit {
			s.t.Fatalf("timed out after %s waiting for %s\npathpin log:\n%s", limit, what, s.logText())
		}
		time.Sleep(50 * time.Millisecond)
	}
	return time.Since(start)
}

var pppLocal = regexp.MustCompile(`inet (100\.64\.0\.\d+) peer 100\.64\.0\.1/32`)

// pppAddress is the router's PPP address, or "".
func (s *seed) pppAddress() string {
	out, _ := s.router.Command("ip", "-4", "addr", "show", "dev", "ppp1").CombinedOutput()
	if m := pppLocal.FindStringSubmatch(string(out)); m != nil {
		return m[1]
	}
	return ""
}

// routed reports whether pathpin routes both uplinks, the PPP one with
// address addr: its rule, its share of new connections and its NAT.
func (s *seed) routed(addr string) bool {
	rules := s.router.Run("ip", "rule")
	if !strings.Contains(rules, "from 192.168.1.2 lookup 101") || !strings.Contains(rules, "from "+addr+" lookup 102") {
		return false
	}
	table := pathpinTable(s.router.Run)
	return strings.Contains(table, `oifname "ppp1" masquerade`) && strings.Contains(table, ": jump to_plusnet")
}

// state is the router's networking state, for before/after comparisons.
func (s *seed) state() string { return routerState(s.router.Run) }

// routerState is a router's networking state as run (a command in the
// router's namespace) prints it.
func routerState(run func(name string, args ...string) string) string {
	var b strings.Builder
	for _, save := range []string{"iptables-nft-save", "iptables-legacy-save"} {
		b.WriteString(nonEmptyTables(run(save)))
	}
	// The usage counters count whatever passed meanwhile.
	b.WriteString(tableCounters.ReplaceAllString(pathpinTable(run), "counter"))
	b.WriteString(run("ip", "rule"))
	b.WriteString(run("ip", "route", "show", "table", "all"))
	for _, l := range regexp.MustCompile(`(?m)^\d+: ([^:@]+)`).FindAllStringSubmatch(run("ip", "-o", "link"), -1) {
		b.WriteString("link " + l[1] + "\n")
	}
	b.WriteString(run("sh", "-c", "grep -H . /proc/sys/net/ipv4/ip_forward /proc/sys/net/ipv4/conf/*/rp_filter"))
	return b.String()
}

var tableCounters = regexp.MustCompile(`counter packets \d+ bytes \d+`)

// pathpinTable is pathpin's nftables table as nft lists it, or "".
func pathpinTable(run func(name string, args ...string) string) string {
	if !strings.Contains(run("nft", "list", "tables"), "table ip pathpin\n") {
		return ""
	}
	return run("nft", "list", "table", "ip", "pathpin")
}

// nonEmptyTables drops comments, counters and tables that hold nothing
// but built-in chains with policy ACCEPT: iptables-nft creates those on
// first use, and they filter nothing.
func nonEmptyTables(save string) string {
	var out, table []string
	empty := true
	for _, line := range strings.Split(save, "\n") {
		line = regexp.MustCompile(`\s*\[\d+:\d+\]`).ReplaceAllString(line, "")
		switch {
		case line == "" || strings.HasPrefix(line, "#"):
		case strings.HasPrefix(line, "*"):
			table, empty = []string{line}, true
		case line == "COMMIT":
			if !empty {
				out = append(append(out, table...), line)
			}
		default:
			table = append(table, line)
			if !(strings.HasPrefix(line, ":") && strings.HasSuffix(line, " ACCEPT")) {
				empty = false
			}
		}
	}
	return strings.Join(out, "\n") + "\n"
}

var sessArg = regexp.MustCompile(`-e (\d+):([0-9a-f:]{17})`)

// acSessions returns the session ids the AC is running.
func (s *seed) acSessions() []string { return sessionsOf(s.ispa) }

// sessionsOf returns the session ids the AC in ns is running.
func sessionsOf(ns *netnstest.NS) []string {
	var out []string
	for _, p := range ns.Processes() {
		if f := strings.Fields(p); len(f) > 0 && filepath.Base(f[0]) == "pppoe" {
			if m := sessArg.FindStringSubmatch(p); m != nil {
				out = append(out, m[1])
			}
		}
	}
	return out
}

func TestSeedTopology(t *testing.T) {
	requireVM(t)
	s := newSeed(t)
	before := s.state()
	s.startPathpin()

	// PPP comes up on pathpin's own session.
	s.waitFor("the PPP uplink", 60*time.Second, func() bool { return s.pppAddress() != "" })
	addr := s.pppAddress()
	s.waitFor("both uplinks routed", 20*time.Second, func() bool { return s.routed(addr) })
	opts, err := os.ReadFile(filepath.Join(s.runDir, "ppp-plusnet.options"))
	if err != nil {
		t.Fatal(err)
	}
	sid := regexp.MustCompile(`pppoe-sess (\d+):`).FindStringSubmatch(string(opts))
	if sid == nil || len(s.acSessions()) != 1 || s.acSessions()[0] != sid[1] {
		t.Fatalf("pppd's session %v is not the one the AC runs (%v)", sid, s.acSessions())
	}
	if fi, _ := os.Stat(filepath.Join(s.runDir, "ppp-plusnet.options")); fi.Mode().Perm() != 0o600 {
		t.Fatalf("options file mode %v", fi.Mode())
	}
	if strings.Contains(s.logText(), "cpe pass") {
		t.Fatal("the PPP password appears in pathpin's log")
	}
	st := s.state()
	for _, want := range []string{"default dev ppp1 table 102 scope link src " + addr, "from all fwmark 0x200/0xff00 lookup 102",
		`oifname "ppp1" masquerade`, `oifname "eth0" snat to 192.168.1.2`} {
		if !strings.Contains(st, want) {
			t.Errorf("router state lacks %q", want)
		}
	}

	// Client connections are shared over both uplinks; each stays on one.
	counts := map[string]int{}
	var long []*netnstest.SourceConn
	for i := 0; i < 100; i++ {
		c, err := s.client.DialSource(netnstest.ServerAddr + ":80")
		if err != nil {
			t.Fatalf("connection %d: %v", i, err)
		}
		counts[c.First]++
		if i < 20 {
			long = append(long, c)
		} else {
			c.Close()
		}
	}
	if counts[addr] < 20 || counts["192.168.1.2"] < 20 {
		t.Fatalf("100 connections went %v; want both uplinks used", counts)
	}

	// The LAN is closed to both uplinks' sides: the static ISP's router
	// and the AC's end of the PPP link, each routing the LAN's prefix at
	// pathpin's router.
	netnstest.ServeSourceAddress(s.client.Listen("10.0.0.2:80"))
	s.ispb.Run("ip", "route", "add", "10.0.0.0/24", "via", "192.168.1.2")
	acLink := strings.Fields(s.ispa.Run("sh", "-c", "ip -o link show type ppp | head -n1 | cut -d: -f2"))
	if len(acLink) == 0 {
		t.Fatal("no PPP link at the AC")
	}
	s.ispa.Run("ip", "route", "add", "10.0.0.0/24", "dev", acLink[0])
	for name, ns := range map[string]*netnstest.NS{"the static ISP": s.ispb, "the PPP AC": s.ispa} {
		if c, err := ns.DialSourceWithin("10.0.0.2:80", 500*time.Millisecond); err == nil {
			c.Close()
			t.Errorf("%s's side reached a LAN client through the router", name)
		}
	}
	for i, c := range long {
		if src, err := c.Ask(); err != nil || src != c.First {
			t.Fatalf("connection %d moved from %s to %q (%v)", i, c.First, src, err)
		}
		if c.First == "192.168.1.2" {
			defer c.Close()
		} else {
			c.Close()
		}
	}
	t.Logf("PPP address %s, session %s; connections %v", addr, sid[1], counts)

	// SIGHUP reloads the configuration: new weights, nothing else moves.
	cfg, _ := os.ReadFile(s.cfg)
	if err := os.WriteFile(s.cfg, []byte(strings.Replace(string(cfg), "weight: 1", "weight: 3", 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := s.up.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	s.waitFor("the reloaded weights", 20*time.Second, func() bool {
		return strings.Contains(pathpinTable(s.router.Run), "numgen random mod 4 vmap { 0 : jump to_talktalk, 1 : jump to_talktalk, 2 : jump to_talktalk, 3 : jump to_plusnet }")
	})
	if s.pppAddress() != addr {
		t.Fatal("a reload that changed only weights restarted PPP")
	}

	// The ISP ends the session and hands out another address: pathpin
	// redials and re-installs the PPP uplink with the new address.
	s.startAC("100.64.0.20")
	s.waitFor("a redial with the new address", 60*time.Second, func() bool { return s.pppAddress() == "100.64.0.20" })
	s.waitFor("the rules for the new address", 20*time.Second, func() bool { return s.routed("100.64.0.20") })
	if st := s.state(); strings.Contains(st, addr+" ") || strings.Contains(st, addr+"\n") {
		t.Fatalf("the old address %s is still in the router's state:\n%s", addr, st)
	}
	for _, c := range long {
		if c.First == "192.168.1.2" {
			if src, err := c.Ask(); err != nil || src != c.First {
				t.Fatalf("a connection on the static uplink broke during the PPP redial: %q %v", src, err)
			}
		}
	}

	// A crash (pathpin and pppd killed outright) leaves the session at the
	// AC; the next start sends PADT for it before logging in again.
	opts, _ = os.ReadFile(filepath.Join(s.runDir, "ppp-plusnet.options"))
	old := regexp.MustCompile(`pppoe-sess (\d+):`).FindStringSubmatch(string(opts))[1]
	s.router.Kill("pppd file", syscall.SIGKILL)
	_ = s.up.Kill()
	_, _ = s.up.Wait()
	s.waitFor("pppd killed", 5*time.Second, func() bool { return len(s.router.Pids("pppd file")) == 0 })
	if got := s.acSessions(); len(got) != 1 || got[0] != old {
		t.Fatalf("after the crash the AC runs sessions %v, want the old %s", got, old)
	}
	s.startPathpin()
	s.waitFor("the PADT for the stale session", 20*time.Second, func() bool {
		return strings.Contains(s.logText(), "sending PADT for a stale session") && !contains(s.acSessions(), old)
	})
	s.waitFor("the PPP uplink after the restart", 60*time.Second, func() bool { return s.pppAddress() != "" })
	if !strings.Contains(s.logText(), "session="+old+":") {
		t.Fatalf("the stale PADT was not for session %s:\n%s", old, s.logText())
	}

	// SIGTERM: pathpin stops pppd and removes its own state, the VLAN it
	// made included: the router is as it was before up, with no pathpin
	// down needed. (The test namespaces have IPv6 off, so the kernel adds
	// nothing by itself.)
	s.waitFor("routing after the restart", 20*time.Second, func() bool { return s.routed(s.pppAddress()) })
	if err := s.up.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	ps, err := s.up.Wait()
	if err != nil || !ps.Success() {
		t.Fatalf("pathpin up exited %v, %v\n%s", ps, err, s.logText())
	}
	if after := s.state(); after != before {
		t.Fatalf("after SIGTERM the router differs from before up:\n--- before\n%s\n--- after\n%s\n%s", before, after, s.logText())
	}
	if out, err := s.router.Command(s.bin, "down", "-c", s.cfg, "--state-dir", s.runDir).CombinedOutput(); err != nil {
		t.Fatalf("pathpin down after the daemon stopped: %v\n%s", err, out)
	}
	if after := s.state(); after != before {
		t.Fatalf("pathpin down after the daemon changed the router:\n%s", after)
	}
	s.waitFor("the AC to close the session", 10*time.Second, func() bool { return len(s.acSessions()) == 0 })
}

func contains(xs []string, x string) bool {
	for _, y := range xs {
		if y == x {
			return true
		}
	}
	return false
}
