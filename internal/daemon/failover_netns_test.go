package daemon

import (
	"encoding/json"
	"regexp"
	"syscall"

	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/pathpin/pathpin/internal/netnstest"
	"github.com/pathpin/pathpin/internal/status"
)

// failoverLab is the two-ISP topology with `pathpin up` running on the
// router, probing the server through both uplinks.
type failoverLab struct {
	*netnstest.TwoISP
	t                     testing.TB
	bin, cfg, runDir, log string
	up                    *os.Process
	// hostMounts: the daemon sees the host's mounts (the cgroup v2
	// hierarchy), not those ip netns exec makes.
	hostMounts bool
}

func newFailoverLab(t testing.TB, weightA, weightB int, healthYAML string, upArgs ...string) *failoverLab {
	l := prepareLab(t, weightA, weightB, healthYAML)
	l.start(upArgs...)
	l.waitState("ispa", "up", 10*time.Second)
	l.waitState("ispb", "up", 10*time.Second)
	return l
}

// prepareLab builds the topology and writes the configuration; start
// runs the daemon.
func prepareLab(t testing.TB, weightA, weightB int, healthYAML string) *failoverLab {
	netnstest.RequireRoot(t, "iptables", "conntrack")
	dir := t.TempDir()
	l := &failoverLab{TwoISP: netnstest.NewTwoISP(t), t: t, bin: netnstest.Binary(t),
		cfg: filepath.Join(dir, "pathpin.yaml"), runDir: filepath.Join(dir, "run"), log: filepath.Join(dir, "pathpin.log")}
	l.writeConfig(weightA, weightB, healthYAML)
	return l
}

func (l *failoverLab) writeConfig(weightA, weightB int, healthYAML string) {
	if err := os.WriteFile(l.cfg, []byte(l.Config(weightA, weightB, healthYAML)), 0o644); err != nil {
		l.t.Fatal(err)
	}
}

// start runs `pathpin up` in the router namespace.
func (l *failoverLab) start(upArgs ...string) {
	t := l.t
	f, err := os.Create(l.log)
	if err != nil {
		t.Fatal(err)
	}
	command := l.Router.Command
	if l.hostMounts {
		command = l.Router.CommandHostMounts
	}
	cmd := command(l.bin, append([]string{"up", "-c", l.cfg, "--state-dir", l.runDir, "--lib-dir", filepath.Join(filepath.Dir(l.cfg), "lib")}, upArgs...)...)
	cmd.Stdout, cmd.Stderr = f, f
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	l.up = cmd.Process
	t.Cleanup(func() { _ = cmd.Process.Kill(); _, _ = cmd.Process.Wait(); f.Close() })
}

const fastHealth = `health:
  targets: [203.0.113.10]
  interval: 100ms
  timeout: 80ms
  down-after: 3
  up-after: 3
`

// status runs `pathpin status --json` in the router namespace.
func (l *failoverLab) status() *status.Report {
	l.t.Helper()
	out, err := l.Router.Command(l.bin, "status", "--json", "-c", l.cfg, "--state-dir", l.runDir).Output()
	if err != nil {
		l.t.Fatalf("pathpin status: %v", err)
	}
	var r status.Report
	if err := json.Unmarshal(out, &r); err != nil {
		l.t.Fatalf("pathpin status --json: %v\n%s", err, out)
	}
	return &r
}

// state is the uplink's status; State is "" until the daemon reports it.
func (l *failoverLab) state(name string) status.Uplink {
	r := l.status()
	for _, u := range r.Uplinks {
		if u.Name == name && r.Source == "daemon" {
			return u
		}
	}
	return status.Uplink{Name: name}
}

