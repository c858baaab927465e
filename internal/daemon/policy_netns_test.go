package daemon

import (
	"encoding/json"
	"fmt"
	"math"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/pathpin/pathpin/internal/netnstest"
	"github.com/pathpin/pathpin/internal/status"
	"github.com/pathpin/pathpin/uplink"
)

// policyDest is a second server address, for destination matches.
const policyDest = "203.0.113.20"

// policyLab is the failover lab with a second LAN (lan1, a client of its
// own with its own MAC) and a server with a second address, TCP on :80
// and :22 and UDP on :5060, for the policies in policiesYAML.
type policyLab struct {
	*failoverLab
	client2 *netnstest.NS
	mac2    string
	// extra is more configuration, after the policies.
	extra string
}

func newPolicyLab(t *testing.T, extra string) *policyLab {
	l := &policyLab{failoverLab: prepareLab(t, 1, 1, fastHealth), extra: extra}
	l.client2 = netnstest.New(t)
	netnstest.Veth(t, l.client2, "lan1", l.Router, "lan1")
	l.client2.Run("ip", "addr", "add", "10.0.1.2/24", "dev", "lan1")
	l.client2.Run("ip", "route", "add", "default", "via", "10.0.1.1")
	l.Router.Run("ip", "addr", "add", "10.0.1.1/24", "dev", "lan1")
	l.mac2 = strings.TrimSpace(l.client2.Run("cat", "/sys/class/net/lan1/address"))
	for _, a := range []string{"10.0.0.20", "10.0.0.30", "10.0.0.40", "10.0.0.50", "10.0.0.60", "10.0.0.70", "10.0.0.71", "10.0.0.72", "10.0.0.73"} {
		l.Client.Run("ip", "addr", "add", a+"/24", "dev", "lan0")
	}
	l.Server.Run("ip", "addr", "add", policyDest+"/32", "dev", "lo")
	for i, isp := range l.ISPs {
		isp.Run("ip", "route", "add", policyDest+"/32", "via", fmt.Sprintf("172.16.%d.2", i+1))
	}
	netnstest.ServeSourceAddress(l.Server.Listen(policyDest + ":22"))
	l.Server.ServeUDPSource(netnstest.ServerAddr + ":5060")
	l.writePolicies(1, 1)
	l.start()
	l.waitState("ispa", "up", 10*time.Second)
	l.waitState("ispb", "up", 10*time.Second)
	return l
}

// writePolicies writes the configuration with the laptop policy's
// weights.
func (l *policyLab) writePolicies(laptopA, laptopB int) {
	cfg := strings.Replace(l.Config(1, 1, fastHealth), "interfaces: [lan0]", "interfaces: [lan0, lan1]", 1) + fmt.Sprintf(`policies:
  - name: phone
    match: {source: [10.0.0.20], protocol: udp, port: [5060]}
    via: [ispb]
  - name: ssh
    match: {destination: [%[1]s], port: [22]}
    via: [ispb]
  - name: tv
    match: {mac: [%[2]s], port: [80]}
    via: [ispb]
  - name: kids
    match: {interface: [lan1]}
    via: [ispa]
  - name: tiered
    match: {source: [10.0.0.30]}
    via: [ispb, ispa]
  - name: shared
    match: {source: [10.0.0.40]}
    via: {ispa: 3, ispb: 1}
  - name: never-a
    match: {source: [10.0.0.50]}
    via: [ispb]
    otherwise: drop
  - name: fallback
    match: {source: [10.0.0.60]}
    via: [ispb]
  - name: laptop
    match: {source: [10.0.0.70-10.0.0.73]}
    via: {ispa: %[3]d, ispb: %[4]d}
    sticky: 30m
  - name: router-dst
    match: {router: true, destination: [%[1]s]}
    via: [ispb]
`, policyDest, l.mac2, laptopA, laptopB) + l.extra
	if err := os.WriteFile(l.cfg, []byte(cfg), 0o644); err != nil {
		l.t.Fatal(err)
	}
}

