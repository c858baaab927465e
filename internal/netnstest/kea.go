package netnstest

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
)

// KeaServer describes ISC Kea's DHCPv4 server for a test: one subnet on
// one interface, its leases in memory, its log in the test's directory.
// Kea answers a client that has an address by unicast (a renewal's ACK),
// as most ISP routers' servers do.
type KeaServer struct {
	Interface string
	Subnet    string // e.g. 192.168.1.0/24
	Pool      string // e.g. 192.168.1.10 - 192.168.1.20
	Router    string
	// Lifetime, T1 and T2 in seconds.
	Lifetime, T1, T2 uint32
}

// RunningKea is a started kea-dhcp4.
type RunningKea struct {
	cmd *exec.Cmd
	// Log is the server's log.
	Log string
}

// StartKea starts kea-dhcp4 in ns, killed with the test; it returns once
// Kea listens on the interface (its log says so).
func (ns *NS) StartKea(k KeaServer) *RunningKea {
	ns.t.Helper()
	dir := ns.t.TempDir()
	log := filepath.Join(dir, "kea.log")
	conf := map[string]any{"Dhcp4": map[string]any{
		"interfaces-config": map[string]any{"interfaces": []string{k.Interface}, "dhcp-socket-type": "raw"},
		"lease-database":    map[string]any{"type": "memfile", "persist": false},
		"valid-lifetime":    k.Lifetime, "renew-timer": k.T1, "rebind-timer": k.T2,
		"subnet4": []any{map[string]any{"subnet": k.Subnet, "pools": []any{map[string]any{"pool": k.Pool}},
			"option-data": []any{map[string]any{"name": "routers", "data": k.Router}}}},
		"loggers": []any{map[string]any{"name": "kea-dhcp4", "severity": "DEBUG", "debuglevel": 40,
			"output_options": []any{map[string]any{"output": log}}}},
	}}
	b, err := json.Marshal(conf)
	if err != nil {
		ns.t.Fatal(err)
	}
	path := filepath.Join(dir, "kea-dhcp4.conf")
	if err := os.WriteFile(path, b, 0o600); err != nil {
		ns.t.Fatal(err)
	}
	// Kea keeps its lock and pid files here.
	cmd := ns.Command("kea-dhcp4", "-c", path)
	cmd.Env = append(os.Environ(), "KEA_LOCKFILE_DIR="+dir, "KEA_PIDFILE_DIR="+dir)
	if err := cmd.Start(); err != nil {
		ns.t.Fatalf("starting kea-dhcp4: %v", err)
	}
	ns.t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	srv := &RunningKea{cmd: cmd, Log: log}
	for i := 0; i < 500; i++ {
		if b, _ := os.ReadFile(log); strings.Contains(string(b), "DHCP4_STARTED") {
			return srv
		}
		time.Sleep(10 * time.Millisecond)
	}
	b, _ = os.ReadFile(log)
	ns.t.Fatalf("kea-dhcp4 did not start in %s:\n%s", ns.Name, b)
	return nil
}
