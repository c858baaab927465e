package daemon

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/pathpin/pathpin/internal/netnstest"
)

// secondTarget is a second probe target on the server, behind both ISPs.
const secondTarget = "203.0.113.11"

// flapLab is the failover lab probing two targets with healthYAML.
func flapLab(t testing.TB, healthYAML string) *failoverLab {
	l := prepareLab(t, 1, 1, healthYAML)
	addSecondTarget(l)
	l.start()
	l.waitState("ispa", "up", 10*time.Second)
	l.waitState("ispb", "up", 10*time.Second)
	return l
}

// addSecondTarget puts secondTarget on the server, routed by both ISPs.
func addSecondTarget(l *failoverLab) {
	l.Server.Run("ip", "addr", "add", secondTarget+"/32", "dev", "lo")
	for i, isp := range l.ISPs {
		isp.Run("ip", "route", "add", secondTarget+"/32", "via", fmt.Sprintf("172.16.%d.2", i+1))
	}
}

// lossy makes ns drop that percentage of the ICMP it forwards, both
// ways, at random (this kernel has no netem; nft's random numbers do the
// same to the probes).
func lossy(ns *netnstest.NS, percent int) {
	ns.Run("nft", fmt.Sprintf("add table ip loss; add chain ip loss f { type filter hook forward priority 0; }; add rule ip loss f meta l4proto icmp numgen random mod 100 < %d drop", percent))
}

// downs counts the log's transitions of uplink name to down.
func downs(l *failoverLab, name string) int {
	n := 0
	for _, line := range strings.Split(l.logText(), "\n") {
		if strings.Contains(line, "uplink health changed") && strings.Contains(line, "uplink="+name) && strings.Contains(line, "to=down") {
			n++
		}
	}
	return n
}

// TestProbesDoNotFlap: random loss of 1% on one uplink and 5% on the
// other, for 600 rounds (ten minutes at the default interval, here at
// 100 ms, with the timeout other namespace tests use), takes neither down: a round misses only when both targets are
// lost, and a suspect uplink is confirmed by quick rounds before it is
// taken down. Then a blackholed uplink still leaves service quickly.
func TestProbesDoNotFlap(t *testing.T) {
	l := flapLab(t, "health:\n  targets: [203.0.113.10, "+secondTarget+"]\n  interval: 100ms\n  fast-interval: 25ms\n  timeout: 80ms\n")
	lossy(l.ISPs[0], 1)
	lossy(l.ISPs[1], 5)
	deadline := time.Now().Add(600 * 100 * time.Millisecond)
	for time.Now().Before(deadline) {
		if n := downs(l, "ispa") + downs(l, "ispb"); n > 0 {
			t.Fatalf("loss of 1%% and 5%% took an uplink down %d times:\n%s", n, l.logText())
		}
		time.Sleep(500 * time.Millisecond)
	}
	for _, u := range []string{"ispa", "ispb"} {
		if st := l.state(u); st.State != "up" && st.State != "degraded" {
			t.Errorf("%s is %s (%s) under loss", u, st.State, st.Reason)
		}
	}

	start := time.Now()
	l.ISPs[1].Run("iptables", "-I", "FORWARD", "-j", "DROP")
	l.waitState("ispb", "down", 3*time.Second)
	t.Logf("blackholed at 100 ms rounds: down after %s", time.Since(start).Round(time.Millisecond))
}

// TestTargetSilentEverywhere: a target that stops answering on every
// uplink at once (probes need both targets) takes no uplink down; status
// names it; once it answers again it is counted again. An uplink whose
// other target is also silent (its own failure) still goes down.
func TestTargetSilentEverywhere(t *testing.T) {
	l := flapLab(t, "health:\n  targets: [203.0.113.10, "+secondTarget+"]\n  min-answers: 2\n  interval: 100ms\n  fast-interval: 20ms\n  timeout: 80ms\n")
	l.Server.Run("nft", "add table ip t; add chain ip t in { type filter hook input priority 0; }; add rule ip t in ip daddr "+secondTarget+" drop")
	l.waitFor("the silent target to be named in status", func() bool {
		return strings.Contains(strings.Join(l.state("ispa").ExcusedTargets, " "), secondTarget) &&
			strings.Contains(strings.Join(l.state("ispb").ExcusedTargets, " "), secondTarget)
	})
	// Twenty rounds more: still no uplink down.
	until := time.Now().Add(2 * time.Second)
	for time.Now().Before(until) {
		if n := downs(l, "ispa") + downs(l, "ispb"); n > 0 {
			t.Fatalf("a target silent everywhere took an uplink down:\n%s", l.logText())
		}
		time.Sleep(100 * time.Millisecond)
	}
	if !strings.Contains(l.logText(), "the targets' fault, not the uplinks'") {
		t.Errorf("the log does not say whose fault it is:\n%s", l.logText())
	}
	// ispb's own failure is still seen: the other target, silent on it
	// only, counts.
	l.ISPs[1].Run("iptables", "-I", "FORWARD", "-j", "DROP")
	l.waitState("ispb", "down", 5*time.Second)
	if st := l.state("ispa"); st.State != "up" {
		t.Errorf("ispa is %s (%s)", st.State, st.Reason)
	}
	l.ISPs[1].Run("iptables", "-D", "FORWARD", "-j", "DROP")
	l.Server.Run("nft", "delete table ip t")
	l.waitFor("the target counted again", func() bool { return len(l.state("ispa").ExcusedTargets) == 0 })
}

// TestProbesRideOutLatencySpikes: with the default probe settings, the
// round trip on one uplink rising by 300 ms for 2 s takes it neither down
// nor out of service: its answers come within the timeout, and the quick
// rounds a late answer starts answer too. It needs netem (the VM's stock
// kernel has it; this one may not).
func TestProbesRideOutLatencySpikes(t *testing.T) {
	netnstest.RequireRoot(t, "tc")
	probe := netnstest.New(t)
	probe.Run("ip", "link", "add", "d0", "type", "veth", "peer", "name", "d1")
	if out, err := probe.Command("tc", "qdisc", "add", "dev", "d0", "root", "netem", "delay", "1ms").CombinedOutput(); err != nil {
		t.Skipf("skipping: this kernel has no netem (sch_netem); the VM tests run this on a stock Debian kernel: %s", strings.TrimSpace(string(out)))
	}
	l := flapLab(t, "health:\n  targets: [203.0.113.10, "+secondTarget+"]\n")
	for spike := 0; spike < 2; spike++ {
		l.ISPs[1].Run("tc", "qdisc", "add", "dev", "core", "root", "netem", "delay", "300ms")
		time.Sleep(2 * time.Second) // the spike's length, not a wait for a condition
		l.ISPs[1].Run("tc", "qdisc", "del", "dev", "core", "root")
		time.Sleep(time.Second) // and a second of calm
	}
	if n := downs(l, "ispb"); n > 0 {
		t.Fatalf("300 ms latency spikes took ispb down %d times:\n%s", n, l.logText())
	}
	if st := l.state("ispb"); st.State != "up" {
		t.Errorf("ispb is %s (%s) after the spikes", st.State, st.Reason)
	}
}
