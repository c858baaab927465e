package uplink

import (
	"context"
	"fmt"
	"math"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/pathpin/pathpin/internal/config"
	"github.com/pathpin/pathpin/internal/golden"
	"github.com/pathpin/pathpin/internal/netnstest"
	"github.com/pathpin/pathpin/internal/nft"
)

func TestBalanceSplitsNewConnectionsByWeight(t *testing.T) {
	for _, tc := range []struct{ a, b int }{{1, 1}, {2, 1}} {
		t.Run(fmt.Sprintf("%d:%d", tc.a, tc.b), func(t *testing.T) {
			l := newEngineLab(t)
			l.configure(tc.a, tc.b)
			l.mustApply()
			const n = 2000
			counts := l.connect(n)
			p := float64(tc.a) / float64(tc.a+tc.b)
			want, sd := n*p, math.Sqrt(n*p*(1-p))
			got := float64(counts[l.UplinkAddrs[0]])
			if counts[l.UplinkAddrs[0]]+counts[l.UplinkAddrs[1]] != n {
				t.Fatalf("sources seen: %v, want only %v", counts, l.UplinkAddrs)
			}
			// 5 sd: a fair split fails one run in 1.7 million (3 sd, one
			// subtest in 370, made CI red), and a wrong one still fails at
			// once: 2:1 split 1:1 is 16 sd off.
			if math.Abs(got-want) > 5*sd {
				t.Fatalf("ispA carried %.0f of %d connections, want %.0f ± %.0f (5 sd); all: %v", got, n, want, 5*sd, counts)
			}
			t.Logf("ispA %v, ispB %v of %d (expected %.0f ± %.1f sd)", counts[l.UplinkAddrs[0]], counts[l.UplinkAddrs[1]], n, want, sd)
		})
	}
}

func TestLongLivedConnectionsKeepTheirUplink(t *testing.T) {
	l := newEngineLab(t)
	l.configure(1, 1)
	l.mustApply()
	var conns []*netnstest.SourceConn
	for i := 0; i < 40; i++ {
		c, err := l.Client.DialSource(netnstest.ServerAddr + ":80")
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		conns = append(conns, c)
	}
	check := func(when string) {
		t.Helper()
		for i, c := range conns {
			src, err := c.Ask()
			if err != nil || src != c.First {
				t.Fatalf("%s: connection %d started from %s, now %q (%v)", when, i, c.First, src, err)
			}
		}
	}
	used := map[string]bool{}
	for _, c := range conns {
		used[c.First] = true
	}
	if len(used) != 2 {
		t.Fatalf("40 connections all used %v; want both uplinks", used)
	}
	check("before re-weighting")
	l.configure(3, 1)
	l.mustApply()
	check("after apply with weights 3:1")
	l.configure(1, 4)
	l.mustApply()
	check("after apply with weights 1:4")
}

func TestApplyTwiceChangesNothing(t *testing.T) {
	l := newEngineLab(t)
	l.configure(2, 1)
	planned := "numgen random mod 3 vmap { 0 : jump to_ispa, 1 : jump to_ispa, 2 : jump to_ispb }"
	if out, code := l.pathpin("plan"); code != 2 || !strings.Contains(out, planned) {
		t.Fatalf("plan before apply exited %d, want 2 with the changes:\n%s", code, out)
	}
	l.mustApply()
	first := l.snapshot()
	out, code := l.pathpin("apply")
	if code != 0 || !strings.Contains(out, "Nothing to change") {
		t.Fatalf("second apply exited %d:\n%s", code, out)
	}
	if diff := cmp.Diff(first, l.snapshot()); diff != "" {
		t.Fatalf("second apply changed the kernel (-first +second):\n%s", diff)
	}
	if out, code := l.pathpin("plan"); code != 0 {
		t.Fatalf("plan after apply exited %d, want 0:\n%s", code, out)
	}
	// What pathpin owns is exactly the golden rendering of the desired state.
	for _, want := range []string{
		"10200:\tfrom 192.168.1.2 lookup 101", "10101:\tfrom all fwmark 0x200/0xff00 lookup 102",
		"default via 192.168.1.254 dev wan0 table 101 src 192.168.1.2",
		planned, `oifname "wan1" snat to 192.168.2.2`,
		"/proc/sys/net/ipv4/ip_forward:1",
	} {
		if !strings.Contains(first, want) {
			t.Errorf("router state lacks %q", want)
		}
	}
}