// tcpFrom opens n connections from ns (from local when not "") to addr
// and counts the sources the server saw.
func tcpFrom(t testing.TB, ns *netnstest.NS, local, addr string, n int) map[string]int {
	t.Helper()
	counts := map[string]int{}
	for i := 0; i < n; i++ {
		c, err := ns.DialSourceFrom(local, addr)
		if err != nil {
			t.Fatalf("connection %d from %s to %s: %v (so far %v)", i, local, addr, err, counts)
		}
		counts[c.First]++
		c.Close()
	}
	return counts
}

// udpFrom sends n datagrams, each from a new port (a new connection), and
// counts the sources the server saw.
func udpFrom(t testing.TB, ns *netnstest.NS, local, addr string, n int) map[string]int {
	t.Helper()
	counts := map[string]int{}
	for i := 0; i < n; i++ {
		src, err := ns.AskUDP(local, addr, 3*time.Second)
		if err != nil {
			t.Fatalf("datagram %d from %s to %s: %v (so far %v)", i, local, addr, err, counts)
		}
		counts[src]++
	}
	return counts
}

// only fails unless every one of n connections went by uplink address a.
func only(t testing.TB, what string, got map[string]int, a string, n int) {
	t.Helper()
	if got[a] != n || len(got) != 1 {
		t.Errorf("%s: connections went %v, want all %d by %s", what, got, n, a)
	}
}

// TestPoliciesSteerEachMatchKind: each kind of match sends all its
// connections by its uplink, real TCP and UDP through the real kernel;
// traffic no policy matches is still balanced.
func TestPoliciesSteerEachMatchKind(t *testing.T) {
	l := newPolicyLab(t, "")
	a, b := l.UplinkAddrs[0], l.UplinkAddrs[1]
	server80, server22 := netnstest.ServerAddr+":80", policyDest+":22"
	only(t, "source, protocol and port (phone)", udpFrom(t, l.Client, "10.0.0.20", netnstest.ServerAddr+":5060", 200), b, 200)
	only(t, "destination and port (ssh)", tcpFrom(t, l.Client, "", server22, 200), b, 200)
	only(t, "source MAC and port (tv)", tcpFrom(t, l.client2, "", server80, 200), b, 200)
	only(t, "LAN interface (kids)", udpFrom(t, l.client2, "", netnstest.ServerAddr+":5060", 200), a, 200)
	only(t, "source (tiered)", tcpFrom(t, l.Client, "10.0.0.30", server80, 200), b, 200)
	only(t, "the router's own (router-dst)", tcpFrom(t, l.Router, "", server22, 200), b, 200)
	// status counts each policy's new connections and says what it picks.
	// A UDP client's new port may meet an entry its earlier datagram left
	// (about one in 200 here): that datagram is no new connection.
	policies := map[string]status.Policy{}
	for _, p := range l.status().Policies {
		policies[p.Name] = p
	}
	for _, want := range []struct {
		name     string
		min, max uint64
		uplinks  string
	}{{"phone", 190, 200, "ispb 100%"}, {"ssh", 200, 200, "ispb 100%"}, {"tv", 200, 200, "ispb 100%"}, {"kids", 190, 200, "ispa 100%"},
		{"router-dst", 200, 200, "ispb 100%"}, {"shared", 0, 0, "ispa 75%,ispb 25%"}} {
		p := policies[want.name]
		if p.Matched < want.min || p.Matched > want.max || strings.Join(p.Uplinks, ",") != want.uplinks {
			t.Errorf("status: policy %s matched %d and picks %v; want %d-%d and %s", want.name, p.Matched, p.Uplinks, want.min, want.max, want.uplinks)
		}
	}
	// The phone's TCP is no policy's: balanced.
	if got := tcpFrom(t, l.Client, "10.0.0.20", server80, 100); got[a] == 0 || got[b] == 0 {
		t.Errorf("connections no policy matches went %v, want both uplinks", got)
	}

	// Weights inside a tier: 3:1 over 2,000 connections, within 5 sd.
	const n = 2000
	got := tcpFrom(t, l.Client, "10.0.0.40", server80, n)
	sd := math.Sqrt(n * 0.75 * 0.25)
	if d := math.Abs(float64(got[a]) - n*0.75); d > 5*sd || got[a]+got[b] != n {
		t.Errorf("weights 3:1 gave %v over %d connections: %.0f from the expected %d, more than 5 sd (%.1f)", got, n, d, n*3/4, 5*sd)
	}
}

