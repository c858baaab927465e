package uplink

import (
	"bufio"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/pathpin/pathpin/internal/netnstest"
)

// otherMarkUsers sets the router up as wg-quick, Tailscale, Docker (both
// of its firewall backends), kube-proxy and Cilium do, with the real ip,
// nft and iptables commands (both variants).
func otherMarkUsers(l *engineLab) {
	r := l.Router
	// wg-quick with its default table: its rules and its nft table.
	r.Run("ip", "rule", "add", "not", "fwmark", "0xca6c", "table", "51820")
	r.Run("ip", "rule", "add", "table", "main", "suppress_prefixlength", "0")
	r.Run("nft", `add table ip wg-quick-wg0; add chain ip wg-quick-wg0 premangle { type filter hook prerouting priority -150; }; add chain ip wg-quick-wg0 postmangle { type filter hook postrouting priority -150; }; add rule ip wg-quick-wg0 premangle meta l4proto udp meta mark set ct mark; add rule ip wg-quick-wg0 postmangle meta l4proto udp mark 0xca6c ct mark set mark`)
	// Tailscale: its rules at 5210-5270, its iptables-nft chains and
	// src_valid_mark.
	for _, rule := range [][]string{{"5210", "fwmark", "0x80000/0xff0000", "lookup", "main"}, {"5230", "fwmark", "0x80000/0xff0000", "lookup", "default"}, {"5270", "lookup", "52"}} {
		r.Run("ip", append([]string{"rule", "add", "pref"}, rule...)...)
	}
	r.Run("iptables-nft", "-N", "ts-forward")
	r.Run("iptables-nft", "-A", "ts-forward", "-i", "tailscale0", "-j", "MARK", "--set-xmark", "0x40000/0xff0000")
	r.Run("iptables-nft", "-A", "ts-forward", "-m", "mark", "--mark", "0x40000/0xff0000", "-j", "ACCEPT")
	r.Run("iptables-nft", "-t", "nat", "-N", "ts-postrouting")
	r.Run("iptables-nft", "-t", "nat", "-A", "ts-postrouting", "-m", "mark", "--mark", "0x40000/0xff0000", "-j", "MASQUERADE")
	r.Run("sysctl", "-qw", "net.ipv4.conf.all.src_valid_mark=1")
	// Docker: its chains and FORWARD policy with iptables, and its
	// nftables backend's table.
	r.Run("iptables-nft", "-N", "DOCKER-USER")
	r.Run("iptables-nft", "-A", "FORWARD", "-j", "DOCKER-USER")
	r.Run("iptables-nft", "-P", "FORWARD", "DROP")
	r.Run("nft", `add table ip docker-bridges; add chain ip docker-bridges filter-FORWARD { type filter hook forward priority 0; policy drop; }`)
	// kube-proxy, with iptables-legacy.
	r.Run("iptables-legacy", "-t", "nat", "-N", "KUBE-MARK-MASQ")
	r.Run("iptables-legacy", "-t", "nat", "-A", "KUBE-MARK-MASQ", "-j", "MARK", "--set-xmark", "0x4000/0x4000")
	r.Run("iptables-legacy", "-t", "nat", "-N", "KUBE-MARK-DROP")
	r.Run("iptables-legacy", "-t", "nat", "-A", "KUBE-MARK-DROP", "-j", "MARK", "--set-xmark", "0x8000/0x8000")
	r.Run("iptables-legacy", "-t", "nat", "-N", "KUBE-POSTROUTING")
	r.Run("iptables-legacy", "-t", "nat", "-A", "KUBE-POSTROUTING", "-m", "mark", "!", "--mark", "0x4000/0x4000", "-j", "RETURN")
	// An nftables load balancer of its own: marks from a numgen map, and
	// a connection mark set from a value.
	r.Run("nft", `add table inet lb; add chain inet lb pick { type filter hook prerouting priority -160; }; add rule inet lb pick ct state new meta mark set numgen inc mod 2 map { 0 : 0x100, 1 : 0x200 }; add rule inet lb pick tcp dport 9999 ct mark set 0x300`)
	// Cilium's mangle chain.
	r.Run("iptables-nft", "-t", "mangle", "-N", "CILIUM_PRE_mangle")
	r.Run("iptables-nft", "-t", "mangle", "-A", "CILIUM_PRE_mangle", "-p", "tcp", "-m", "mark", "!", "--mark", "0xe00/0xf00", "-j", "MARK", "--set-xmark", "0xa00/0xf00")
}

