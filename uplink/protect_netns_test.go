package uplink

import (
	"context"
	"net"
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/pathpin/pathpin/internal/config"
	"github.com/pathpin/pathpin/internal/netnstest"
)

// udpEcho answers every datagram to addr in ns with the same bytes.
func udpEcho(t *testing.T, ns *netnstest.NS, addr string) {
	var pc net.PacketConn
	ns.Must(func() (err error) { pc, err = net.ListenPacket("udp4", addr); return err })
	t.Cleanup(func() { pc.Close() })
	go func() {
		buf := make([]byte, 1500)
		for {
			n, from, err := pc.ReadFrom(buf)
			if err != nil {
				return
			}
			_, _ = pc.WriteTo(buf[:n], from)
		}
	}()
}

// udpAnswered says whether a datagram from ns to addr is answered.
func udpAnswered(ns *netnstest.NS, addr string) bool {
	answered := false
	ns.Do(func() {
		c, err := net.Dial("udp4", addr)
		if err != nil {
			return
		}
		defer c.Close()
		_ = c.SetDeadline(time.Now().Add(400 * time.Millisecond))
		if _, err := c.Write([]byte("hello")); err != nil {
			return
		}
		buf := make([]byte, 16)
		n, err := c.Read(buf)
		answered = err == nil && string(buf[:n]) == "hello"
	})
	return answered
}

// tcpAnswered says whether a TCP connection from ns to addr is answered.
func tcpAnswered(ns *netnstest.NS, addr string) bool {
	c, err := ns.DialSourceWithin(addr, 400*time.Millisecond)
	if err != nil {
		return false
	}
	c.Close()
	return true
}

// pings says whether one echo request from ns (from src, when given) to
// dst is answered.
func pings(ns *netnstest.NS, dst, src string) bool {
	args := []string{"-c1", "-W1", dst}
	if src != "" {
		args = append(args, "-I", src)
	}
	return ns.Command("ping", args...).Run() == nil
}

// dropped reads the packets counted by the protection rule of chain that
// matches rule, from nft list.
func dropped(t *testing.T, l *engineLab, chain, rule string) int {
	t.Helper()
	out := l.Router.Run("nft", "list", "chain", "ip", "pathpin", chain)
	m := regexp.MustCompile(regexp.QuoteMeta(rule) + ` counter packets (\d+)`).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("no rule %q in chain %s:\n%s", rule, chain, out)
	}
	n, _ := strconv.Atoi(m[1])
	return n
}

