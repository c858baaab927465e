package daemon

import (
	"fmt"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/pathpin/pathpin/internal/netnstest"
)

// ownState is what pathpin owns in the router, as text: nothing but the
// kernel's own state should be left when it is gone.
func (l *failoverLab) ownState() string {
	var b strings.Builder
	for _, line := range strings.Split(l.Router.Run("ip", "rule"), "\n") {
		if strings.HasPrefix(line, "10") && len(line) > 5 && line[5] == ':' {
			b.WriteString(line + "\n")
		}
	}
	for _, t := range []string{"101", "102"} {
		b.WriteString(l.Router.Run("ip", "route", "show", "table", t))
	}
	for _, line := range strings.Split(l.Router.Run("iptables-save"), "\n") {
		if strings.Contains(line, "PATHPIN") {
			b.WriteString(line + "\n")
		}
	}
	// pathpin's own nftables table, when there is one.
	table, _ := l.Router.Command("nft", "list", "table", "ip", "pathpin").Output()
	b.Write(table)
	return b.String()
}

// stop sends SIGTERM and waits for a clean exit.
func (l *failoverLab) stop() {
	l.t.Helper()
	if err := l.up.Signal(syscall.SIGTERM); err != nil {
		l.t.Fatal(err)
	}
	ps, err := l.up.Wait()
	if err != nil || !ps.Success() {
		l.t.Fatalf("pathpin up exited %v, %v\n%s", ps, err, l.logText())
	}
}

// TestStopAfterAnUplinkVanished: a USB NIC unplugged while pathpin runs
// (its rp_filter was relaxed, its routes were pathpin's) must not keep
// SIGTERM or a later down from removing everything.
func TestStopAfterAnUplinkVanished(t *testing.T) {
	l := prepareLab(t, 1, 1, "")
	l.Router.Run("sysctl", "-qw", "net.ipv4.conf.wan1.rp_filter=1")
	forward := l.Router.Run("sysctl", "-n", "net.ipv4.ip_forward")
	l.start()
	l.waitState("ispb", "up", 10*time.Second)
	if got := strings.TrimSpace(l.Router.Run("sysctl", "-n", "net.ipv4.conf.wan1.rp_filter")); got != "2" {
		t.Fatalf("wan1's rp_filter is %s under pathpin, want 2", got)
	}
	l.Router.Run("ip", "link", "del", "wan1")
	l.waitState("ispb", "down", 2*time.Second)
	l.stop()
	if own := l.ownState(); own != "" {
		t.Fatalf("after SIGTERM pathpin's state is still there:\n%s\n%s", own, l.logText())
	}
	if got := l.Router.Run("sysctl", "-n", "net.ipv4.ip_forward"); got != forward {
		t.Fatalf("ip_forward is %q after stop, was %q", got, forward)
	}
	if !strings.Contains(l.logText(), "routes, rules, chains and VLANs are removed") {
		t.Fatalf("the log does not say the state is removed:\n%s", l.logText())
	}
	for i := 0; i < 2; i++ {
		if out, err := l.Router.Command(l.bin, "down", "-c", l.cfg, "--state-dir", l.runDir).CombinedOutput(); err != nil {
			t.Fatalf("pathpin down %d after the stop: %v\n%s", i+1, err, out)
		}
	}
}

// TestLateAddressIsRoutedAtOnce: the unit starts before the network is
// online, so a static uplink's address often arrives after pathpin.
func TestLateAddressIsRoutedAtOnce(t *testing.T) {
	l := prepareLab(t, 1, 1, "")
	l.Router.Run("ip", "addr", "del", "192.168.2.2/24", "dev", "wan1")
	l.start()
	l.waitState("ispa", "up", 10*time.Second)
	if st := l.state("ispb"); st.State != "down" || !strings.Contains(st.Reason, "no address") {
		t.Fatalf("ispb without its address is %s (%s)", st.State, st.Reason)
	}
	l.Router.Run("ip", "addr", "add", "192.168.2.2/24", "dev", "wan1")
	l.waitState("ispb", "up", time.Second)
	if got := l.connect(60); got[l.UplinkAddrs[1]] == 0 {
		t.Fatalf("after its address came, ispb carried none of %v", got)
	}
	l.Router.Run("ip", "addr", "del", "192.168.2.2/24", "dev", "wan1")
	l.waitState("ispb", "down", time.Second)
	if got := l.connect(30); got[l.UplinkAddrs[0]] != 30 {
		t.Fatalf("after its address went, new connections went %v", got)
	}
}

