package daemon

import (
	"context"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pathpin/pathpin/hooks"
	"github.com/pathpin/pathpin/internal/netnstest"
	"github.com/pathpin/pathpin/internal/statedir"
	"github.com/pathpin/pathpin/internal/stats"
)

// hookLab is a running daemon with a PPPoE uplink whose PPP link is the
// lab's second ISP link: wan1 carries a point-to-point address as pppd
// leaves ppp1, and ISP B answers ARP for what it routes (proxy ARP), so
// the uplink's device route works as it does on ppp1. Its discovery runs
// on a silent link and never succeeds, so no pppd is current and the
// hook's events are taken (PPPD_PID unset is pid 0). ispa is on standby:
// before ip-up it carries everything, after ip-up nothing new.
func hookLab(b testing.TB, pppDir string) *failoverLab {
	l := prepareLab(b, 0, 1, "")
	l.Router.Run("ip", "addr", "flush", "dev", "wan1")
	l.Router.Run("ip", "addr", "add", "192.168.2.2", "peer", "192.168.2.254/32", "dev", "wan1")
	l.ISPs[1].Run("sysctl", "-qw", "net.ipv4.conf.cpe.proxy_arp=1")
	netnstest.Veth(b, l.Router, "dsl0", netnstest.New(b), "silent")
	pw := filepath.Join(filepath.Dir(l.cfg), "password")
	if err := os.WriteFile(pw, []byte("secret\n"), 0o600); err != nil {
		b.Fatal(err)
	}
	cfg := `lan:
  interfaces: [lan0]
uplinks:
  - name: ispa
    interface: wan0
    gateway: 192.168.1.254
    weight: 0
  - name: plusnet
    weight: 1
    pppoe:
      interface: dsl0
      username: u
      password-file: ` + pw + `
      ifname: wan1
`
	if err := os.WriteFile(l.cfg, []byte(cfg), 0o644); err != nil {
		b.Fatal(err)
	}
	l.start("--discovery-initial-timeout", "200ms", "--ppp-dir", pppDir)
	l.waitState("ispa", "up", 10*time.Second)
	return l
}

// pppdEnv is the environment pppd gives its scripts: its own variables
// only, nothing of pathpin's.
func pppdEnv() []string {
	return []string{
		"PATH=/usr/local/sbin:/usr/sbin:/usr/bin:/sbin:/bin",
		"IFNAME=wan1", "DEVICE=dsl0", "SPEED=0", "IPLOCAL=192.168.2.2", "IPREMOTE=192.168.2.254",
		"PEERNAME=u", "ORIG_UID=0", "PPPLOGNAME=root", "LINKNAME=plusnet",
	}
}