// TestPolicyTiersFallThrough: a tier whose uplink loses carrier gives its
// connections to the next tier and takes them back when it returns;
// otherwise: drop drops and the default balances while no tier is up.
func TestPolicyTiersFallThrough(t *testing.T) {
	l := newPolicyLab(t, "")
	a, b := l.UplinkAddrs[0], l.UplinkAddrs[1]
	server80 := netnstest.ServerAddr + ":80"
	only(t, "tier 1 in service", tcpFrom(t, l.Client, "10.0.0.30", server80, 50), b, 50)
	only(t, "drop policy, its uplink in service", tcpFrom(t, l.Client, "10.0.0.50", server80, 20), b, 20)

	l.ISPs[1].Run("ip", "link", "set", "cpe", "down")
	l.waitState("ispb", "down", 3*time.Second)
	only(t, "tier 1 lost carrier", tcpFrom(t, l.Client, "10.0.0.30", server80, 50), a, 50)
	only(t, "balance policy, no tier in service", tcpFrom(t, l.Client, "10.0.0.60", server80, 50), a, 50)
	for i := 0; i < 3; i++ {
		if c, err := l.Client.DialSourceFromWithin("10.0.0.50", server80, 500*time.Millisecond); err == nil {
			c.Close()
			t.Fatalf("a drop policy with no uplink in service let a connection out by %s", c.First)
		}
	}

	l.ISPs[1].Run("ip", "link", "set", "cpe", "up")
	l.waitState("ispb", "up", 5*time.Second)
	only(t, "tier 1 back", tcpFrom(t, l.Client, "10.0.0.30", server80, 50), b, 50)
	only(t, "drop policy, its uplink back", tcpFrom(t, l.Client, "10.0.0.50", server80, 20), b, 20)
}

// TestStickyPolicy: every connection of a source stays on the uplink its
// first was given, across a reload and a restart of the daemon, and moves
// (and stays) when that uplink dies; for a sticky policy and for the
// sticky balance.
func TestStickyPolicy(t *testing.T) {
	// The balance is sticky too: 10.0.0.2 is no policy's.
	l := newPolicyLab(t, "balance: {sticky: 30m}\n")
	a, b := l.UplinkAddrs[0], l.UplinkAddrs[1]
	server80 := netnstest.ServerAddr + ":80"
	sources := []string{"10.0.0.70", "10.0.0.71", "10.0.0.72", "10.0.0.73", "10.0.0.2"}
	where := map[string]string{}
	check := func(when string) {
		t.Helper()
		for _, src := range sources {
			got := tcpFrom(t, l.Client, src, server80, 100)
			if len(got) != 1 {
				t.Fatalf("%s: %s's connections went %v, want one uplink", when, src, got)
			}
			for up := range got {
				if where[src] == "" {
					where[src] = up
				} else if where[src] != up {
					t.Fatalf("%s: %s moved from %s to %s", when, src, where[src], up)
				}
			}
		}
	}
	check("first")

	l.writePolicies(1, 3)
	if err := l.up.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	l.waitFor("the reload", func() bool { return strings.Contains(l.logText(), "configuration reloaded") })
	check("after a reload that changed the policy's weights")

	l.stop()
	l.start()
	l.waitState("ispa", "up", 10*time.Second)
	l.waitState("ispb", "up", 10*time.Second)
	check("after a restart")

	// The uplink of the first source dies: its sources move and stay.
	dead, alive, isp := b, a, 1
	if where[sources[0]] == a {
		dead, alive, isp = a, b, 0
	}
	l.ISPs[isp].Run("ip", "link", "set", "cpe", "down")
	l.waitState([]string{"ispa", "ispb"}[isp], "down", 3*time.Second)
	for src, up := range where {
		if up == dead {
			where[src] = alive
		}
	}
	check("after the uplink died")
}

