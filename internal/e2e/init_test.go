package e2e

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// TestInitThenUp: the seed's access concentrator answers on VLAN 1000 of
// eth1 while eth1 carries the LAN untagged. pathpin init finds it there,
// leaves no probe VLAN behind, and pathpin up with what it wrote brings
// PPP up.
func TestInitThenUp(t *testing.T) {
	requireVM(t)
	s := newSeed(t)
	s.router.Run("ip", "route", "add", "default", "via", "192.168.1.254")
	if err := os.Remove(s.cfg); err != nil {
		t.Fatal(err)
	}
	links := func() string {
		return strings.Join(regexp.MustCompile(`(?m)^\d+: ([^:]+):`).FindAllString(s.router.Run("ip", "-o", "link"), -1), " ")
	}
	before := links()

	// Ctrl-C while the probe VLANs exist removes them.
	probe := s.router.Command(s.bin, "init", "-c", s.cfg, "--vlan", "1000", "--interface", "eth0", "--timeout", "30s", "--yes",
		"--username", "cpeuser", "--password-stdin", "--ppp-dir", s.dir)
	probe.Stdin = strings.NewReader("cpe pass\n")
	if err := probe.Start(); err != nil {
		t.Fatal(err)
	}
	s.waitFor("the probe's VLAN links", 10*time.Second, func() bool {
		return strings.Contains(links(), "eth0.101") && strings.Contains(links(), "eth0.1000")
	})
	_ = probe.Process.Signal(os.Interrupt)
	if err := probe.Wait(); err == nil {
		t.Error("an interrupted init exited 0")
	}
	if after := links(); after != before {
		t.Errorf("Ctrl-C left the probe's VLANs behind:\nbefore: %s\nafter:  %s", before, after)
	}

	cmd := s.router.Command(s.bin, "init", "-c", s.cfg, "--vlan", "1000", "--yes", "--name", "plusnet",
		"--username", "cpeuser", "--password-stdin", "--ppp-dir", s.dir)
	cmd.Stdin = strings.NewReader("cpe pass\n")
	start := time.Now()
	out, err := cmd.CombinedOutput()
	t.Logf("pathpin init (%s):\n%s", time.Since(start).Round(time.Millisecond), out)
	if err != nil {
		t.Fatalf("init: %v", err)
	}
	if !strings.Contains(string(out), `eth1, VLAN 1000: AC-Name "plusnet-bras"`) || strings.Count(string(out), "AC-Name") != 1 {
		t.Errorf("init did not find the AC on VLAN 1000 of eth1 only")
	}
	written, err := os.ReadFile(s.cfg)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"interfaces: [eth1]", "interface: eth0\n    gateway: 192.168.1.254", "interface: eth1\n      vlan: 1000\n      username: cpeuser"} {
		if !strings.Contains(string(written), want) {
			t.Errorf("the configuration lacks %q:\n%s", want, written)
		}
	}
	if after := links(); after != before {
		t.Errorf("init left links behind:\nbefore: %s\nafter:  %s", before, after)
	}

	s.startPathpin()
	s.waitFor("PPP up with the configuration init wrote", 60*time.Second, func() bool {
		out, _ := s.router.Command("ip", "-4", "addr", "show", "dev", "ppp-plusnet").CombinedOutput()
		return pppLocal.MatchString(string(out))
	})
	if pw, err := os.ReadFile(filepath.Join(s.dir, "plusnet.password")); err != nil || string(pw) != "cpe pass\n" {
		t.Errorf("password file: %q, %v", pw, err)
	}
}