// foreign installs rules and routes pathpin does not own: another tool's
// nft table, iptables-nft and iptables-legacy rules (legacy's own tables),
// an ip rule, a table and a setting.
func foreign(l *engineLab) {
	l.Router.Run("nft", "add table inet filter; add chain inet filter input { type filter hook input priority 0; }; add rule inet filter input tcp dport 22 accept")
	l.Router.Run("iptables-nft", "-t", "mangle", "-A", "PREROUTING", "-p", "udp", "--dport", "9", "-j", "MARK", "--set-mark", "0x7")
	l.Router.Run("iptables-nft", "-t", "nat", "-A", "POSTROUTING", "-s", "10.9.0.0/16", "-j", "MASQUERADE")
	l.Router.Run("iptables-nft", "-A", "FORWARD", "-p", "tcp", "--dport", "25", "-j", "DROP")
	l.Router.Run("iptables-legacy", "-t", "mangle", "-A", "PREROUTING", "-p", "udp", "--dport", "7", "-j", "MARK", "--set-mark", "0x9")
	l.Router.Run("ip", "rule", "add", "priority", "500", "from", "10.9.9.9", "lookup", "200")
	l.Router.Run("ip", "route", "add", "10.9.0.0/16", "via", "192.168.2.254", "table", "200")
	l.Router.Run("sysctl", "-qw", "net.ipv4.conf.wan0.rp_filter=1")
}

func TestDownLeavesForeignStateAsItWas(t *testing.T) {
	l := newEngineLab(t)
	foreign(l)
	before := l.snapshot()
	l.configure(1, 1)
	l.mustApply()
	during := l.snapshot()
	for _, want := range []string{"--dport 9 -j MARK --set-xmark 0x7/0xffffffff", "--dport 7 -j MARK --set-xmark 0x9/0xffffffff", "-s 10.9.0.0/16 -j MASQUERADE", "--dport 25 -j DROP", "500:\tfrom 10.9.9.9 lookup 200", "10.9.0.0/16 via 192.168.2.254 dev wan1 table 200", "wan0/rp_filter:2"} {
		if !strings.Contains(during, want) {
			t.Errorf("while pathpin is applied, the state lacks %q", want)
		}
	}
	l.downRestores(before)
}

// downRestores runs pathpin down and checks the router is as before.
func (l *engineLab) downRestores(before string) {
	l.t.Helper()
	if out, code := l.pathpin("down"); code != 0 {
		l.t.Fatalf("down exited %d:\n%s", code, out)
	}
	if diff := cmp.Diff(before, l.snapshot()); diff != "" {
		l.t.Fatalf("down did not restore the router (-before +after):\n%s", diff)
	}
}