// TestWhyAgreesWithTheKernel: `pathpin why --flows` names the policy, the
// shares the live table gives and, for each of 50 real connections, the
// uplink it went by; for a sticky source, the uplink it is held on.
func TestWhyAgreesWithTheKernel(t *testing.T) {
	l := newPolicyLab(t, "")
	byAddr := map[string]string{l.UplinkAddrs[0]: "ispa", l.UplinkAddrs[1]: "ispb"}
	why := func(args ...string) uplink.Answer {
		t.Helper()
		out, err := l.Router.Command(l.bin, append([]string{"why", "-c", l.cfg, "--state-dir", l.runDir, "--json"}, args...)...).CombinedOutput()
		if err != nil {
			t.Fatalf("pathpin why %v: %v\n%s", args, err, out)
		}
		var a uplink.Answer
		if err := json.Unmarshal(out, &a); err != nil {
			t.Fatalf("pathpin why --json: %v\n%s", err, out)
		}
		return a
	}
	went := map[uint16]string{}
	for i := 0; i < 50; i++ {
		c, err := l.Client.DialSourceFrom("10.0.0.40", netnstest.ServerAddr+":80")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		went[c.LocalPort()] = byAddr[c.First]
	}
	a := why("10.0.0.40", netnstest.ServerAddr, "--port", "80", "--proto", "tcp", "--flows")
	if a.Policy != "shared" || a.Verdict != "by-weight" || len(a.Now) != 2 || a.Now[0] != (uplink.Share{Uplink: "ispa", Share: 0.75}) {
		t.Errorf("why answered policy %q, %s, now %v; want shared, by weight, ispa 3/4", a.Policy, a.Verdict, a.Now)
	}
	agree := 0
	for _, f := range a.Flows {
		if up, ok := went[f.SPort]; ok {
			if f.Uplink != up || f.Policy != "shared" {
				t.Errorf("flow from port %d: why says %s (%s), the server saw it by %s", f.SPort, f.Uplink, f.Policy, up)
			} else {
				agree++
			}
		}
	}
	if agree != 50 {
		t.Errorf("why --flows agreed on %d of the 50 connections (%d flows listed)", agree, len(a.Flows))
	}

	got := tcpFrom(t, l.Client, "10.0.0.71", netnstest.ServerAddr+":80", 5)
	var held string
	for addr := range got {
		held = byAddr[addr]
	}
	if s := why("10.0.0.71", netnstest.ServerAddr).Sticky; s == nil || s.Uplink != held || s.Expires <= 29*time.Minute {
		t.Errorf("why says the sticky source is held by %+v; its connections went by %s", s, held)
	}
	if a := why("10.0.0.99", netnstest.ServerAddr, "--port", "80"); a.Policy != "" || a.Verdict != "balanced" {
		t.Errorf("a source no policy matches: %q %s, want none, balanced", a.Policy, a.Verdict)
	}
	// The router's own connection from ispa's address, no policy's: the
	// output chain pins it to ispa before the balance.
	if a := why(l.UplinkAddrs[0], netnstest.ServerAddr, "--router"); a.Policy != "" || a.Verdict != "pinned" || len(a.Now) != 1 || a.Now[0].Uplink != "ispa" {
		t.Errorf("the router's own connection from ispa's address: %+v, want pinned to ispa", a)
	}
	if a := why("10.0.1.2", netnstest.ServerAddr, "--port", "80"); len(a.Unsure) == 0 || !strings.Contains(a.Unsure[0], "tv (if the source MAC") {
		t.Errorf("without --mac, the MAC policy is not named as unsure: %+v", a)
	}
	out, err := l.Router.Command(l.bin, "why", "-c", l.cfg, "--state-dir", l.runDir, "10.0.0.20", netnstest.ServerAddr, "--proto", "udp", "--port", "5060").CombinedOutput()
	if err != nil || !strings.Contains(string(out), "policy: phone (line") || !strings.Contains(string(out), "now: pinned: ispb 100%") {
		t.Errorf("pathpin why (text): %v\n%s", err, out)
	}
}
