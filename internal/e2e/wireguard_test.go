package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pathpin/pathpin/internal/netnstest"
)

// wgKeys is a WireGuard key pair made with wg itself.
func wgKeys(ns *netnstest.NS) (private, public string) {
	private = strings.TrimSpace(ns.Run("wg", "genkey"))
	public = strings.TrimSpace(ns.Run("sh", "-c", "echo "+private+" | wg pubkey"))
	return private, public
}

// wgLink makes a WireGuard link in ns with a private key written to a
// file (wg reads keys only from files).
func wgLink(t *testing.T, ns *netnstest.NS, dir, name, private, addr string, port int) {
	t.Helper()
	key := filepath.Join(dir, name+".key")
	if err := os.WriteFile(key, []byte(private+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	ns.Run("ip", "link", "add", name, "type", "wireguard")
	args := []string{"set", name, "private-key", key}
	if port != 0 {
		args = append(args, "listen-port", fmt.Sprint(port))
	}
	ns.Run("wg", args...)
	ns.Run("ip", "addr", "add", addr, "dev", name)
	ns.Run("ip", "link", "set", name, "up")
}

// appendConfig adds YAML to the seed's configuration.
func (s *seed) appendConfig(extra string) {
	s.t.Helper()
	b, err := os.ReadFile(s.cfg)
	if err != nil {
		s.t.Fatal(err)
	}
	if err := os.WriteFile(s.cfg, append(b, []byte(extra)...), 0o644); err != nil {
		s.t.Fatal(err)
	}
}

// balancedLAN checks that the LAN client's connections still leave by
// both uplinks, each with its own address, and none by a tunnel.
func (s *seed) balancedLAN(pppAddr string) {
	s.t.Helper()
	counts := map[string]int{}
	for i := 0; i < 40; i++ {
		c, err := s.client.DialSource(netnstest.ServerAddr + ":80")
		if err != nil {
			s.t.Fatalf("LAN connection %d: %v", i, err)
		}
		counts[c.First]++
		c.Close()
	}
	if counts[pppAddr] == 0 || counts["192.168.1.2"] == 0 || len(counts) != 2 {
		s.t.Fatalf("40 LAN connections left by %v; want both uplinks' addresses and nothing else", counts)
	}
}

// TestWireGuardServerAnswersOnEitherUplink: a WireGuard server on the
// router answers a peer that reaches it by the PPP uplink and one that
// reaches it by the cable line, each 20 of 20, while pathpin balances the
// LAN. Each ISP drops what leaves its customer with another ISP's source
// (BCP 38), so a reply by the wrong uplink would be lost.
func TestWireGuardServerAnswersOnEitherUplink(t *testing.T) {
	requireVM(t)
	netnstest.RequireRoot(t, "wg")
	s := newSeed(t)
	s.ispa.Run("nft", `add table ip bcp38; add chain ip bcp38 spoof { type filter hook forward priority 0; }; add rule ip bcp38 spoof iifname "ppp*" ip saddr != 100.64.0.0/24 counter drop`)
	s.ispb.Run("nft", `add table ip bcp38; add chain ip bcp38 spoof { type filter hook forward priority 0; }; add rule ip bcp38 spoof iifname "cpe" ip saddr != 192.168.1.0/24 counter drop`)
	// Two remote peers beyond the ISPs, each in its own namespace behind
	// the server's network.
	peers := []*netnstest.NS{netnstest.New(t), netnstest.New(t)}
	s.sv.Run("sysctl", "-qw", "net.ipv4.ip_forward=1")
	for i, p := range peers {
		netnstest.Veth(t, p, "wan", s.sv, fmt.Sprintf("peer%d", i))
		p.Run("ip", "addr", "add", fmt.Sprintf("198.51.100.%d/30", 4*i+2), "dev", "wan")
		p.Run("ip", "route", "add", "default", "via", fmt.Sprintf("198.51.100.%d", 4*i+1))
		s.sv.Run("ip", "addr", "add", fmt.Sprintf("198.51.100.%d/30", 4*i+1), "dev", fmt.Sprintf("peer%d", i))
	}
	s.ispa.Run("ip", "route", "add", "198.51.100.0/24", "via", "172.16.1.2")
	s.ispb.Run("ip", "route", "add", "198.51.100.0/24", "via", "172.16.2.2")

	s.startPathpin()
	s.waitFor("the PPP uplink", 60*time.Second, func() bool { return s.pppAddress() != "" })
	ppp := s.pppAddress()
	s.waitFor("both uplinks routed", 20*time.Second, func() bool { return s.routed(ppp) })

	routerKey, routerPub := wgKeys(s.router)
	wgLink(t, s.router, s.dir, "wg0", routerKey, "10.77.0.1/24", 51820)
	netnstest.ServeSourceAddress(s.router.Listen("10.77.0.1:80"))
	for i, p := range peers {
		key, pub := wgKeys(p)
		s.router.Run("wg", "set", "wg0", "peer", pub, "allowed-ips", fmt.Sprintf("10.77.0.%d/32", i+2))
		wgLink(t, p, s.dir, "wgp", key, fmt.Sprintf("10.77.0.%d/24", i+2), 0)
		endpoint := []string{ppp, "192.168.1.2"}[i]
		p.Run("wg", "set", "wgp", "peer", routerPub, "endpoint", endpoint+":51820", "allowed-ips", "10.77.0.0/24")
	}
	for i, p := range peers {
		ok := 0
		for j := 0; j < 20; j++ {
			c, err := p.DialSourceWithin("10.77.0.1:80", 5*time.Second)
			if err != nil {
				t.Logf("peer by %s, connection %d: %v", []string{"plusnet", "talktalk"}[i], j, err)
				continue
			}
			if c.First == fmt.Sprintf("10.77.0.%d", i+2) {
				ok++
			}
			c.Close()
		}
		if ok != 20 {
			t.Errorf("the peer that reaches the router by %s got %d of 20 answers through the tunnel", []string{"plusnet", "talktalk"}[i], ok)
		}
	}
	s.balancedLAN(ppp)
	if out := s.ispb.Run("nft", "list", "table", "ip", "bcp38"); !strings.Contains(out, "counter packets 0 ") {
		t.Errorf("the router sent the cable ISP packets with another ISP's source:\n%s", out)
	}
	if out := s.ispa.Run("nft", "list", "table", "ip", "bcp38"); !strings.Contains(out, "counter packets 0 ") {
		t.Errorf("the router sent the PPP ISP packets with another ISP's source:\n%s", out)
	}
}

// TestWireGuardTunnelFollowsAFailover: a full-tunnel wg-quick client on
// the router (the README's recipe) carries the router's own traffic; its
// tunnel packets are pinned by a pathpin policy to talktalk and move to
// plusnet when talktalk loses carrier; the LAN stays balanced. pathpin
// check names wg-quick's 0xca6c inside the default mask and is quiet with
// the mask it proposes.
func TestWireGuardTunnelFollowsAFailover(t *testing.T) {
	requireVM(t)
	netnstest.RequireRoot(t, "wg", "wg-quick")
	s := newSeed(t)
	// The tunnel's far end is the server's host, reachable by both ISPs.
	svKey, svPub := wgKeys(s.sv)
	routerKey, routerPub := wgKeys(s.router)
	wgLink(t, s.sv, s.dir, "wgs", svKey, "10.99.0.1/24", 51820)
	s.sv.Run("wg", "set", "wgs", "peer", routerPub, "allowed-ips", "10.99.0.2/32")

	conf := filepath.Join(s.dir, "wg0.conf")
	if err := os.WriteFile(conf, []byte(fmt.Sprintf(`[Interface]
PrivateKey = %s
Address = 10.99.0.2/32
Table = 51820
FwMark = 0xca6c
PostUp = ip rule add pref 8999 iif lo lookup main suppress_prefixlength 0; ip rule add pref 9000 iif lo fwmark 0/0xffffffff lookup 51820
PreDown = ip rule del pref 9000; ip rule del pref 8999

[Peer]
PublicKey = %s
Endpoint = %s:51820
AllowedIPs = 0.0.0.0/0
PersistentKeepalive = 1
`, routerKey, svPub, netnstest.ServerAddr)), 0o600); err != nil {
		t.Fatal(err)
	}
	s.router.Run("wg-quick", "up", conf)
	t.Cleanup(func() { _, _ = s.router.Command("wg-quick", "down", conf).CombinedOutput() })

	// check, before pathpin runs: the default mask clashes with 0xca6c.
	out, _ := s.router.Command(s.bin, "check", "-c", s.cfg, "--state-dir", s.runDir).CombinedOutput()
	for _, want := range []string{"WireGuard link wg0 (fwmark 0xca6c) sets mark bits 0xca6c, inside pathpin's mark-mask 0xff00", "set mark-mask: 0xff000000"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("check with the default mask does not say %q:\n%s", want, out)
		}
	}
	s.appendConfig(`mark-mask: 0xff000000
policies:
  - name: tunnel
    match: {router: true, destination: [` + netnstest.ServerAddr + `], protocol: udp, port: 51820}
    via: [talktalk, plusnet]
`)
	out, _ = s.router.Command(s.bin, "check", "-c", s.cfg, "--state-dir", s.runDir).CombinedOutput()
	if strings.Contains(string(out), ", inside pathpin's mark-mask") || !strings.Contains(string(out), "no other software here uses mark bits inside pathpin's mark-mask 0xff000000") {
		t.Errorf("check with the proposed mask still reports a clash:\n%s", out)
	}

	s.startPathpin()
	s.waitFor("the PPP uplink", 60*time.Second, func() bool { return s.pppAddress() != "" })
	ppp := s.pppAddress()
	s.waitFor("both uplinks routed", 20*time.Second, func() bool { return s.routed(ppp) })

	endpoint := func() string {
		f := strings.Fields(s.sv.Run("wg", "show", "wgs", "endpoints"))
		if len(f) < 2 {
			return ""
		}
		host, _, _ := strings.Cut(f[1], ":")
		return host
	}
	viaTunnel := func(when string) {
		t.Helper()
		for i := 0; i < 20; i++ {
			c, err := s.router.DialSourceWithin(netnstest.ServerAddr+":80", 5*time.Second)
			if err != nil {
				t.Fatalf("%s: the router's connection %d: %v\npathpin log:\n%s", when, i, err, s.logText())
			}
			if c.First != "10.99.0.2" {
				t.Fatalf("%s: the router's own connection reached the server from %s, not through the tunnel (10.99.0.2)", when, c.First)
			}
			c.Close()
		}
	}
	s.waitFor("the tunnel by talktalk", 20*time.Second, func() bool { return endpoint() == "192.168.1.2" })
	viaTunnel("with both uplinks")
	s.balancedLAN(ppp)

	// talktalk loses carrier: the tunnel moves to plusnet.
	s.ispb.Run("ip", "link", "set", "cpe", "down")
	took := s.waitFor("the tunnel by plusnet", 30*time.Second, func() bool { return endpoint() == ppp })
	t.Logf("the tunnel moved to plusnet %s after talktalk lost carrier", took.Round(10*time.Millisecond))
	viaTunnel("after the failover")
	for i := 0; i < 10; i++ {
		c, err := s.client.DialSource(netnstest.ServerAddr + ":80")
		if err != nil || c.First != ppp {
			t.Fatalf("after the failover, LAN connection %d: %v %v", i, c, err)
		}
		c.Close()
	}
}
