package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pathpin/pathpin/internal/netnstest"
)

// initLab is a router before pathpin: an access concentrator behind wan0,
// a silent link wan1 (down, as an unused NIC is), an ISP router behind
// wan2 with the main table's default route, and the LAN on lan0.
type initLab struct {
	router *netnstest.NS
	ac     *netnstest.RunningPPPoEServer
	bin    string
	dir    string
}

func newInitLab(t *testing.T) *initLab {
	netnstest.RequireRoot(t, "pppoe-server")
	l := &initLab{router: netnstest.New(t), bin: netnstest.Binary(t), dir: t.TempDir()}
	acNS := netnstest.New(t)
	netnstest.Veth(t, l.router, "wan0", acNS, "isp0")
	l.ac = acNS.StartPPPoEServer(netnstest.PPPoEServer{Interface: "isp0", ACName: "lab-ac", Service: "", RecordSessions: true})
	netnstest.Veth(t, l.router, "wan1", netnstest.New(t), "nothing")
	l.router.Run("ip", "link", "set", "wan1", "down")
	netnstest.Veth(t, l.router, "wan2", netnstest.New(t), "cpe")
	l.router.Run("ip", "addr", "add", "192.168.1.2/24", "dev", "wan2")
	l.router.Run("ip", "route", "add", "default", "via", "192.168.1.254")
	netnstest.Veth(t, l.router, "lan0", netnstest.New(t), "client")
	l.router.Run("ip", "addr", "add", "10.0.0.1/24", "dev", "lan0")
	return l
}

// links is the router's links and addresses, to compare before and after.
func (l *initLab) links() string {
	return l.router.Links() + l.router.Run("ip", "route", "show", "table", "all")
}

// init runs pathpin init in the router namespace with password on stdin.
func (l *initLab) init(password string, args ...string) (stdout, stderr string, err error) {
	cmd := l.router.Command(l.bin, append([]string{"init"}, args...)...)
	cmd.Stdin = strings.NewReader(password)
	var o, e strings.Builder
	cmd.Stdout, cmd.Stderr = &o, &e
	err = cmd.Run()
	return o.String(), e.String(), err
}