// TestDownRemovesAnOlderPathpinsChains: a router that ran a pathpin with
// an iptables backend keeps its PATHPIN-* chains after an upgrade; check
// names them and down removes them, jumps first, and nothing else.
func TestDownRemovesAnOlderPathpinsChains(t *testing.T) {
	l := newEngineLab(t)
	foreign(l)
	// Listing makes iptables-legacy's nat table, empty: what it leaves
	// after down too, as pathpin cannot unload a legacy table.
	l.Router.Run("iptables-legacy", "-t", "nat", "-S")
	before := l.snapshot()
	for _, ipt := range []string{"iptables-nft", "iptables-legacy"} {
		l.Router.Run(ipt, "-t", "mangle", "-N", "PATHPIN-BALANCE")
		l.Router.Run(ipt, "-t", "mangle", "-N", "PATHPIN-PREROUTING")
		l.Router.Run(ipt, "-t", "mangle", "-A", "PATHPIN-PREROUTING", "-j", "PATHPIN-BALANCE")
		l.Router.Run(ipt, "-t", "mangle", "-I", "PREROUTING", "1", "-j", "PATHPIN-PREROUTING")
		l.Router.Run(ipt, "-t", "nat", "-N", "PATHPIN-POSTROUTING")
		l.Router.Run(ipt, "-t", "nat", "-A", "PATHPIN-POSTROUTING", "-o", "wan1", "-j", "MASQUERADE")
		l.Router.Run(ipt, "-t", "nat", "-I", "POSTROUTING", "1", "-j", "PATHPIN-POSTROUTING")
	}
	l.configure(1, 1)
	out, _ := l.pathpin("check")
	for _, want := range []string{"iptables-nft -t mangle PATHPIN-PREROUTING was left by an older pathpin", "iptables-legacy -t nat PATHPIN-POSTROUTING was left by an older pathpin"} {
		if !strings.Contains(out, want) {
			t.Errorf("check does not say %q:\n%s", want, out)
		}
	}
	l.downRestores(before)
}

func TestBadConfigChangesNothing(t *testing.T) {
	l := newEngineLab(t)
	// A working file with a policy, so that a bad policy has one to break.
	good := "policies:\n  - name: phone\n    match: {source: [10.0.0.20]}\n    via: [ispb]\n"
	l.write(l.Config(1, 1, good))
	l.mustApply()
	before := l.snapshot()
	policy := func(match, via string) string {
		return l.Config(1, 1, good+"  - name: bad\n    match: "+match+"\n    via: "+via+"\n")
	}
	for _, bad := range []string{
		l.Config(1, 1, "") + "    tabel: 7\n",
		// Each policy error: unknown uplink, empty match, shadowed,
		// overlapping ports.
		policy("{source: [10.0.0.21]}", "[bt]"),
		policy("{}", "[ispa]"),
		policy("{source: [10.0.0.20], port: [443]}", "[ispa]"),
		policy("{protocol: tcp, port: [80-90, 85]}", "[ispa]"),
		strings.Replace(l.Config(1, 1, ""), "192.168.2.254", "192.168.2.300", 1),
		strings.Replace(l.Config(1, 1, ""), "name: ispb", "name: ispa", 1),
		"firewall: iptables\n" + l.Config(1, 1, ""),
	} {
		l.write(bad)
		out, code := l.pathpin("apply")
		if code != 1 || !strings.Contains(out, l.cfgPath+":") {
			t.Fatalf("apply with a bad config exited %d, want 1 with the file and line:\n%s", code, out)
		}
		if diff := cmp.Diff(before, l.snapshot()); diff != "" {
			t.Fatalf("a bad config changed the router:\n%s", diff)
		}
	}
}

func TestUplinkWithoutCarrierGetsNoNewConnections(t *testing.T) {
	l := newEngineLab(t)
	l.configure(1, 1)
	l.mustApply()
	l.ISPs[1].Run("ip", "link", "set", "cpe", "down")
	l.Router.Run("sh", "-c", "for i in $(seq 100); do ip link show wan1 | grep -q LOWER_UP || exit 0; sleep 0.02; done; exit 1")
	out, code := l.pathpin("apply")
	if code != 0 || !strings.Contains(out, "ispb        down  interface wan1 is down or has no carrier") {
		t.Fatalf("apply exited %d:\n%s", code, out)
	}
	if counts := l.connect(200); counts[l.UplinkAddrs[0]] != 200 {
		t.Fatalf("with ispB's line down, connections went %v; want all 200 via ispA", counts)
	}
	if snap := l.snapshot(); strings.Contains(snap, ": jump to_ispb") || strings.Contains(snap, `oifname "wan1" snat`) {
		t.Fatal("ispB still has a balance share or NAT while it has no carrier")
	}
}

