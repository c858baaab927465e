package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/coreos/go-systemd/v22/daemon"
	"github.com/pathpin/pathpin/internal/netnstest"
)

// The booted test: a Debian root file system with systemd as PID 1 and
// pathpin installed from its .deb (vm/systemd-test builds and boots it).
// The VM is the router, as the Pi is. Two units of the image run the two
// halves below: pathpin-lab.service (before pathpin.service) builds the
// seed's home network around the VM, and pathpin-check.service (after it)
// checks what a user of the package would see.

const (
	bootBefore   = "/run/pathpin-lab/before" // the router's state before pathpin started
	bootConfig   = "/etc/pathpin/pathpin.yaml"
	bootPassword = "cpe pass"
	bootDeb      = "/opt/pathpin-test/pathpin.deb" // the package installed in the image
)

func requireBoot(t *testing.T, half string) {
	if os.Getenv("PATHPIN_BOOT") != half {
		t.Skip("skipping: runs in pathpin's booted test VM (vm/systemd-test)")
	}
}

// run runs a command in the router (the VM's own namespace).
func run(t *testing.T) func(name string, args ...string) string {
	return func(name string, args ...string) string {
		t.Helper()
		out, err := exec.Command(name, args...).CombinedOutput()
		if err != nil {
			t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
		}
		return string(out)
	}
}

