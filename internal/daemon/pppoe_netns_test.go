package daemon

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pathpin/pathpin/internal/netnstest"
)

// TestDiscoveryWaitsForCarrier: the daemon's PPPoE uplink comes up on a
// link with no carrier yet (a modem still training, a bridge powering
// up); the daemon waits for it and then discovers, instead of failing and
// backing off. This kernel has no PPP, so pppd then exits, and the log
// says why in words.
func TestDiscoveryWaitsForCarrier(t *testing.T) {
	netnstest.RequireRoot(t, "pppoe-server", "pppd")
	router, ac := netnstest.New(t), netnstest.New(t)
	netnstest.Veth(t, router, "wan0", ac, "isp0")
	ac.StartPPPoEServer(netnstest.PPPoEServer{Interface: "isp0", ACName: "isp-ac", Service: "", RecordSessions: true})
	netnstest.Veth(t, router, "lan0", netnstest.New(t), "client")
	ac.Run("ip", "link", "set", "isp0", "down")
	dir := t.TempDir()
	cfg := filepath.Join(dir, "pathpin.yaml")
	pw := filepath.Join(dir, "password")
	os.WriteFile(pw, []byte("secret\n"), 0o600)
	os.WriteFile(cfg, []byte("lan:\n  interfaces: [lan0]\nuplinks:\n  - name: dsl\n    pppoe:\n      interface: wan0\n      username: u\n      password-file: "+pw+"\n      ifname: ppp1\n"), 0o644)
	logPath := filepath.Join(dir, "pathpin.log")
	f, _ := os.Create(logPath)
	defer f.Close()
	cmd := router.Command(netnstest.Binary(t), "up", "-c", cfg, "--state-dir", filepath.Join(dir, "run"), "--lib-dir", filepath.Join(dir, "lib"), "--discovery-initial-timeout", "200ms")
	cmd.Stdout, cmd.Stderr = f, f
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	logText := func() string { b, _ := os.ReadFile(logPath); return string(b) }
	waitLog := func(what string) {
		t.Helper()
		deadline := time.Now().Add(15 * time.Second)
		for !strings.Contains(logText(), what) {
			if time.Now().After(deadline) {
				t.Fatalf("the log never said %q:\n%s", what, logText())
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	waitLog("waiting for carrier before discovery")
	ac.Run("ip", "link", "set", "isp0", "up")
	waitLog("pppd started")
	waitLog("(pppd exit ")
	if strings.Contains(logText(), "has no carrier") {
		t.Fatalf("discovery failed for want of carrier instead of waiting:\n%s", logText())
	}
}