// TestProtectTheLAN: with the default configuration, nothing on an
// uplink's side gets into the LAN or through to the other uplink, but
// port forwards (nft, iptables-nft, iptables-legacy) do, and the LAN
// reaches out by both uplinks.
func TestProtectTheLAN(t *testing.T) {
	netnstest.RequireRoot(t, "ping", "tcpdump")
	l := newEngineLab(t)
	l.configure(1, 1)
	l.mustApply()
	netnstest.ServeSourceAddress(l.Client.Listen("10.0.0.2:80"))
	udpEcho(t, l.Client, "10.0.0.2:9999")
	for i, isp := range l.ISPs {
		isp.Run("ip", "route", "add", "10.0.0.0/24", "via", l.UplinkAddrs[i])
	}
	closed := func(when string) {
		t.Helper()
		for i, isp := range l.ISPs {
			if tcpAnswered(isp, "10.0.0.2:80") {
				t.Errorf("%s: TCP from ISP %d's side reached a LAN client", when, i)
			}
			if udpAnswered(isp, "10.0.0.2:9999") {
				t.Errorf("%s: UDP from ISP %d's side reached a LAN client", when, i)
			}
			if pings(isp, "10.0.0.2", "") {
				t.Errorf("%s: ICMP echo from ISP %d's side reached a LAN client", when, i)
			}
		}
	}
	closed("default configuration")
	if n := dropped(t, l, "from_ispa", "ct state new"); n == 0 {
		t.Error("the refused connections from ispa's side were not counted")
	}

	// Port forwards, made with each tool, answer through their arrival
	// uplink.
	l.Router.Run("nft", `add table ip portfwd; add chain ip portfwd pre { type nat hook prerouting priority dstnat; }; add rule ip portfwd pre iifname "wan0" tcp dport 8080 dnat to 10.0.0.2:80`)
	l.Router.Run("iptables-nft", "-t", "nat", "-A", "PREROUTING", "-i", "wan1", "-p", "tcp", "--dport", "8081", "-j", "DNAT", "--to-destination", "10.0.0.2:80")
	l.Router.Run("iptables-legacy", "-t", "nat", "-A", "PREROUTING", "-i", "wan0", "-p", "tcp", "--dport", "8082", "-j", "DNAT", "--to-destination", "10.0.0.2:80")
	for _, fwd := range []struct {
		isp  int
		addr string
	}{{0, l.UplinkAddrs[0] + ":8080"}, {1, l.UplinkAddrs[1] + ":8081"}, {0, l.UplinkAddrs[0] + ":8082"}} {
		c, err := l.ISPs[fwd.isp].DialSourceWithin(fwd.addr, 2*time.Second)
		if err != nil {
			t.Errorf("the port forward %s from ISP %d: %v", fwd.addr, fwd.isp, err)
			continue
		}
		if want := l.Gateways[fwd.isp]; c.First != want {
			t.Errorf("the port forward %s: the LAN client saw %s, want %s", fwd.addr, c.First, want)
		}
		c.Close()
	}
	if counts := l.connect(40); counts[l.UplinkAddrs[0]] == 0 || counts[l.UplinkAddrs[1]] == 0 {
		t.Errorf("LAN clients' connections went %v; want both uplinks", counts)
	}

	// A packet from an uplink's side with a LAN source address.
	l.ISPs[0].Run("ip", "addr", "add", "10.0.0.99/32", "dev", "lo")
	if pings(l.ISPs[0], "10.0.0.2", "10.0.0.99") {
		t.Error("a spoofed LAN source from ispa's side reached the LAN")
	}
	if n := dropped(t, l, "from_ispa", "ip saddr 10.0.0.0/24"); n == 0 {
		t.Error("the spoofed packet was not counted")
	}
	out, err := l.Router.Command(l.bin, "status", "--json", "-c", l.cfgPath, "--state-dir", l.stateDir).CombinedOutput()
	if err != nil || !regexp.MustCompile(`"spoofed": [1-9]`).Match(out) {
		t.Errorf("status does not show the spoofed packets dropped: %v\n%s", err, out)
	}

	// Another firewall that accepts everything in forward opens nothing.
	l.Router.Run("nft", `add table inet other; add chain inet other forward { type filter hook forward priority 0; policy accept; }; add rule inet other forward accept`)
	closed("beside a firewall that accepts everything")
	// And one that drops LAN clients' web traffic is not overridden.
	l.Router.Run("nft", `insert rule inet other forward iifname "lan0" tcp dport 80 drop`)
	if _, err := l.Client.DialSourceWithin(netnstest.ServerAddr+":80", 400*time.Millisecond); err == nil {
		t.Error("pathpin's table re-opened what another firewall drops")
	}
}