// TestBootLab builds the seed topology around the VM and stays: it serves
// the far end's source-address server and holds the namespaces' life.
//
//	client ─ sw ─ eth1 (the VM: LAN untagged, PPPoE on eth1.1000) ─ ispa: AC on VLAN 1000 (CHAP) ─┐
//	                                                                                              ├─ server
//	              eth0 192.168.1.2 ─────────────────────────────── ispb 192.168.1.254 ────────────┘
func TestBootLab(t *testing.T) {
	requireBoot(t, "lab")
	r := run(t)
	// The router's links get no IPv6 (pathpin routes IPv4): a link-local
	// address would arrive when the kernel's duplicate detection ends,
	// after the state below is recorded or not, at the kernel's pace.
	for _, f := range []string{"all", "default"} {
		r("sysctl", "-qw", "net.ipv6.conf."+f+".disable_ipv6=1")
	}
	ns := map[string]*netnstest.NS{}
	for _, n := range []string{"sw", "client", "ispa", "ispb", "ispc", "sv"} {
		ns[n] = netnstest.Lasting(t, n)
	}
	ns["sw"].Run("ip", "link", "add", "br0", "type", "bridge")
	ns["sw"].Run("ip", "link", "set", "br0", "up")
	r("ip", "link", "add", "eth1", "type", "veth", "peer", "name", "p-router", "netns", "sw")
	r("ip", "link", "set", "eth1", "up")
	for _, n := range []string{"client", "ispa"} {
		inner := map[string]string{"client": "lan0", "ispa": "cpe"}[n]
		netnstest.Veth(t, ns[n], inner, ns["sw"], "p-"+n)
	}
	for _, p := range []string{"p-router", "p-client", "p-ispa"} {
		ns["sw"].Run("ip", "link", "set", p, "master", "br0")
		ns["sw"].Run("ip", "link", "set", p, "up")
	}
	r("ip", "addr", "add", "10.0.0.1/24", "dev", "eth1")
	ns["client"].Run("ip", "addr", "add", "10.0.0.2/24", "dev", "lan0")
	ns["client"].Run("ip", "route", "add", "default", "via", "10.0.0.1")
	r("ip", "link", "add", "eth0", "type", "veth", "peer", "name", "cpe", "netns", "ispb")
	r("ip", "link", "set", "eth0", "up")
	ns["ispb"].Run("ip", "link", "set", "cpe", "up")
	r("ip", "addr", "add", "192.168.1.2/24", "dev", "eth0")
	ns["ispb"].Run("ip", "addr", "add", "192.168.1.254/24", "dev", "cpe")
	// As on a real box: the ISP router's DHCP gave the main table a default.
	r("ip", "route", "add", "default", "via", "192.168.1.254")
	sv := ns["sv"]
	sv.Run("ip", "addr", "add", netnstest.ServerAddr+"/32", "dev", "lo")
	for i, isp := range []*netnstest.NS{ns["ispa"], ns["ispb"]} {
		netnstest.Veth(t, isp, "core", sv, fmt.Sprintf("core%d", i))
		isp.Run("ip", "addr", "add", fmt.Sprintf("172.16.%d.1/30", i+1), "dev", "core")
		sv.Run("ip", "addr", "add", fmt.Sprintf("172.16.%d.2/30", i+1), "dev", fmt.Sprintf("core%d", i))
		isp.Run("ip", "route", "add", netnstest.ServerAddr+"/32", "via", fmt.Sprintf("172.16.%d.2", i+1))
		isp.Run("sysctl", "-qw", "net.ipv4.ip_forward=1")
	}
	// A cable line on standby: its router hands out 192.168.3.0/24 by
	// DHCP (dnsmasq), so that DHCP runs under the unit's hardening too.
	r("ip", "link", "add", "eth2", "type", "veth", "peer", "name", "cpe", "netns", "ispc")
	ns["ispc"].Run("ip", "link", "set", "cpe", "up")
	ns["ispc"].Run("ip", "addr", "add", "192.168.3.254/24", "dev", "cpe")
	ns["ispc"].StartDHCPServer(netnstest.DHCPServer{Interface: "cpe", Range: "192.168.3.10,192.168.3.20,255.255.255.0,2m",
		Router: "192.168.3.254", T1: 4, T2: 7, Extra: []string{"--no-ping"}})
	sv.Run("ip", "route", "add", "100.64.0.0/24", "via", "172.16.1.1")
	sv.Run("ip", "route", "add", "192.168.1.0/24", "via", "172.16.2.1")
	netnstest.ServeSourceAddress(sv.Listen(netnstest.ServerAddr + ":80"))
	// An HTTP server that answers with the client's address, for curl.
	go func() {
		_ = http.Serve(sv.Listen(netnstest.ServerAddr+":8080"), http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			host, _, _ := net.SplitHostPort(r.RemoteAddr)
			fmt.Fprintln(w, host)
		}))
	}()
	// A resolver on the router's loopback, for pathpin exec's local DNS.
	r("dnsmasq", "--no-resolv", "--no-hosts", "--conf-file=/dev/null", "--listen-address=127.0.0.1", "--bind-interfaces",
		"--address=/local.example/192.0.2.53", "--pid-file=/run/pathpin-lab-dns.pid")

	ispa := ns["ispa"]
	ispa.Run("ip", "link", "add", "link", "cpe", "name", "cpe.1000", "type", "vlan", "id", "1000")
	ispa.Run("ip", "link", "set", "cpe.1000", "up")
	if err := os.MkdirAll("/etc/netns/ispa/ppp", 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile("/etc/netns/ispa/ppp/chap-secrets", []byte("\"cpeuser\" * \""+bootPassword+"\" *\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile("/run/pathpin-lab-ac-options", []byte("require-chap\nlcp-echo-interval 10\nlcp-echo-failure 6\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	ispa.Run("pppoe-server", "-I", "cpe.1000", "-C", "plusnet-bras", "-L", "100.64.0.1", "-R", "100.64.0.10",
		"-N", "8", "-X", "/run/pathpin-lab-ac.pid", "-O", "/run/pathpin-lab-ac-options")

	if err := os.MkdirAll("/run/pathpin-lab", 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(bootBefore, []byte(routerState(r)), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := daemon.SdNotify(false, daemon.SdNotifyReady); err != nil {
		t.Fatal(err)
	}
	select {}
}

// exec: pathpin exec --via plusnet puts curl's connections, and those of
// a child it leaves behind, on the PPP uplink with its address, 20 of 20,
// while the LAN is balanced; a query to the resolver on 127.0.0.1 is
// answered there; with plusnet down the command is refused with the
// reason, and plusnet comes back.
func (b *booted) exec() {
	t := b.t
	ppp := b.pppAddress()
	out := b.run("pathpin", "exec", "--via", "plusnet", "--", "sh", "-c",
		`for i in $(seq 10); do curl -s --max-time 5 http://`+netnstest.ServerAddr+`:8080/; done; (for i in $(seq 10); do curl -s --max-time 5 http://`+netnstest.ServerAddr+`:8080/; done) & wait`)
	if got := strings.Count(out, ppp+"\n"); got != 20 {
		t.Errorf("pathpin exec --via plusnet: %d of 20 connections left by plusnet (%s); the server saw:\n%s", got, ppp, out)
	}
	if dns := b.run("pathpin", "exec", "--via", "plusnet", "--", "env", "PATHPIN_BOOT=dns", "/opt/pathpin-test/e2e.test", "-test.run", "^TestAskLocalDNS$"); !strings.Contains(dns, "192.0.2.53") {
		t.Errorf("a query to the resolver on 127.0.0.1 under pathpin exec got:\n%s", dns)
	}
	b.waitFor("the exec scopes to go", 10*time.Second, func() bool {
		return strings.TrimSpace(b.run("systemctl", "list-units", "--no-legend", "pathpin-exec-*")) == ""
	})
	// The program's slice, started by pathpin through systemd; its policy
	// puts its commands on talktalk.
	if st := strings.TrimSpace(b.run("systemctl", "show", "-p", "ActiveState", "--value", "pathpin-backup.slice")); st != "active" {
		t.Errorf("pathpin-backup.slice is %s", st)
	}
	out = b.run("pathpin", "exec", "--program", "backup", "--", "sh", "-c",
		`for i in $(seq 5); do curl -s --max-time 5 http://`+netnstest.ServerAddr+`:8080/; done`)
	if got := strings.Count(out, "192.168.1.2\n"); got != 5 {
		t.Errorf("pathpin exec --program backup: %d of 5 connections left by talktalk; the server saw:\n%s", got, out)
	}
	b.ispa.Run("ip", "link", "set", "cpe", "down")
	b.waitFor("plusnet out of service", 30*time.Second, func() bool {
		out, _ := exec.Command("pathpin", "exec", "--via", "plusnet", "--", "true").CombinedOutput()
		return strings.Contains(string(out), "plusnet is out of service")
	})
	b.ispa.Run("ip", "link", "set", "cpe", "up")
	b.waitFor("plusnet carrying again", 90*time.Second, b.bothCarry)
}

// web starts the status page's unit (the package does not enable it): a
// dynamic user in the pathpin group, no root, serving the LAN client the
// daemon's status and metrics on the LAN's address, and nothing on an
// uplink's.
func (b *booted) web() {
	t := b.t
	b.run("systemctl", "start", "pathpin-web")
	client := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			return b.client.Dial(addr, 2*time.Second)
		},
	}}
	var status string
	b.waitFor("pathpin web to answer the LAN client", 30*time.Second, func() bool {
		r, err := client.Get("http://10.0.0.1:9430/api/status")
		if err != nil {
			return false
		}
		defer r.Body.Close()
		body, _ := io.ReadAll(r.Body)
		status = string(body)
		return r.StatusCode == 200
	})
	if !strings.Contains(status, `"source":"daemon"`) || !strings.Contains(status, `"name":"plusnet"`) {
		t.Errorf("/api/status from pathpin-web.service:\n%s", status)
	}
	r, err := client.Get("http://10.0.0.1:9430/metrics")
	if err != nil {
		t.Fatal(err)
	}
	metrics, _ := io.ReadAll(r.Body)
	r.Body.Close()
	if !strings.Contains(string(metrics), "pathpin_up 1") || !strings.Contains(string(metrics), `pathpin_uplink_up{uplink="talktalk"} 1`) {
		t.Errorf("/metrics from pathpin-web.service:\n%s", metrics)
	}
	pid := strings.TrimSpace(b.run("systemctl", "show", "-p", "MainPID", "--value", "pathpin-web"))
	if user := strings.TrimSpace(b.run("ps", "-o", "user=", "-p", pid)); user == "root" || user == "" {
		t.Errorf("pathpin web runs as %q", user)
	}
	if _, err := b.client.Dial("192.168.1.2:9430", time.Second); err == nil {
		t.Error("pathpin web answers on an uplink's address")
	}
	security, _ := exec.Command("systemd-analyze", "security", "--no-pager", "pathpin-web.service").CombinedOutput()
	if m := regexp.MustCompile(`Overall exposure level for pathpin-web.service: ([0-9.]+)`).FindSubmatch(security); m != nil {
		fmt.Printf("BENCH-SECURITY systemd-analyze security pathpin-web.service: exposure %s\n", m[1])
	}
	b.run("systemctl", "stop", "pathpin-web")
}

// TestAskLocalDNS asks the resolver on 127.0.0.1 for local.example and
// prints the answer (run by the booted test under pathpin exec).
func TestAskLocalDNS(t *testing.T) {
	requireBoot(t, "dns")
	r := &net.Resolver{PreferGo: true, Dial: func(ctx context.Context, network, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, "udp", "127.0.0.1:53")
	}}
	addrs, err := r.LookupHost(context.Background(), "local.example")
	if err != nil {
		t.Fatal(err)
	}
	fmt.Println(strings.Join(addrs, " "))
}