func (l *failoverLab) waitState(name, want string, limit time.Duration) status.Uplink {
	l.t.Helper()
	deadline := time.Now().Add(limit)
	for {
		u := l.state(name)
		if u.State == want {
			return u
		}
		if time.Now().After(deadline) {
			b, _ := os.ReadFile(l.log)
			l.t.Fatalf("uplink %s is %s (%s), not %s after %s\n%s", name, u.State, u.Reason, want, limit, b)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// connect opens n short connections and counts their sources.
func (l *failoverLab) connect(n int) map[string]int {
	l.t.Helper()
	counts := map[string]int{}
	for i := 0; i < n; i++ {
		c, err := l.Client.DialSource(netnstest.ServerAddr + ":80")
		if err != nil {
			l.t.Fatalf("connection %d: %v", i, err)
		}
		counts[c.First]++
		c.Close()
	}
	return counts
}

// flows counts the router's conntrack entries of LAN clients' TCP
// connections with an uplink's mark (the probes' own ICMP is left out).
func (l *failoverLab) flows(mark string) int {
	out, _ := l.Router.Command("conntrack", "-L", "-p", "tcp", "-s", "10.0.0.2", "-m", mark+"/0xff00").CombinedOutput()
	return strings.Count(string(out), "tcp ")
}

// waitNoFlows waits until no client connection carries mark: the dead
// uplink's connections are deleted off the applier's path.
func (l *failoverLab) waitNoFlows(mark string) {
	l.t.Helper()
	for deadline := time.Now().Add(5 * time.Second); l.flows(mark) > 0; {
		if time.Now().After(deadline) {
			l.t.Fatalf("%d conntrack entries still carry mark %s", l.flows(mark), mark)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (l *failoverLab) logText() string {
	b, _ := os.ReadFile(l.log)
	return string(b)
}

// longLived opens n connections and splits them by uplink address.
func (l *failoverLab) longLived(n int) map[string][]*netnstest.SourceConn {
	out := map[string][]*netnstest.SourceConn{}
	for i := 0; i < n; i++ {
		c, err := l.Client.DialSource(netnstest.ServerAddr + ":80")
		if err != nil {
			l.t.Fatal(err)
		}
		l.t.Cleanup(func() { c.Close() })
		out[c.First] = append(out[c.First], c)
	}
	return out
}

func assertSurvive(t testing.TB, conns []*netnstest.SourceConn) {
	t.Helper()
	for i, c := range conns {
		if src, err := c.Ask(); err != nil || src != c.First {
			t.Fatalf("healthy uplink's connection %d broke: %q %v", i, src, err)
		}
	}
}

func TestFailoverOnCarrierLoss(t *testing.T) {
	failoverOnCarrierLoss(t, newFailoverLab(t, 1, 1, fastHealth))
}

// TestUplinksOnTheSameSubnet: two ISP routers with the same defaults
// (192.168.1.0/24, the router at .254), each on its own interface, both
// carry new connections by weight, fail over and back, and stopping
// leaves the router as it was.
func TestUplinksOnTheSameSubnet(t *testing.T) {
	netnstest.RequireRoot(t, "conntrack")
	dir := t.TempDir()
	l := &failoverLab{TwoISP: netnstest.NewTwoISPSameSubnet(t), t: t, bin: netnstest.Binary(t),
		cfg: filepath.Join(dir, "pathpin.yaml"), runDir: filepath.Join(dir, "run"), log: filepath.Join(dir, "pathpin.log")}
	before := l.routerState()
	l.writeConfig(1, 1, fastHealth)
	l.start()
	l.waitState("ispa", "up", 10*time.Second)
	l.waitState("ispb", "up", 10*time.Second)
	failoverOnCarrierLoss(t, l)
	l.stop()
	if diff := cmp.Diff(before, l.routerState()); diff != "" {
		t.Fatalf("stopping pathpin did not leave the router as it was (-before +after):\n%s", diff)
	}
}

func failoverOnCarrierLoss(t *testing.T, l *failoverLab) {
	a, b := l.UplinkAddrs[0], l.UplinkAddrs[1]
	long := l.longLived(30)
	if len(long[a]) == 0 || len(long[b]) == 0 {
		t.Fatalf("long-lived connections did not use both uplinks: %v", long)
	}
	if l.flows("0x200") == 0 {
		t.Fatal("no conntrack entries for ispB before the failure")
	}

	l.ISPs[1].Run("ip", "link", "set", "cpe", "down")
	down := l.waitState("ispb", "down", 2*time.Second)
	if !strings.Contains(down.Reason, "carrier lost on wan1") && !strings.Contains(down.Reason, "no carrier") {
		t.Fatalf("ispb is down for %q, want carrier loss", down.Reason)
	}
	if got := l.connect(100); got[a] != 100 {
		t.Fatalf("after ispB lost carrier, new connections went %v; want all via ispA", got)
	}
	assertSurvive(t, long[a])
	l.waitNoFlows("0x200")

	l.ISPs[1].Run("ip", "link", "set", "cpe", "up")
	l.waitState("ispb", "up", 5*time.Second)
	if got := l.connect(100); got[b] == 0 || got[a] == 0 {
		t.Fatalf("after recovery new connections went %v; want both uplinks", got)
	}
	assertSurvive(t, long[a])
	log := l.logText()
	for _, want := range []string{"from=up to=down", "to=recovering", "from=recovering to=up"} {
		if !strings.Contains(log, want) {
			t.Errorf("the log does not report the transition %q", want)
		}
	}
}

func TestFailoverOnSilentFailure(t *testing.T) {
	events := filepath.Join(t.TempDir(), "events")
	// With the router closed to the uplinks' side: the probes' replies
	// are no new connections, and pass.
	l := newFailoverLab(t, 1, 1, fastHealth+"  on-change: [sh, -c, 'echo \"$PATHPIN_UPLINK $PATHPIN_FROM $PATHPIN_TO\" >> "+events+"']\nprotect:\n  router: true\n")
	a, b := l.UplinkAddrs[0], l.UplinkAddrs[1]
	long := l.longLived(30)

	// ispA keeps its link but forwards nothing.
	l.ISPs[0].Run("iptables", "-I", "FORWARD", "-j", "DROP")
	down := l.waitState("ispa", "down", 3*time.Second)
	if !strings.Contains(down.Reason, "probes missed") || !regexp.MustCompile(`1 of 1 targets silent for \d+\.\d s`).MatchString(down.Reason) {
		t.Fatalf("ispa is down for %q, want missed probes and how long the targets were silent", down.Reason)
	}
	if c := down.LastChange; c == nil || c.To != "down" || !strings.Contains(c.Reason, "targets silent for") || time.Since(c.At) > 5*time.Second {
		t.Fatalf("ispa's last change: %+v", c)
	}
	// The last minute's probes: ispb's all answered, ispa's some missed.
	if b := l.state("ispb"); b.Loss == nil || *b.Loss != 0 || b.RTTMillis == nil || b.Probes < 5 {
		t.Fatalf("ispb's probe figures: %+v", b)
	}
	if a := l.state("ispa"); a.Loss == nil || *a.Loss == 0 {
		t.Fatalf("ispa's probe loss over the last minute: %+v", a)
	}
	if got := l.connect(100); got[b] != 100 {
		t.Fatalf("after ispA went silent, new connections went %v; want all via ispB", got)
	}
	assertSurvive(t, long[b])
	l.waitNoFlows("0x100")
	st := l.status()
	if st.Source != "daemon" {
		t.Fatalf("status came from %s", st.Source)
	}

	l.ISPs[0].Run("iptables", "-D", "FORWARD", "-j", "DROP")
	l.waitState("ispa", "up", 5*time.Second)
	if got := l.connect(100); got[a] == 0 {
		t.Fatalf("after recovery new connections went %v; want ispA back", got)
	}
	assertSurvive(t, long[b])
	b2, _ := os.ReadFile(events)
	for _, want := range []string{"ispa up degraded", "ispa degraded down", "ispa down recovering", "ispa recovering up"} {
		if !strings.Contains(string(b2), want) {
			t.Errorf("the on-change command did not see %q; it saw:\n%s", want, b2)
		}
	}
}

func TestStatusWithoutRootThroughTheSocketGroup(t *testing.T) {
	l := newFailoverLab(t, 1, 1, "", "--status-group", "nogroup")
	// As systemd's RuntimeDirectory would make it: others may traverse.
	for dir := l.runDir; dir != "/tmp" && dir != "/"; dir = filepath.Dir(dir) {
		if err := os.Chmod(dir, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	// An unprivileged user whose groups do not include nogroup (65534).
	nobody := []string{"--reuid=65534", "--regid=4242", "--clear-groups", "--inh-caps=-all"}
	run := func(extra ...string) (string, error) {
		args := append(append(append([]string{}, nobody...), extra...), l.bin, "status", "--json", "-c", l.cfg, "--state-dir", l.runDir)
		out, err := l.Router.Command("setpriv", args...).CombinedOutput()
		return string(out), err
	}
	// nobody is not in the socket's group: only the kernel's view.
	if out, err := run(); err != nil || !strings.Contains(out, `"source": "kernel"`) {
		t.Fatalf("status as nobody without the group: %v\n%s", err, out)
	}
	// With the group (nogroup, 65534), the daemon answers.
	args := append([]string{}, nobody...)
	args[2] = "--groups=65534"
	out, err := l.Router.Command("setpriv", append(args, l.bin, "status", "--json", "-c", l.cfg, "--state-dir", l.runDir)...).CombinedOutput()
	if err != nil || !strings.Contains(string(out), `"source": "daemon"`) || !strings.Contains(string(out), `"state": "up"`) {
		t.Fatalf("status as a member of the socket's group: %v\n%s", err, out)
	}
}

func TestStatusWithoutDaemon(t *testing.T) {
	netnstest.RequireRoot(t)
	lab := netnstest.NewTwoISP(t)
	dir := t.TempDir()
	cfg := filepath.Join(dir, "pathpin.yaml")
	os.WriteFile(cfg, []byte(lab.Config(1, 1, "")), 0o644)
	lab.ISPs[1].Run("ip", "link", "set", "cpe", "down")
	out, err := lab.Router.Command(netnstest.Binary(t), "status", "-c", cfg, "--state-dir", dir).CombinedOutput()
	if err != nil {
		t.Fatalf("status: %v\n%s", err, out)
	}
	for _, want := range []string{"ispa", "up", "192.168.1.2", "ispb", "down", "pathpin up is not running"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("status without a daemon lacks %q:\n%s", want, out)
		}
	}
}

// TestOwnRouteDeletionsMakeNoApply: the kernel reports every route an
// apply deletes from pathpin's tables; those reports are the apply's own
// and make no second apply. A route someone else deletes does: one apply,
// which puts it back.
func TestOwnRouteDeletionsMakeNoApply(t *testing.T) {
	l := prepareLab(t, 1, 1, "")
	l.start("--debug")
	l.waitState("ispb", "up", 10*time.Second)
	// ispb leaves the configuration: the reload's apply deletes its table
	// and, from ispa's table, the route to ispb's subnet.
	if err := os.WriteFile(l.cfg, []byte(strings.Split(l.Config(1, 1, ""), "  - name: ispb")[0]), 0o644); err != nil {
		t.Fatal(err)
	}
	reloaded := strings.Count(l.logText(), "configuration reloaded")
	if err := l.up.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	l.waitLog("configuration reloaded", reloaded+1, 10*time.Second)
	l.waitLog("a route pathpin deleted itself is gone", 1, 5*time.Second)
	// Someone deletes ispa's default route. Its report comes after those
	// of the reload's deletions, on the same socket: once it is put back,
	// every earlier report has been handled.
	l.Router.Run("ip", "route", "del", "default", "table", "101")
	deadline := time.Now().Add(5 * time.Second)
	for !strings.Contains(l.Router.Run("ip", "route", "show", "table", "101"), "default via") {
		if time.Now().After(deadline) {
			t.Fatalf("a default route deleted by hand was not put back:\n%s", l.logText())
		}
		time.Sleep(20 * time.Millisecond)
	}
	log := l.logText()
	after := log[strings.LastIndex(log, "configuration reloaded"):]
	// The reload's own apply, then the one that put the route back.
	if applies := strings.Count(after, "msg=apply "); applies != 2 {
		t.Fatalf("%d applies after the reload, want 2 (the reload's, and the one for the route deleted by hand):\n%s", applies, after)
	}
}

// TestCarrierLossMovesNewConnections names the failover and measures it
// from the event, not from status: ispA's cable goes, and new connections
// leave by ispB (on standby) within the apply that follows, well under a
// second even on a loaded machine.
func TestCarrierLossMovesNewConnections(t *testing.T) {
	l := newFailoverLab(t, 1, 0, fastHealth)
	for round := 0; round < 3; round++ {
		took, _ := carrierLossSwitch(t, l)
		if took > time.Second {
			t.Fatalf("round %d: new connections left by ispB %s after the carrier loss, want well under a second\n%s", round, took, l.logText())
		}
		t.Logf("round %d: carrier loss → new connections via ispB in %s", round, took)
		setLink(l.ISPs[0], "cpe", true)
		l.waitState("ispa", "up", 10*time.Second)
	}
}