func TestInitFindsTheLineAndWritesTheConfig(t *testing.T) {
	l := newInitLab(t)
	before := l.links()
	cfg := filepath.Join(l.dir, "etc", "pathpin.yaml")
	common := []string{"-c", cfg, "--yes", "--username", "u", "--password-stdin", "--timeout", "2s", "--ppp-dir", l.dir}

	start := time.Now()
	out, errOut, err := l.init("s3cret\n", append(common, "--dry-run")...)
	took := time.Since(start)
	if err != nil {
		t.Fatalf("init --dry-run: %v\n%s\n%s", err, out, errOut)
	}
	t.Logf("dry run:\n%s\n%s", out, errOut)
	if took > 3*time.Second {
		t.Errorf("the scan took %s, more than its 2s timeout allows", took)
	}
	for _, want := range []string{
		"interfaces: [lan0]",
		"interface: wan2\n    gateway: 192.168.1.254",
		"pppoe:\n      interface: wan0\n      username: u\n      password-file: " + filepath.Join(l.dir, "etc", "dsl.password"),
		`access concentrator "lab-ac"`,
	} {
		if !strings.Contains(out, want) {
			t.Errorf("the proposed configuration lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "vlan:") || strings.Contains(out+errOut, "s3cret") {
		t.Errorf("the configuration has a VLAN or shows the password:\n%s\n%s", out, errOut)
	}
	if _, err := os.Stat(filepath.Dir(cfg)); err == nil {
		t.Errorf("--dry-run wrote something")
	}
	if sessions := l.ac.Sessions(); len(sessions) != 0 {
		t.Errorf("the scan opened sessions: %v", sessions)
	}
	if after := l.links(); after != before {
		t.Errorf("the scan left links or addresses changed:\nbefore:\n%s\nafter:\n%s", before, after)
	}

	if strings.Contains(out, "mark-mask") {
		t.Errorf("with nothing else using marks, init wrote a mark-mask:\n%s", out)
	}
	// wg-quick's rule uses bits of the default mask: init proposes a
	// free one.
	l.router.Run("ip", "rule", "add", "not", "fwmark", "0xca6c", "table", "51820")
	out, errOut, err = l.init("s3cret\n", append(common, "--dry-run")...)
	if err != nil || !strings.Contains(out, "# The default mark-mask (0xff00) is used here by wg-quick (0xca6c).\nmark-mask: 0xff000000\n") {
		t.Errorf("with wg-quick's rule, init did not propose a free mask (%v):\n%s\n%s", err, out, errOut)
	}
	l.router.Run("ip", "rule", "del", "not", "fwmark", "0xca6c", "table", "51820")

	if out, errOut, err := l.init("s3cret\n", common...); err != nil {
		t.Fatalf("init: %v\n%s\n%s", err, out, errOut)
	}
	for path, mode := range map[string]os.FileMode{cfg: 0o644, filepath.Join(l.dir, "etc", "dsl.password"): 0o600} {
		st, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		if st.Mode().Perm() != mode {
			t.Errorf("%s has mode %v, want %v", path, st.Mode().Perm(), mode)
		}
	}
	if pw, _ := os.ReadFile(filepath.Join(l.dir, "etc", "dsl.password")); string(pw) != "s3cret\n" {
		t.Errorf("the password file holds %q", pw)
	}
	if out, err := l.router.Command(l.bin, "check", "-c", cfg, "--state-dir", filepath.Join(l.dir, "run")).CombinedOutput(); err != nil {
		t.Errorf("pathpin check refuses what init wrote: %v\n%s", err, out)
	}
	if after := l.links(); after != before {
		t.Errorf("init left links or addresses changed:\nbefore:\n%s\nafter:\n%s", before, after)
	}

	// An existing, different configuration is never replaced without --force.
	other := "# mine\n"
	if err := os.WriteFile(cfg, []byte(other), 0o644); err != nil {
		t.Fatal(err)
	}
	out, errOut, err = l.init("s3cret\n", common...)
	if err == nil || !strings.Contains(errOut, "--force") || !strings.Contains(out, "- # mine") {
		t.Errorf("init over an existing configuration: %v\n%s\n%s", err, out, errOut)
	}
	if b, _ := os.ReadFile(cfg); string(b) != other {
		t.Errorf("init replaced the existing configuration without --force")
	}
	if _, _, err := l.init("s3cret\n", append(common, "--force")...); err != nil {
		t.Errorf("init --force: %v", err)
	}

	// The same answers again: nothing to write.
	if out, _, err := l.init("s3cret\n", common...); err != nil || !strings.Contains(out, "already say this; nothing to write") {
		t.Errorf("init with the same answers: %v\n%s", err, out)
	}
	// The ISP changed the password: init says the file differs, never
	// prints either password, and replaces it only with --force.
	pwFile := filepath.Join(l.dir, "etc", "dsl.password")
	out, errOut, err = l.init("n3w-secret\n", common...)
	if err == nil || !strings.Contains(out, "dsl.password holds another password (not shown)") || !strings.Contains(errOut, "--force") ||
		strings.Contains(out+errOut, "s3cret") || strings.Contains(out+errOut, "n3w-secret") {
		t.Errorf("init with a new password: %v\n%s\n%s", err, out, errOut)
	}
	if pw, _ := os.ReadFile(pwFile); string(pw) != "s3cret\n" {
		t.Errorf("without --force the password file became %q", pw)
	}
	if _, _, err := l.init("n3w-secret\n", append(common, "--force")...); err != nil {
		t.Errorf("init --force with a new password: %v", err)
	}
	if pw, _ := os.ReadFile(pwFile); string(pw) != "n3w-secret\n" {
		t.Errorf("with --force the password file holds %q", pw)
	}
}

// TestInitNamesTheMissingFlag: without a terminal nothing is asked, and
// what is missing is an error that names the flag.
func TestInitNamesTheMissingFlag(t *testing.T) {
	l := newInitLab(t)
	cfg := filepath.Join(l.dir, "pathpin.yaml")
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--password-stdin"}, "--username"},
		{[]string{"--username", "u"}, "--password-file FILE or --password-stdin"},
		{[]string{"--username", "u", "--password-stdin", "--interface", "wan1"}, "no PPPoE access concentrator answered on wan1"},
		{[]string{"--username", "u", "--password-stdin", "--interface", "nosuch0"}, "--interface nosuch0: no such interface"},
	} {
		_, errOut, err := l.init("pw\n", append([]string{"-c", cfg, "--yes", "--timeout", "1s", "--ppp-dir", l.dir}, tc.args...)...)
		if err == nil || !strings.Contains(errOut, tc.want) {
			t.Errorf("init %v: %v, want an error naming %q:\n%s", tc.args, err, tc.want, errOut)
		}
	}
	if _, err := os.Stat(cfg); err == nil {
		t.Error("a failed init wrote the configuration")
	}
}

// TestInitInterrupted: Ctrl-C during the scan puts back the link it
// brought up and writes nothing.
func TestInitInterrupted(t *testing.T) {
	l := newInitLab(t)
	before := l.links()
	cfg := filepath.Join(l.dir, "pathpin.yaml")
	cmd := l.router.Command(l.bin, "init", "-c", cfg, "--yes", "--username", "u", "--password-stdin", "--timeout", "20s", "--interface", "wan1", "--ppp-dir", l.dir)
	cmd.Stdin = strings.NewReader("pw\n")
	var out strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	// wan1 was down: the scan brings it up; interrupt it then.
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(l.router.Run("ip", "link", "show", "wan1"), "state UP") {
		if time.Now().After(deadline) {
			t.Fatalf("the scan never brought wan1 up:\n%s", out.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
	start := time.Now()
	_ = cmd.Process.Signal(os.Interrupt)
	err := cmd.Wait()
	if err == nil || !strings.Contains(out.String(), "interrupted") {
		t.Errorf("init after Ctrl-C: %v\n%s", err, out.String())
	}
	if took := time.Since(start); took > 2*time.Second {
		t.Errorf("init took %s to stop after Ctrl-C", took)
	}
	if after := l.links(); after != before {
		t.Errorf("Ctrl-C left links changed:\nbefore:\n%s\nafter:\n%s", before, after)
	}
	if _, err := os.Stat(cfg); err == nil {
		t.Error("an interrupted init wrote the configuration")
	}
}