// booted is the check half's view of the running system.
type booted struct {
	t            *testing.T
	run          func(name string, args ...string) string
	client, ispa *netnstest.NS
}

func (b *booted) show(prop string) string {
	return strings.TrimSpace(b.run("systemctl", "show", "-p", prop, "--value", "pathpin"))
}

func (b *booted) waitFor(what string, limit time.Duration, cond func() bool) time.Duration {
	b.t.Helper()
	start := time.Now()
	for !cond() {
		if time.Since(start) > limit {
			out, _ := exec.Command("journalctl", "-u", "pathpin", "-n", "60", "--no-pager").CombinedOutput()
			b.t.Fatalf("timed out after %s waiting for %s\n%s", limit, what, out)
		}
		time.Sleep(50 * time.Millisecond)
	}
	return time.Since(start)
}

// pppAddress is the router's PPP address, or "".
func (b *booted) pppAddress() string {
	out, _ := exec.Command("ip", "-4", "addr", "show", "dev", "ppp1").CombinedOutput()
	if m := pppLocal.FindStringSubmatch(string(out)); m != nil {
		return m[1]
	}
	return ""
}

// sources dials n new connections from the client and counts the source
// addresses the server saw.
func (b *booted) sources(n int) map[string]int {
	seen := map[string]int{}
	for i := 0; i < n; i++ {
		c, err := b.client.DialSource(netnstest.ServerAddr + ":80")
		if err != nil {
			seen["error"]++
			continue
		}
		seen[c.First]++
		c.Close()
	}
	return seen
}