func TestCheckNamesOtherMarkUsers(t *testing.T) {
	l := newEngineLab(t)
	otherMarkUsers(l)
	tun := exec.Command("ip", "netns", "exec", l.Router.Name, "ip", "tuntap", "add", "dev", "tailscale0", "mode", "tun").Run() == nil // a kernel without tun has no Tailscale link either
	// An older pathpin's chain is no other software's: check says to
	// remove it, and takes none of its bits.
	l.Router.Run("iptables-nft", "-t", "mangle", "-N", "PATHPIN-BALANCE")
	l.Router.Run("iptables-nft", "-t", "mangle", "-A", "PATHPIN-BALANCE", "-j", "MARK", "--set-xmark", "0x100/0xff00")
	l.configure(1, 1)
	out, _ := l.pathpin("check")
	wants := []string{
		// wg-quick
		"not from all fwmark 0xca6c lookup 51820 compares the whole mark with 0xca6c, which has bits inside pathpin's mark-mask 0xff00",
		"ok: wg-quick: nftables table ip wg-quick-wg0, chain premangle copies marks between packets and their connections (bits all)",
		"warning: wg-quick: nftables table ip wg-quick-wg0, chain postmangle compares the whole mark with 0xca6c",
		"warning: wg-quick: nftables table ip wg-quick-wg0, chain postmangle sets mark bits 0xca6c",
		// Tailscale: outside the default mask, and src_valid_mark
		"ok: Tailscale: ip rule 5210: from all fwmark 0x80000/0xff0000 lookup main uses mark bits 0xff0000, outside pathpin's mark-mask 0xff00",
		"ok: Tailscale: iptables-nft -t filter -A ts-forward -i tailscale0 -j MARK --set-xmark 0x40000/0xff0000 uses mark bits 0xff0000",
		"ok: net.ipv4.conf.{all}.src_valid_mark is 1",
		// Docker
		"warning: iptables-nft -t filter -P FORWARD DROP: forwarded traffic that none of its rules accepts is dropped",
		"warning: Docker's nftables table ip docker-bridges, chain filter-FORWARD (policy drop)",
		// kube-proxy, by iptables-legacy
		"warning: kube-proxy: iptables-legacy -t nat -A KUBE-MARK-MASQ -j MARK --set-xmark 0x4000/0x4000 sets mark bits 0x4000, inside pathpin's mark-mask 0xff00",
		"warning: kube-proxy: iptables-legacy -t nat -A KUBE-MARK-DROP -j MARK --set-xmark 0x8000/0x8000 sets mark bits 0x8000",
		"warning: kube-proxy: iptables-legacy -t nat -A KUBE-POSTROUTING -m mark ! --mark 0x4000/0x4000 -j RETURN tests mark bits 0x4000",
		// Cilium
		"warning: Cilium: iptables-nft -t mangle -A CILIUM_PRE_mangle -p tcp -m mark ! --mark 0xe00/0xf00 -j MARK --set-xmark 0xa00/0xf00 sets mark bits 0xf00, inside pathpin's mark-mask 0xff00",
		// an nftables balancer's map and a connection mark set
		"warning: nftables table inet lb, chain pick sets mark bits 0x300, inside pathpin's mark-mask 0xff00",
		// an older pathpin's chain, named once
		"iptables-nft -t mangle PATHPIN-BALANCE was left by an older pathpin",
		// the fix
		"set mark-mask: 0xff000000 in " + l.cfgPath,
	}
	if tun {
		wants = append(wants, "ok: Tailscale link tailscale0")
	}
	for _, want := range wants {
		if !strings.Contains(out, want) {
			t.Errorf("check does not say %q", want)
		}
	}
	if strings.Contains(out, "PATHPIN-BALANCE -j MARK") {
		t.Errorf("an older pathpin's chain is reported as another program's marks")
	}
	if t.Failed() {
		t.Fatalf("check said:\n%s", out)
	}

	// pathpin up says the same in its log when it starts.
	logPath := filepath.Join(t.TempDir(), "up.log")
	logFile, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	defer logFile.Close()
	up := l.Router.Command(l.bin, "up", "-c", l.cfgPath, "--state-dir", l.stateDir, "--lib-dir", t.TempDir())
	up.Stdout, up.Stderr = logFile, logFile
	if err := up.Start(); err != nil {
		t.Fatal(err)
	}
	upLog := func() string { b, _ := os.ReadFile(logPath); return string(b) }
	deadline := time.Now().Add(20 * time.Second)
	for !strings.Contains(upLog(), "read the other software's packet marks") {
		if time.Now().After(deadline) {
			_ = up.Process.Kill()
			_ = up.Wait()
			t.Fatalf("pathpin up did not read the other software's marks:\n%s", upLog())
		}
		time.Sleep(50 * time.Millisecond)
	}
	_ = up.Process.Signal(syscall.SIGTERM)
	_ = up.Wait()
	if log := upLog(); !strings.Contains(log, "another program's marks: kube-proxy: iptables-legacy -t nat -A KUBE-MARK-MASQ") || !strings.Contains(log, "round=1") {
		t.Errorf("pathpin up's log lacks the clashes:\n%s", log)
	}

	// With the proposed mask, no clash is left; the forward drops stay.
	l.write(l.Config(1, 1, "mark-mask: 0xff000000\n"))
	out, _ = l.pathpin("check")
	if strings.Contains(out, ", inside pathpin's mark-mask") || !strings.Contains(out, "ok: no other software here uses mark bits inside pathpin's mark-mask 0xff000000") {
		t.Fatalf("with the proposed mask, check still reports a clash:\n%s", out)
	}
	if !strings.Contains(out, "warning: iptables-nft -t filter -P FORWARD DROP") {
		t.Fatalf("the FORWARD policy drop is no longer reported:\n%s", out)
	}
}