// TestCommandsRefuseWhileTheDaemonRuns: apply and down change nothing,
// exit non-zero and say what to do instead.
func TestCommandsRefuseWhileTheDaemonRuns(t *testing.T) {
	l := newFailoverLab(t, 1, 1, "")
	before := l.ownState()
	for _, cmd := range []string{"down", "apply"} {
		out, err := l.Router.Command(l.bin, cmd, "-c", l.cfg, "--state-dir", l.runDir).CombinedOutput()
		var ee *exec.ExitError
		if err == nil || !errorsAs(err, &ee) {
			t.Fatalf("pathpin %s while up runs: %v\n%s", cmd, err, out)
		}
		want := fmt.Sprintf("pathpin up is running (pid %d): change the configuration and run `systemctl reload pathpin`, or stop it with `systemctl stop pathpin`", l.up.Pid)
		if !strings.Contains(string(out), want) {
			t.Fatalf("pathpin %s said %q, want %q", cmd, out, want)
		}
	}
	if after := l.ownState(); after != before {
		t.Fatalf("the refused commands changed the router:\n--- before\n%s--- after\n%s", before, after)
	}
	if got := l.connect(40); got[l.UplinkAddrs[0]] == 0 || got[l.UplinkAddrs[1]] == 0 {
		t.Fatalf("after the refused commands new connections went %v", got)
	}
}

// TestReloadRestartsTheProbes: targets added by a reload are probed, so a
// silent failure of that uplink is then seen.
func TestReloadRestartsTheProbes(t *testing.T) {
	l := newFailoverLab(t, 1, 1, "")
	l.writeConfig(1, 1, fastHealth)
	if err := l.up.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	l.waitFor("the reload", func() bool { return strings.Contains(l.logText(), "configuration reloaded") })
	l.waitFor("probes of ispb", func() bool { return l.state("ispb").Probes > 0 })
	l.ISPs[1].Run("iptables", "-I", "FORWARD", "-j", "DROP")
	if st := l.waitState("ispb", "down", 3*time.Second); !strings.Contains(st.Reason, "probes missed") {
		t.Fatalf("ispb is down for %q, want missed probes", st.Reason)
	}
	// The old engine's sockets are closed: one netlink route socket stays.
	// Counted once the read of the other software's marks that each
	// reload asks for is done (its sockets are its own, and close).
	marksRead := func(round int) {
		t.Helper()
		l.waitFor(fmt.Sprintf("the marks read for round %d", round), func() bool {
			return strings.Contains(l.logText(), fmt.Sprintf("read the other software's packet marks (pathpin check says more)\" warnings=0 round=%d", round))
		})
	}
	marksRead(2)
	fds, _ := os.ReadDir(fmt.Sprintf("/proc/%d/fd", l.up.Pid))
	for i := 2; i <= 6; i++ {
		if err := l.up.Signal(syscall.SIGHUP); err != nil {
			t.Fatal(err)
		}
		l.waitFor("another reload", func() bool { return strings.Count(l.logText(), "configuration reloaded") >= i })
	}
	marksRead(7)
	after, _ := os.ReadDir(fmt.Sprintf("/proc/%d/fd", l.up.Pid))
	if len(after) > len(fds)+2 {
		t.Fatalf("open files grew from %d to %d over five reloads: a leak", len(fds), len(after))
	}
}