// TestNothingIsRelayedBetweenUplinks: a host on one uplink's side that
// routes a far prefix at the router gets nothing out of the other uplink,
// with its uplink in service, out of service on health, and (for a DHCP
// uplink) before its first lease.
func TestNothingIsRelayedBetweenUplinks(t *testing.T) {
	netnstest.RequireRoot(t, "ping", "tcpdump")
	l := newEngineLab(t)
	l.configure(1, 1)
	cfg, err := config.Load(l.cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	e := l.engine()
	apply := func(held Holds) {
		t.Helper()
		l.Router.Must(func() error { _, err := e.Apply(context.Background(), Input{Config: cfg, Holds: held}); return err })
	}
	captures := []*netnstest.Capture{l.ISPs[0].StartCapture("cpe", "icmp"), l.ISPs[1].StartCapture("cpe", "icmp")}
	for i, isp := range l.ISPs {
		isp.Run("ip", "route", "add", "198.51.100.0/24", "via", l.UplinkAddrs[i])
	}
	for _, held := range []Holds{nil, {"ispa": Down(HealthDown, "probes")}, {"ispb": Down(HealthDown, "probes")}} {
		apply(held)
		for i, isp := range l.ISPs {
			pings(isp, "198.51.100.1", "")
			// Relayed, it would show on the other ISP's link, NATed to the
			// router's address there or not NATed at all.
			if other := captures[1-i].Text(); strings.Contains(other, l.UplinkAddrs[1-i]+" > 198.51.100.1:") || strings.Contains(other, l.Gateways[i]+" > 198.51.100.1:") {
				t.Errorf("holds %v: ISP %d's packet left by the other uplink:\n%s", held, i, other)
			}
		}
	}
	// A DHCP uplink before its first lease: its interface has no address,
	// and what arrives on it is refused all the same.
	dhcpCfg, err := config.Parse("dhcp.yaml", []byte(strings.Replace(l.Config(1, 1, ""), "    interface: wan0\n    gateway: 192.168.1.254\n", "    interface: wan0\n    dhcp: {}\n", 1)))
	if err != nil {
		t.Fatal(err)
	}
	l.Router.Run("ip", "addr", "flush", "dev", "wan0")
	l.Router.Must(func() error { _, err := e.Apply(context.Background(), Input{Config: dhcpCfg}); return err })
	l.ISPs[0].Run("ip", "route", "replace", "198.51.100.0/24", "dev", "cpe")
	l.ISPs[0].Run("ip", "neigh", "replace", "198.51.100.1", "lladdr", routerMAC(t, l, "wan0"), "dev", "cpe")
	if other := captures[1].Text(); pings(l.ISPs[0], "198.51.100.1", "") || strings.Contains(other, l.UplinkAddrs[1]+" > 198.51.100.1:") || strings.Contains(other, l.Gateways[0]+" > 198.51.100.1:") {
		t.Errorf("before its lease, the DHCP uplink relayed to the other:\n%s", captures[1].Text())
	}
}

func routerMAC(t *testing.T, l *engineLab, dev string) string {
	t.Helper()
	m := regexp.MustCompile(`link/ether ([0-9a-f:]+)`).FindStringSubmatch(l.Router.Run("ip", "link", "show", dev))
	if m == nil {
		t.Fatalf("no MAC on %s", dev)
	}
	return m[1]
}

// TestProtectOffAndTheRouter: protect.lan: false leaves the chain out and
// check warns; protect.router refuses new connections to the router from
// the uplinks' side but for allow-in, while the router's own connections
// (and so its probes' replies) pass.
func TestProtectOffAndTheRouter(t *testing.T) {
	netnstest.RequireRoot(t, "ping")
	l := newEngineLab(t)
	l.write(l.Config(1, 1, "protect:\n  lan: false\n"))
	l.mustApply()
	if strings.Contains(l.Router.Run("nft", "list", "table", "ip", "pathpin"), "filter_forward") {
		t.Error("protect.lan: false, yet pathpin drops forwarded traffic")
	}
	if out, _ := l.pathpin("check"); !strings.Contains(out, "warning: protect.lan is off and nothing else filters forwarded traffic") {
		t.Errorf("check does not warn that the LAN is open:\n%s", out)
	}
	// Another firewall filtering forward: check says so instead.
	l.Router.Run("nft", `add table inet other; add chain inet other forward { type filter hook forward priority 0; policy drop; }`)
	if out, _ := l.pathpin("check"); !strings.Contains(out, "protect.lan is off; chain forward of table other (policy drop) filters forwarded traffic") {
		t.Errorf("check does not name the other firewall:\n%s", out)
	}
	l.Router.Run("nft", "delete table inet other")

	netnstest.ServeSourceAddress(l.Router.Listen(l.UplinkAddrs[0] + ":22"))
	netnstest.ServeSourceAddress(l.Router.Listen(l.UplinkAddrs[1] + ":22"))
	if out, _ := l.pathpin("check"); !strings.Contains(out, "listening where the uplinks' side can reach: tcp "+l.UplinkAddrs[0]+":22") {
		t.Errorf("check does not name the listener on an uplink's address:\n%s", out)
	}
	l.write(l.Config(1, 1, "protect:\n  router: true\n  allow-in: [tcp/22 on ispa]\n"))
	l.mustApply()
	if !tcpAnswered(l.ISPs[0], l.UplinkAddrs[0]+":22") {
		t.Error("allow-in tcp/22 on ispa, yet ispa's side cannot reach it")
	}
	if tcpAnswered(l.ISPs[1], l.UplinkAddrs[1]+":22") {
		t.Error("protect.router, yet ispb's side reaches the router's port 22")
	}
	if pings(l.ISPs[1], l.UplinkAddrs[1], "") {
		t.Error("protect.router, yet ispb's side pings the router")
	}
	// The router's own connections by each uplink (as its probes make).
	for i, addr := range l.UplinkAddrs {
		if !pings(l.Router, netnstest.ServerAddr, addr) {
			t.Errorf("protect.router stopped the router's own echo by uplink %d", i)
		}
	}
	_ = os.Remove(l.cfgPath)
}
