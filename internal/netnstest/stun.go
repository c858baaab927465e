package netnstest

import (
	"os"
	"path/filepath"
	"strings"
	"time"
)

// StartSTUN runs coturn as a plain STUN server on ip:3478 in ns, and
// returns once it listens; the test's end stops it.
func (ns *NS) StartSTUN(ip string) {
	t := ns.t
	t.Helper()
	dir := t.TempDir()
	conf := filepath.Join(dir, "turnserver.conf")
	if err := os.WriteFile(conf, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	log, err := os.Create(filepath.Join(dir, "turnserver.log"))
	if err != nil {
		t.Fatal(err)
	}
	defer log.Close()
	// An empty configuration file, and a pid file and user database of
	// its own, so that nothing of the host's is read or written.
	cmd := ns.Command("turnserver", "-c", conf, "--listening-ip", ip, "--listening-port", "3478",
		"--no-tls", "--no-dtls", "--stun-only", "--no-cli", "--log-file", "stdout", "--simple-log",
		"--pidfile", filepath.Join(dir, "turnserver.pid"), "--userdb", filepath.Join(dir, "turndb"))
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting turnserver: %v", err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if strings.Contains(ns.Run("ss", "-Hlun"), ip+":3478 ") {
			return
		}
	}
	b, _ := os.ReadFile(log.Name())
	t.Fatalf("turnserver did not listen on %s:3478 within 10 s:\n%s", ip, b)
}