// foreignMarks is the other software's part of the router's state: both
// iptables variants, every nftables table but pathpin's, the ip rules
// outside pathpin's band and src_valid_mark; counters dropped.
func (l *engineLab) foreignMarks() string {
	l.t.Helper()
	var b strings.Builder
	for _, save := range []string{"iptables-nft-save", "iptables-legacy-save"} {
		for _, line := range strings.Split(l.Router.Run(save), "\n") {
			if !strings.HasPrefix(line, "#") {
				b.WriteString(counters.ReplaceAllString(line, "[n]") + "\n")
			}
		}
	}
	for _, line := range strings.Split(l.Router.Run("nft", "list", "tables"), "\n") {
		if f := strings.Fields(line); len(f) == 3 && !(f[1] == "ip" && f[2] == "pathpin") {
			b.WriteString(nftCounters.ReplaceAllString(l.Router.Run("nft", "list", "table", f[1], f[2]), "counter"))
		}
	}
	for _, line := range strings.Split(l.Router.Run("ip", "rule"), "\n") {
		if prio, _, _ := strings.Cut(line, ":"); len(prio) != 5 || prio < "10000" || prio > "10999" {
			b.WriteString(line + "\n")
		}
	}
	b.WriteString(l.Router.Run("sysctl", "net.ipv4.conf.all.src_valid_mark"))
	return b.String()
}