// bothCarry reports whether new client connections use both uplinks.
func (b *booted) bothCarry() bool {
	addr := b.pppAddress()
	if addr == "" {
		return false
	}
	seen := b.sources(12)
	return seen[addr] > 0 && seen["192.168.1.2"] > 0
}

func uptime(t *testing.T) time.Duration {
	data, err := os.ReadFile("/proc/uptime")
	if err != nil {
		t.Fatal(err)
	}
	secs, _ := strconv.ParseFloat(strings.Fields(string(data))[0], 64)
	return time.Duration(secs * float64(time.Second))
}

// restarted waits for systemd to have restarted pathpin (a new main
// process, active again), and for PPP and both uplinks to carry again.
func (b *booted) restarted(oldPID string, limit time.Duration) {
	b.waitFor("systemd to restart pathpin", limit, func() bool {
		pid := b.show("MainPID")
		return pid != oldPID && pid != "0" && b.show("ActiveState") == "active"
	})
	b.waitFor("both uplinks to carry again", 60*time.Second, b.bothCarry)
}

var duplicateRule = regexp.MustCompile(`(?m)^\d+:\s+`)

// noDuplicates fails when an ip rule is there twice, or pathpin's table
// (written whole each time) is not there exactly once.
func (b *booted) noDuplicates() {
	b.t.Helper()
	if n := strings.Count(b.run("nft", "list", "tables"), "table ip pathpin\n"); n != 1 {
		b.t.Errorf("pathpin's nftables table is there %d times", n)
	}
	seen := map[string]bool{}
	for _, line := range strings.Split(duplicateRule.ReplaceAllString(b.run("ip", "rule"), ""), "\n") {
		if strings.HasPrefix(line, "from ") || strings.HasPrefix(line, "fwmark ") {
			if seen[line] {
				b.t.Errorf("after the restart this is there twice: %s", line)
			}
			seen[line] = true
		}
	}
}

// sessionsClosed waits until none of old runs at the AC any more.
func (b *booted) sessionsClosed(whose string, old []string) {
	b.t.Helper()
	b.waitFor(whose+" PPP session to be closed at the AC", 30*time.Second, func() bool {
		for _, s := range sessionsOf(b.ispa) {
			if slices.Contains(old, s) {
				return false
			}
		}
		return true
	})
}

