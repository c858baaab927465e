package daemon

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pathpin/pathpin/internal/cgroup"
	"github.com/pathpin/pathpin/internal/netnstest"
)

// twentyDials is a shell command that connects to the source-address
// server 20 times, from a child shell, and prints what the server saw.
const twentyDials = `bash -c 'for i in $(seq 20); do exec 3<>/dev/tcp/` + netnstest.ServerAddr + `/80 && head -n1 <&3; exec 3<&-; done'`

// fiveDials is twentyDials with five connections.
const fiveDials = `for i in 1 2 3 4 5; do exec 3<>/dev/tcp/` + netnstest.ServerAddr + `/80 && head -n1 <&3; exec 3<&-; done`

// TestExecVia: pathpin exec --via puts a command's every connection (its
// children's too) on the uplink asked for, with that uplink's address,
// whatever the balance does; with that uplink out of service it fails
// with the reason, unless --fallback; the command's group and rule go
// when it ends. Without systemd on this host: pathpin's own cgroup.
func TestExecVia(t *testing.T) {
	l := prepareLab(t, 1, 1, fastHealth)
	l.hostMounts = true
	l.start()
	l.waitState("ispa", "up", 10*time.Second)
	l.waitState("ispb", "up", 10*time.Second)
	layout, err := cgroup.Detect()
	if err != nil {
		t.Skipf("skipping: %v", err)
	}
	if layout.Systemd {
		t.Skip("skipping: this host runs systemd; the booted VM test covers pathpin exec with systemd's scopes")
	}
	t.Cleanup(func() { _ = os.Remove(filepath.Join(layout.Root, "pathpin")) })
	exec := func(args ...string) (string, error) {
		cmd := l.Router.CommandHostMounts(l.bin, append([]string{"exec", "--state-dir", l.runDir}, args...)...)
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	out, err := exec("--via", "ispb", "--", "bash", "-c", twentyDials)
	if err != nil {
		t.Fatalf("pathpin exec --via ispb: %v\n%s", err, out)
	}
	if got := strings.Count(out, l.UplinkAddrs[1]+"\n"); got != 20 {
		t.Errorf("%d of 20 connections left by ispb with %s; the server saw:\n%s", got, l.UplinkAddrs[1], out)
	}
	l.waitFor("the exec's rule to go", func() bool {
		_, err := l.Router.Command("nft", "list", "chain", "ip", "pathpin", "exec").CombinedOutput()
		return err != nil
	})
	if left, _ := filepath.Glob(filepath.Join(layout.Root, "pathpin", "exec-*")); len(left) > 0 {
		t.Errorf("exec cgroups left behind: %v", left)
	}

	// A child left in the background after the command ends stays on
	// ispb, across a restart of pathpin too.
	out1, out2 := filepath.Join(t.TempDir(), "child1"), filepath.Join(t.TempDir(), "child2")
	if out, err := exec("--via", "ispb", "--", "bash", "-c", "(sleep 1; "+fiveDials+" > "+out1+") & (sleep 5; "+fiveDials+" > "+out2+") &"); err != nil {
		t.Fatalf("pathpin exec with children in the background: %v\n%s", err, out)
	}
	l.waitFor("the first child's connections", func() bool { b, _ := os.ReadFile(out1); return strings.Count(string(b), "\n") == 5 })
	if b, _ := os.ReadFile(out1); strings.Count(string(b), l.UplinkAddrs[1]+"\n") != 5 {
		t.Errorf("a child left running after the command left by:\n%s", b)
	}
	_ = l.up.Signal(os.Interrupt)
	_, _ = l.up.Wait()
	l.start()
	l.waitState("ispb", "up", 10*time.Second)
	l.waitFor("the second child's connections", func() bool { b, _ := os.ReadFile(out2); return strings.Count(string(b), "\n") == 5 })
	if b, _ := os.ReadFile(out2); strings.Count(string(b), l.UplinkAddrs[1]+"\n") != 5 {
		t.Errorf("a child still running across a restart of pathpin left by:\n%s", b)
	}
	l.waitFor("the children's rule to go once they ended", func() bool {
		_, err := l.Router.Command("nft", "list", "chain", "ip", "pathpin", "exec").CombinedOutput()
		return err != nil
	})

	// ispb out of service: the command fails, with the reason.
	l.ISPs[1].Run("ip", "link", "set", "cpe", "down")
	l.waitState("ispb", "down", 10*time.Second)
	out, err = exec("--via", "ispb", "--", "true")
	if err == nil || !strings.Contains(out, "ispb is out of service") {
		t.Errorf("pathpin exec --via ispb with ispb down: %v, said:\n%s", err, out)
	}
	out, err = exec("--via", "ispb", "--fallback", "--", "bash", "-c", twentyDials)
	if err != nil || strings.Count(out, l.UplinkAddrs[0]+"\n") != 20 {
		t.Errorf("pathpin exec --fallback with ispb down: %v; want 20 by ispa, the server saw:\n%s", err, out)
	}
}

// TestExecProgram: a policy that matches a program steers the commands
// pathpin exec --program runs in it, 20 of 20 by the policy's uplink,
// while the balance shares the rest; the program's group goes when
// pathpin stops.
func TestExecProgram(t *testing.T) {
	l := prepareLab(t, 1, 1, fastHealth)
	cfg := l.Config(1, 1, fastHealth) + `policies:
  - name: backup
    match: {program: backup}
    via: [ispa]
programs:
  - name: backup
`
	if err := os.WriteFile(l.cfg, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	l.hostMounts = true
	l.start()
	l.waitState("ispa", "up", 10*time.Second)
	l.waitState("ispb", "up", 10*time.Second)
	layout, err := cgroup.Detect()
	if err != nil || layout.Systemd {
		t.Skipf("skipping: needs cgroup v2 without systemd here (%v)", err)
	}
	t.Cleanup(func() {
		_ = os.Remove(filepath.Join(layout.Root, "pathpin", "backup"))
		_ = os.Remove(filepath.Join(layout.Root, "pathpin"))
	})
	out, err := l.Router.CommandHostMounts(l.bin, "exec", "--state-dir", l.runDir, "--program", "backup", "--", "bash", "-c", twentyDials).CombinedOutput()
	if err != nil {
		t.Fatalf("pathpin exec --program backup: %v\n%s", err, out)
	}
	if got := strings.Count(string(out), l.UplinkAddrs[0]+"\n"); got != 20 {
		t.Errorf("%d of 20 connections of program backup left by ispa; the server saw:\n%s", got, out)
	}
	if st := l.status(); len(st.Policies) != 1 || st.Policies[0].Matched < 20 {
		t.Errorf("status shows the program's policy as %+v", st.Policies)
	}
	_ = l.up.Signal(os.Interrupt)
	_, _ = l.up.Wait()
	if _, err := os.Stat(filepath.Join(layout.Root, "pathpin")); !os.IsNotExist(err) {
		t.Errorf("pathpin's cgroups are left after it stopped: %v", err)
	}
}