// TestForeignMarksKeptAndNotSteered: another program's mark bits outside
// pathpin's mask leave the router with every balanced connection, and a
// connection whose packets already carry another program's bits inside
// the mask is not steered by pathpin at all (its connection mark gets no
// uplink; it is routed as if pathpin were not there: by the router's
// uplink, ispa).
func TestForeignMarksKeptAndNotSteered(t *testing.T) {
	l := newEngineLab(t)
	netnstest.ServeSourceAddress(l.Server.Listen(netnstest.ServerAddr + ":81"))
	netnstest.ServeSourceAddress(l.Server.Listen(netnstest.ServerAddr + ":82"))
	l.Router.Run("nft", `add table inet other
add chain inet other pre { type filter hook prerouting priority -300; }
add rule inet other pre iifname "lan0" meta mark set meta mark or 0x1
add rule inet other pre iifname "lan0" tcp dport 81 meta mark set meta mark or 0x4000
add rule inet other pre iifname "lan0" tcp dport 82 tcp flags & (syn | ack) == ack meta mark set meta mark or 0x4000
add chain inet other post { type filter hook postrouting priority 300; }
add rule inet other post oifname "wan0" tcp dport 80 meta mark and 0x1 == 0x1 counter
add rule inet other post oifname "wan1" tcp dport 80 meta mark and 0x1 == 0x1 counter
add rule inet other post tcp dport 81 meta mark and 0xff01 == 0x4001 ct mark and 0xff00 == 0 counter
add rule inet other post tcp dport 80 meta mark and 0x1 == 0 counter
add rule inet other post tcp dport 82 ct mark and 0xff00 != 0 meta mark and 0xff00 == 0x4000 counter`)
	l.configure(1, 1)
	l.mustApply()
	counts := l.connect(40)
	if counts[l.UplinkAddrs[0]] == 0 || counts[l.UplinkAddrs[1]] == 0 {
		t.Fatalf("40 connections went %v; want both uplinks", counts)
	}
	for i := 0; i < 10; i++ {
		c, err := l.Client.DialSource(netnstest.ServerAddr + ":81")
		if err != nil {
			t.Fatalf("a connection with another program's mark: %v", err)
		}
		if c.First != l.UplinkAddrs[0] {
			t.Errorf("a connection with another program's mark 0x4000 left by %s, not as if pathpin were not there (by ispa)", c.First)
		}
		c.Close()
	}
	// Connections pathpin balanced whose later packets get another
	// program's bit inside the mask: those packets keep it.
	for i := 0; i < 5; i++ {
		c, err := l.Client.DialSource(netnstest.ServerAddr + ":82")
		if err != nil {
			t.Fatal(err)
		}
		c.Close()
	}
	got := regexp.MustCompile(`counter packets (\d+)`).FindAllStringSubmatch(l.Router.Run("nft", "list", "chain", "inet", "other", "post"), -1)
	if len(got) != 5 {
		t.Fatalf("counters %v", got)
	}
	for i, what := range []string{"balanced by wan0 with bit 0x1", "balanced by wan1 with bit 0x1", "with 0x4000 and no uplink in its connection mark", "", "of a balanced connection with 0x4000 set later, still 0x4000"} {
		if what == "" {
			continue
		}
		if got[i][1] == "0" {
			t.Errorf("no packet left %s", what)
		}
	}
	if got[3][1] != "0" {
		t.Errorf("%s packets lost the other program's bit 0x1", got[3][1])
	}
}

// TestDockerRecipe is the README's Docker recipe on the real kernel:
// Docker's FORWARD policy of drop stops the LAN (and check says so); its
// DOCKER-USER accepts bring the LAN back, balanced; a container bridge
// listed in lan.interfaces has its containers' connections balanced too,
// through Docker's own masquerade.
func TestDockerRecipe(t *testing.T) {
	l := newEngineLab(t)
	container := netnstest.New(t)
	netnstest.Veth(t, container, "eth0", l.Router, "docker0")
	container.Run("ip", "addr", "add", "172.17.0.2/16", "dev", "eth0")
	container.Run("ip", "route", "add", "default", "via", "172.17.0.1")
	l.Router.Run("ip", "addr", "add", "172.17.0.1/16", "dev", "docker0")
	r := l.Router
	r.Run("iptables-nft", "-N", "DOCKER-USER")
	r.Run("iptables-nft", "-N", "DOCKER")
	r.Run("iptables-nft", "-A", "FORWARD", "-j", "DOCKER-USER")
	r.Run("iptables-nft", "-A", "FORWARD", "-o", "docker0", "-m", "conntrack", "--ctstate", "RELATED,ESTABLISHED", "-j", "ACCEPT")
	r.Run("iptables-nft", "-A", "FORWARD", "-i", "docker0", "!", "-o", "docker0", "-j", "ACCEPT")
	r.Run("iptables-nft", "-P", "FORWARD", "DROP")
	r.Run("iptables-nft", "-t", "nat", "-A", "POSTROUTING", "-s", "172.17.0.0/16", "!", "-o", "docker0", "-j", "MASQUERADE")

	l.write(strings.Replace(l.Config(1, 1, ""), "interfaces: [lan0]", "interfaces: [lan0, docker0]", 1))
	out, _ := l.pathpin("check")
	if !strings.Contains(out, "warning: iptables-nft -t filter -P FORWARD DROP") {
		t.Fatalf("check does not report Docker's FORWARD policy:\n%s", out)
	}
	l.mustApply()
	if c, err := l.Client.DialSourceWithin(netnstest.ServerAddr+":80", 500*time.Millisecond); err == nil {
		c.Close()
		t.Fatal("the LAN reached the server through Docker's FORWARD policy of drop")
	}
	r.Run("iptables-nft", "-I", "DOCKER-USER", "-i", "lan0", "-j", "ACCEPT")
	r.Run("iptables-nft", "-I", "DOCKER-USER", "-o", "lan0", "-m", "conntrack", "--ctstate", "ESTABLISHED,RELATED", "-j", "ACCEPT")
	if counts := l.connect(40); counts[l.UplinkAddrs[0]] == 0 || counts[l.UplinkAddrs[1]] == 0 {
		t.Fatalf("with DOCKER-USER accepting the LAN, 40 connections went %v", counts)
	}
	if counts := sourcesSeen(t, container, 40); counts[l.UplinkAddrs[0]] == 0 || counts[l.UplinkAddrs[1]] == 0 || len(counts) != 2 {
		t.Fatalf("40 container connections left by %v; want both uplinks", counts)
	}
}