// brokenTables makes its first transaction one the kernel refuses (a jump
// to a chain that does not exist): a failure inside the transaction.
type brokenTables struct {
	NFTables
	failed *bool
}

func (b brokenTables) Apply(t *nft.Table) error {
	if *b.failed || t == nil {
		return b.NFTables.Apply(t)
	}
	*b.failed = true
	bad := *t
	bad.Chains = append(slices.Clone(t.Chains), nft.Chain{Name: "broken", Rules: []nft.Rule{{Jump: "no_such_chain"}}})
	return b.NFTables.Apply(&bad)
}

func (b brokenTables) Update(have, want *nft.Table) error {
	if *b.failed || want == nil {
		return b.NFTables.Update(have, want)
	}
	*b.failed = true
	bad := *want
	bad.Chains = append(slices.Clone(want.Chains), nft.Chain{Name: "broken", Rules: []nft.Rule{{Jump: "no_such_chain"}}})
	return b.NFTables.Update(have, &bad)
}

func TestFailedApplyKeepsThePreviousState(t *testing.T) {
	l := newEngineLab(t)
	// The previous working state: ispA alone.
	one := strings.Split(l.Config(1, 1, ""), "  - name: ispb")[0]
	l.write(one)
	l.mustApply()
	before := l.snapshot()

	two, err := config.Parse("two.yaml", []byte(l.Config(2, 1, "")))
	if err != nil {
		t.Fatal(err)
	}
	var applyErr error
	e := l.engine()
	e.Tables = brokenTables{NFTables: e.Tables, failed: new(bool)}
	l.Router.Do(func() { _, applyErr = e.Apply(context.Background(), Input{Config: two}) })
	if applyErr == nil || !strings.Contains(applyErr.Error(), "the earlier steps were undone") {
		t.Fatalf("Apply error = %v, want the injected failure, undone", applyErr)
	}
	if diff := cmp.Diff(before, l.snapshot()); diff != "" {
		t.Fatalf("a failed apply did not leave the previous state (-before +after):\n%s", diff)
	}
}

func TestLiveStateMatchesGolden(t *testing.T) {
	l := newEngineLab(t)
	l.configure(2, 1)
	l.mustApply()
	cfg, err := config.Load(l.cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	var live string
	e := l.engine()
	l.Router.Do(func() {
		p, err := e.Plan(context.Background(), Input{Config: cfg})
		if err != nil {
			t.Fatal(err)
		}
		live = RenderState(p.Live)
	})
	golden.Check(t, "live-two-isp-2-1-nftables.golden", live)
}

func TestCheckReportsClashes(t *testing.T) {
	l := newEngineLab(t)
	l.configure(1, 1)
	out, code := l.pathpin("check")
	if code != 0 || !strings.Contains(out, "ok: nftables accepts pathpin's table") || !strings.Contains(out, "uplink ispa: up on wan0") {
		t.Fatalf("check on a clean router exited %d:\n%s", code, out)
	}
	// pathpin's own rules are no clash.
	l.mustApply()
	if out, code := l.pathpin("check"); code != 0 {
		t.Fatalf("check after apply exited %d:\n%s", code, out)
	}
	l.Router.Run("ip", "rule", "add", "priority", "10050", "lookup", "300")
	l.Router.Run("ip", "rule", "add", "priority", "900", "fwmark", "0x100", "lookup", "102")
	out, code = l.pathpin("check")
	for _, want := range []string{
		"error: ip rule priority 10050 (lookup 300) is in pathpin's band 10000-10999 but not pathpin's",
		"error: ip rule priority 900 already looks up table 102, which pathpin uses for an uplink",
		"warning: ip rule 900: from all fwmark 0x100 lookup 102 compares the whole mark with 0x100, which has bits inside pathpin's mark-mask 0xff00",
		"pathpin: check: 2 problems",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("check output lacks %q", want)
		}
	}
	if code != 1 {
		t.Fatalf("check with clashes exited %d, want 1:\n%s", code, out)
	}
}