// BenchmarkHookPath times ip-up → the PPP uplink carrying the client's
// first new connection, with the daemon running, two ways side by side to
// the same endpoint, polled the same way:
//   - as pppd really runs it: an exec of STATE_DIR/hooks/ip-up (the link to
//     pathpin the daemon made) with pppd's six arguments and environment,
//     which hands the event to the daemon over its socket;
//   - the daemon alone: the same event sent over the socket in process,
//     with no exec.
//
// Between rounds ip-down (sent in process) puts every new connection back
// on the standby uplink.
func BenchmarkHookPath(b *testing.B) {
	l := hookLab(b, b.TempDir())
	link := filepath.Join(statedir.Dirs{State: l.runDir}.HookDir(), "ip-up")
	args := []string{"wan1", "dsl0", "0", "192.168.2.2", "192.168.2.254", "plusnet"}
	event := func(kind hooks.Kind) hooks.Event {
		return hooks.Event{Kind: kind, Uplink: "plusnet", IfName: "wan1",
			Local: netip.MustParseAddr("192.168.2.2"), Remote: netip.MustParseAddr("192.168.2.254")}
	}
	send := func(kind hooks.Kind) error {
		var err error
		l.Router.Do(func() {
			ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
			defer cancel()
			err = hooks.Send(ctx, statedir.Dirs{State: l.runDir}.HookSocket(), event(kind))
		})
		return err
	}
	var hookExit []time.Duration
	ways := []struct {
		name string
		run  func(t0 time.Time) error
	}{
		{"pppd-exec", func(t0 time.Time) error {
			var err error
			l.Router.Do(func() {
				cmd := exec.Command(link, args...)
				cmd.Env = pppdEnv()
				var out []byte
				if out, err = cmd.CombinedOutput(); err != nil {
					b.Logf("ip-up: %s", out)
				}
			})
			hookExit = append(hookExit, time.Since(t0))
			return err
		}},
		{"in-process", func(time.Time) error { return send(hooks.IPUp) }},
	}
	const rounds = 15
	times := make([][]time.Duration, len(ways))
	for i := 0; i < b.N; i++ {
		for r := 0; r < rounds; r++ {
			for k, w := range ways {
				t0 := time.Now()
				errc := make(chan error, 1)
				go func() { errc <- w.run(t0) }()
				got, err := firstSwitched(l, t0, l.UplinkAddrs[1], 3*time.Second)
				if werr := <-errc; werr != nil {
					b.Fatalf("%s: %v", w.name, werr)
				}
				if err != nil {
					b.Fatalf("%s: %v\n%s", w.name, err, l.logText())
				}
				times[k] = append(times[k], got)
				if err := send(hooks.IPDown); err != nil {
					b.Fatal(err)
				}
				if _, err := firstSwitched(l, time.Now(), l.UplinkAddrs[0], 3*time.Second); err != nil {
					b.Fatalf("after ip-down: %v", err)
				}
			}
		}
	}
	hook, daemon := stats.Median(times[0]), stats.Median(times[1])
	b.ReportMetric(stats.Ms(hook), "pppd-exec-ms")
	b.ReportMetric(stats.Ms(daemon), "in-process-ms")
	b.ReportMetric(stats.Ms(stats.Median(hookExit)), "hook-exit-ms")
	b.ReportMetric(stats.Ratio(hook, daemon), "pppd-exec/in-process")
	b.Logf("ip-up → first new client connection via the PPP uplink, median of %d: as pppd runs it (exec of the ip-up link) %s, the event sent in process %s (%.2f×); the hook process exits after %s",
		rounds, hook.Round(10*time.Microsecond), daemon.Round(10*time.Microsecond), stats.Ratio(hook, daemon), stats.Median(hookExit).Round(10*time.Microsecond))
}

// TestDaemonRunsTheHostsPPPScripts: after the applier's own work for an
// ip-up, the host's ip-up runs with pppd's arguments and environment, its
// output in pathpin's log.
func TestDaemonRunsTheHostsPPPScripts(t *testing.T) {
	pppDir := t.TempDir()
	record := filepath.Join(pppDir, "record")
	script := "#!/bin/sh\necho \"$*|$IFNAME\" > " + record + ".tmp\nip rule >> " + record + ".tmp\nmv " + record + ".tmp " + record + "\necho chrony told\n"
	if err := os.WriteFile(filepath.Join(pppDir, "ip-up"), []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	l := hookLab(t, pppDir)
	var out []byte
	var err error
	l.Router.Do(func() {
		cmd := exec.Command(filepath.Join(statedir.Dirs{State: l.runDir}.HookDir(), "ip-up"), "wan1", "dsl0", "0", "192.168.2.2", "192.168.2.254", "plusnet")
		cmd.Env = pppdEnv()
		out, err = cmd.CombinedOutput()
	})
	if err != nil {
		t.Fatalf("ip-up: %v\n%s", err, out)
	}
	var ran []byte
	l.waitFor("the host's ip-up", func() bool { ran, _ = os.ReadFile(record); return len(ran) > 0 })
	if !strings.HasPrefix(string(ran), "wan1 dsl0 0 192.168.2.2 192.168.2.254 plusnet|wan1\n") || !strings.Contains(string(ran), "from 192.168.2.2 lookup") {
		t.Errorf("the host's ip-up ran without pppd's arguments or before pathpin's rules:\n%s", ran)
	}
	l.waitFor("the script's output in the log", func() bool { return strings.Contains(l.logText(), "chrony told") })
}