// TestTailscaleRecipe is the README's Tailscale recipe on the real kernel,
// with Tailscale's own rules, chains, link and sysctl made as it makes
// them (its daemon is not a Debian package), on a router with no default
// route in main: with pathpin's default mask nothing clashes, but
// tailscaled's own marked connections find no route until the recipe's
// rule sends them into pathpin's (check says so, and then no more); the LAN stays balanced with src_valid_mark=1 and the
// LAN interface's reverse-path filter strict (its sources are checked in
// the uplink table their mark picks); the router's own connections are
// balanced; and its traffic to the tailnet goes to tailscale0 with no
// uplink in its connection mark.
func TestTailscaleRecipe(t *testing.T) {
	l := newEngineLab(t)
	r := l.Router
	if exec.Command("ip", "netns", "exec", r.Name, "ip", "tuntap", "add", "dev", "tailscale0", "mode", "tun").Run() != nil {
		t.Skip("skipping: this kernel has no tun device, so no Tailscale link")
	}
	r.Run("ip", "addr", "add", "100.101.102.103/32", "dev", "tailscale0")
	r.Run("ip", "link", "set", "tailscale0", "up")
	r.Run("ip", "route", "add", "100.64.0.0/10", "dev", "tailscale0", "table", "52")
	for _, rule := range [][]string{{"5210", "fwmark", "0x80000/0xff0000", "lookup", "main"}, {"5230", "fwmark", "0x80000/0xff0000", "lookup", "default"},
		{"5250", "fwmark", "0x80000/0xff0000", "unreachable"}, {"5270", "lookup", "52"}} {
		r.Run("ip", append([]string{"rule", "add", "pref"}, rule...)...)
	}
	for _, args := range [][]string{
		{"-N", "ts-forward"}, {"-A", "FORWARD", "-j", "ts-forward"},
		{"-A", "ts-forward", "-i", "tailscale0", "-j", "MARK", "--set-xmark", "0x40000/0xff0000"},
		{"-A", "ts-forward", "-m", "mark", "--mark", "0x40000/0xff0000", "-j", "ACCEPT"},
		{"-t", "nat", "-N", "ts-postrouting"}, {"-t", "nat", "-A", "POSTROUTING", "-j", "ts-postrouting"},
		{"-t", "nat", "-A", "ts-postrouting", "-m", "mark", "--mark", "0x40000/0xff0000", "-j", "MASQUERADE"},
	} {
		r.Run("iptables-nft", args...)
	}
	r.Run("sysctl", "-qw", "net.ipv4.conf.all.src_valid_mark=1")
	r.Run("sysctl", "-qw", "net.ipv4.conf.lan0.rp_filter=1")

	// A router on PPPoE or DHCP has no default route in main: pathpin
	// keeps each uplink's default in the uplink's own table.
	r.Run("ip", "route", "del", "default")
	l.configure(1, 1)
	l.mustApply()
	out, _ := l.pathpin("check")
	goTo := "ip rule add pref 5209 fwmark 0x80000/0xff0000 goto 10100"
	if strings.Contains(out, ", inside pathpin's mark-mask") || !strings.Contains(out, "ok: Tailscale link tailscale0") || !strings.Contains(out, "src_valid_mark is 1") ||
		!strings.Contains(out, "warning: Tailscale: ip rule 5250: from all fwmark 0x80000/0xff0000 unreachable refuses the packets with its mark") || !strings.Contains(out, goTo) {
		t.Fatalf("check beside Tailscale:\n%s", out)
	}
	// tailscaled's own connections (its control server, DERP, WireGuard)
	// carry 0x80000: without the recipe's rule they find no route.
	if _, err := dialMarked(r, netnstest.ServerAddr+":80", 0x80000); err == nil {
		t.Fatal("a connection marked 0x80000 found a route with no default in main: the recipe's rule is not needed")
	}
	r.Run("sh", "-c", goTo)
	if src, err := dialMarked(r, netnstest.ServerAddr+":80", 0x80000); err != nil || (src != l.UplinkAddrs[0] && src != l.UplinkAddrs[1]) {
		t.Fatalf("with the recipe's rule, a connection marked 0x80000 reached the server from %q (%v), not by an uplink", src, err)
	}
	if out, _ := l.pathpin("check"); strings.Contains(out, "no default route") {
		t.Fatalf("check still warns with the recipe's rule:\n%s", out)
	}
	// The test's own counters (after check: they test pathpin's bits).
	r.Run("nft", `add table inet tailnet
add chain inet tailnet post { type filter hook postrouting priority 300; }
add rule inet tailnet post oifname "tailscale0" ct mark and 0xff00 == 0 counter
add rule inet tailnet post oifname "tailscale0" counter`)
	if counts := l.connect(40); counts[l.UplinkAddrs[0]] == 0 || counts[l.UplinkAddrs[1]] == 0 {
		t.Fatalf("40 LAN connections beside Tailscale went %v", counts)
	}
	counts := sourcesSeen(t, r, 40)
	// An unbound socket takes its source from the router's uplink (ispa),
	// and pathpin keeps a connection on its source's uplink.
	if counts[l.UplinkAddrs[0]] != 40 {
		t.Fatalf("40 of the router's own connections went %v; want all by ispa", counts)
	}
	// Nothing reads the tun device: the connection to a tailnet peer
	// gets no answer, and its SYNs are counted on tailscale0.
	if c, err := r.Dial("100.100.1.1:80", 300*time.Millisecond); err == nil {
		c.Close()
	}
	got := regexp.MustCompile(`counter packets (\d+)`).FindAllStringSubmatch(r.Run("nft", "list", "chain", "inet", "tailnet", "post"), -1)
	if len(got) != 2 || got[1][1] == "0" || got[0][1] != got[1][1] {
		t.Fatalf("the router's packets to the tailnet: %v (want some, none with an uplink's mark)", got)
	}
}