// TestRoutersOwnTrafficFollowsTheHealthyUplink: the router's own unbound
// connections leave by the uplink pathpin prefers, move when it dies, and
// work with no default route in the main table at all; a socket bound to
// an uplink's address stays on that uplink.
func TestRoutersOwnTrafficFollowsTheHealthyUplink(t *testing.T) {
	l := newFailoverLab(t, 1, 2, fastHealth)
	a, b := l.UplinkAddrs[0], l.UplinkAddrs[1]
	dial := func(local string, n int) map[string]int {
		t.Helper()
		counts := map[string]int{}
		for i := 0; i < n; i++ {
			c, err := l.Router.DialSourceFrom(local, netnstest.ServerAddr+":80")
			if err != nil {
				counts["failed"]++
				t.Logf("dial %d from %q: %v", i, local, err)
				continue
			}
			counts[c.First]++
			c.Close()
		}
		return counts
	}
	// The main table's default goes by ispA; pathpin prefers ispB (weight 2).
	if got := dial("", 20); got[b] != 20 {
		t.Fatalf("the router's own connections went %v; want all by ispB, the heavier", got)
	}
	if got := dial(a, 10); got[a] != 10 {
		t.Fatalf("connections bound to ispA's address went %v", got)
	}
	l.ISPs[1].Run("ip", "link", "set", "cpe", "down")
	l.waitState("ispb", "down", 2*time.Second)
	if got := dial("", 20); got[a] != 20 {
		t.Fatalf("after ispB lost carrier the router's own connections went %v; want all by ispA", got)
	}
	l.Router.Run("ip", "route", "del", "default")
	if got := dial("", 20); got[a] != 20 {
		t.Fatalf("with no default route in the main table the router's own connections went %v", got)
	}
	l.ISPs[1].Run("ip", "link", "set", "cpe", "up")
	l.waitState("ispb", "up", 5*time.Second)
	if got := dial("", 20); got[b] != 20 {
		t.Fatalf("after ispB recovered the router's own connections went %v", got)
	}
}

func (l *failoverLab) waitFor(what string, cond func() bool) {
	l.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			l.t.Fatalf("timed out waiting for %s\n%s", what, l.logText())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func errorsAs(err error, target **exec.ExitError) bool {
	ee, ok := err.(*exec.ExitError)
	if ok {
		*target = ee
	}
	return ok
}

// TestMTUChangeMovesTheClamp: an uplink as wide as the LAN needs no MSS
// clamp; narrowed while pathpin runs, it gets one, and loses it again
// when it is widened back.
func TestMTUChangeMovesTheClamp(t *testing.T) {
	l := newFailoverLab(t, 1, 1, "")
	// forward is pathpin's forward chain as nft lists it, "" when the
	// table has none; the table itself must be there.
	forward := func() string {
		t.Helper()
		table := l.Router.Run("nft", "list", "table", "ip", "pathpin")
		if !strings.Contains(table, "chain prerouting {") {
			t.Fatalf("pathpin's table is not in place:\n%s\n%s", table, l.logText())
		}
		_, chain, _ := strings.Cut(table, "chain forward {")
		chain, _, _ = strings.Cut(chain, "}")
		return chain
	}
	waitFor := func(what string, ok func(string) bool) {
		t.Helper()
		for deadline := time.Now().Add(2 * time.Second); !ok(forward()); time.Sleep(10 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("%s after 2 s; the forward chain is:\n%s\n%s", what, forward(), l.logText())
			}
		}
	}
	if got := forward(); got != "" {
		t.Fatalf("uplinks as wide as the LAN have their MSS clamped:\n%s", got)
	}
	l.Router.Run("ip", "link", "set", "wan1", "mtu", "1400")
	waitFor("wan1 narrowed to 1400 is not clamped", func(s string) bool {
		return strings.Contains(s, `oifname "wan1" tcp flags syn / syn,rst tcp option maxseg size set rt mtu`) && !strings.Contains(s, `"wan0"`)
	})
	l.Router.Run("ip", "link", "set", "wan1", "mtu", "1500")
	waitFor("wan1 widened back is still clamped", func(s string) bool { return s == "" })
}