// maxExposure is the highest systemd-analyze security exposure the
// package's unit may have (10 is a service with no hardening; the unit
// scored 7.7 before it was hardened, 3.3 after).
const maxExposure = 3.5

func TestBooted(t *testing.T) {
	requireBoot(t, "check")
	b := &booted{t: t, run: run(t), client: netnstest.Existing(t, "client"), ispa: netnstest.Existing(t, "ispa")}

	// Started at boot by the package's unit: active only after READY.
	if got := b.show("ActiveState"); got != "active" {
		t.Fatalf("pathpin.service is %s after boot", got)
	}
	readyAt, _ := strconv.ParseInt(b.show("ActiveEnterTimestampMonotonic"), 10, 64)
	carrying := b.waitFor("both uplinks to carry the client's new connections", 90*time.Second, b.bothCarry)
	carryAt := uptime(t)
	fmt.Printf("BENCH-BOOT kernel start → READY %.2fs; kernel start → both uplinks carrying new connections %.2fs (%s after this check began)\n",
		float64(readyAt)/1e6, carryAt.Seconds(), carrying.Round(time.Millisecond))
	if errs := strings.TrimSpace(b.run("journalctl", "-u", "pathpin", "-p", "err", "-o", "cat", "--no-pager")); errs != "" {
		t.Errorf("a normal boot logged errors:\n%s", errs)
	}
	// Under the unit's hardening and protect.router: the probes answer
	// through both weighted uplinks (raw ICMP sockets, marks), and the
	// standby cable line holds a DHCP lease (packet socket, notrack).
	b.waitFor("the probes answered on both uplinks and the cable line's lease", 30*time.Second, func() bool {
		var rep struct {
			Uplinks []struct {
				Name  string   `json:"name"`
				Loss  *float64 `json:"probe_loss"`
				Lease *struct {
					State   string `json:"state"`
					Address string `json:"address"`
				} `json:"dhcp_lease"`
			} `json:"uplinks"`
		}
		out, err := exec.Command("pathpin", "status", "--json").Output()
		if err != nil || json.Unmarshal(out, &rep) != nil || len(rep.Uplinks) != 3 {
			return false
		}
		for _, u := range rep.Uplinks {
			switch u.Name {
			case "cable":
				if u.Lease == nil || u.Lease.State != "bound" || !strings.HasPrefix(u.Lease.Address, "192.168.3.") {
					return false
				}
			default:
				if u.Loss == nil || *u.Loss >= 1 {
					return false
				}
			}
		}
		return true
	})
	// The cable line's renewal at T1 (4 s) goes unicast from port 68, a
	// socket the unit must let pathpin bind, and is answered.
	b.waitFor("the cable line's lease renewed at T1", 30*time.Second, func() bool {
		return strings.Contains(b.run("journalctl", "-u", "pathpin", "-o", "cat", "--no-pager"), "DHCP lease renewed")
	})
	if log := b.run("journalctl", "-u", "pathpin", "-o", "cat", "--no-pager"); strings.Contains(log, "sending a DHCP message failed") {
		t.Errorf("a DHCP message could not be sent under the unit:\n%s", log)
	}
	// The unit's hardening, as systemd scores it (lower is tighter).
	security, _ := exec.Command("systemd-analyze", "security", "--no-pager", "pathpin.service").CombinedOutput()
	m := regexp.MustCompile(`Overall exposure level for pathpin.service: ([0-9.]+)`).FindSubmatch(security)
	if m == nil {
		t.Fatalf("systemd-analyze security gave no exposure level:\n%s", security)
	}
	exposure, _ := strconv.ParseFloat(string(m[1]), 64)
	fmt.Printf("BENCH-SECURITY systemd-analyze security pathpin.service: exposure %.1f\n", exposure)
	if exposure > maxExposure {
		t.Errorf("the unit's exposure is %.1f, above %.1f:\n%s", exposure, maxExposure, security)
	}

	// The STATUS= line.
	if st := b.show("StatusText"); !strings.Contains(st, "up") {
		t.Errorf("StatusText = %q", st)
	}
	if out, _ := exec.Command("systemctl", "status", "--no-pager", "pathpin").CombinedOutput(); !strings.Contains(string(out), "Status: \"") {
		t.Errorf("systemctl status shows no STATUS= line:\n%s", out)
	}

	b.exec()
	b.web()

	// Reload after a weight change: applied, established connections kept.
	var kept []*netnstest.SourceConn
	for len(kept) < 8 {
		c, err := b.client.DialSource(netnstest.ServerAddr + ":80")
		if err != nil {
			t.Fatal(err)
		}
		kept = append(kept, c)
	}
	cfg, err := os.ReadFile(bootConfig)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(bootConfig, []byte(strings.Replace(string(cfg), "weight: 1", "weight: 3", 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	b.run("systemctl", "reload", "pathpin")
	b.waitFor("the new weight in pathpin status", 10*time.Second, func() bool {
		var rep struct {
			Uplinks []struct {
				Name   string `json:"name"`
				Weight int    `json:"weight"`
			} `json:"uplinks"`
		}
		out, err := exec.Command("pathpin", "status", "--json").Output()
		if err != nil || json.Unmarshal(out, &rep) != nil {
			return false
		}
		for _, u := range rep.Uplinks {
			if u.Name == "talktalk" {
				return u.Weight == 3
			}
		}
		return false
	})
	for _, c := range kept {
		if src, err := c.Ask(); err != nil || src != c.First {
			t.Errorf("an established connection broke across the reload: %q (was %s), %v", src, c.First, err)
		}
		c.Close()
	}

	// The watchdog: a frozen daemon is killed and restarted; its pppd's
	// session is closed and a new one carries traffic.
	oldSessions := sessionsOf(b.ispa)
	pid := b.show("MainPID")
	b.run("kill", "-STOP", pid)
	start := time.Now()
	wd, _ := time.ParseDuration(strings.ReplaceAll(b.show("WatchdogUSec"), " ", ""))
	b.restarted(pid, 3*wd+20*time.Second)
	t.Logf("watchdog (WatchdogSec=%s): restarted and carrying again %s after SIGSTOP", wd, time.Since(start).Round(time.Millisecond))
	b.sessionsClosed("the frozen daemon's", oldSessions)
	b.noDuplicates()

	// kill -9: restarted, converged, the stale session closed.
	oldSessions = sessionsOf(b.ispa)
	pid = b.show("MainPID")
	b.run("kill", "-KILL", pid)
	b.restarted(pid, 60*time.Second)
	b.sessionsClosed("the killed daemon's", oldSessions)
	b.noDuplicates()

	// An upgrade (the same package again) restarts pathpin while it runs.
	pid = b.show("MainPID")
	b.run("dpkg", "-i", bootDeb)
	b.restarted(pid, 60*time.Second)

	// Stop: the router as before pathpin started, no session at the AC.
	b.run("systemctl", "stop", "pathpin")
	before, err := os.ReadFile(bootBefore)
	if err != nil {
		t.Fatal(err)
	}
	if after := routerState(b.run); after != string(before) {
		t.Errorf("after systemctl stop the router differs from before pathpin started:\nbefore:\n%s\nafter:\n%s", before, after)
	}
	b.waitFor("no session left at the AC", 15*time.Second, func() bool { return len(sessionsOf(b.ispa)) == 0 })
	if st := strings.TrimSpace(b.run("systemctl", "show", "-p", "ActiveState", "--value", "pathpin-backup.slice")); st == "active" {
		t.Errorf("the program's slice pathpin started is %s after pathpin stopped", st)
	}

	// An upgrade does not start a pathpin that was stopped.
	b.run("dpkg", "-i", bootDeb)
	if st := b.show("ActiveState"); st != "inactive" {
		t.Errorf("an upgrade of a stopped pathpin left it %s", st)
	}

	// The journal: pathpin's log with the uplink as a field, no password.
	journal := b.run("journalctl", "-o", "json", "--no-pager")
	if strings.Contains(journal, bootPassword) {
		t.Error("the password is in the journal")
	}
	if !strings.Contains(b.run("journalctl", "-u", "pathpin", "UPLINK=plusnet", "-o", "cat", "--no-pager"), "pppd") {
		t.Error("the journal has no pathpin entries with the field UPLINK=plusnet")
	}
}