// dialMarked connects from ns with a socket mark, as tailscaled does, and
// returns the source address the server saw.
func dialMarked(ns *netnstest.NS, addr string, mark int) (string, error) {
	var src string
	var err error
	ns.Do(func() {
		d := net.Dialer{Timeout: 2 * time.Second, Control: func(_, _ string, c syscall.RawConn) error {
			var serr error
			if err := c.Control(func(fd uintptr) { serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_MARK, mark) }); err != nil {
				return err
			}
			return serr
		}}
		var c net.Conn
		if c, err = d.Dial("tcp", addr); err != nil {
			return
		}
		defer c.Close()
		_ = c.SetDeadline(time.Now().Add(2 * time.Second))
		src, err = bufio.NewReader(c).ReadString('\n')
		src = strings.TrimSpace(src)
	})
	return src, err
}

// sourcesSeen opens n connections from ns to the server and counts the
// source addresses it saw.
func sourcesSeen(t *testing.T, ns *netnstest.NS, n int) map[string]int {
	t.Helper()
	counts := map[string]int{}
	for i := 0; i < n; i++ {
		c, err := ns.DialSource(netnstest.ServerAddr + ":80")
		if err != nil {
			t.Fatalf("connection %d from %s: %v (so far %v)", i, ns.Name, err, counts)
		}
		counts[c.First]++
		c.Close()
	}
	return counts
}
