package netnstest

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
)

// DHCPServer describes a dnsmasq DHCP server for a test: DNS off, no
// configuration file but these flags, its leases and log in the test's
// own directory.
type DHCPServer struct {
	Interface string
	// Range is "first,last,mask,lease", e.g.
	// "192.168.1.10,192.168.1.20,255.255.255.0,2m" (dnsmasq's shortest
	// lease is 2 minutes).
	Range  string
	Router string
	DNS    string // "" for none
	// T1 and T2 in seconds (options 58 and 59); 0 leaves them to dnsmasq.
	T1, T2 int
	// Extra are further dnsmasq flags.
	Extra []string
}

// RunningDHCPServer is a started dnsmasq.
type RunningDHCPServer struct {
	ns  *NS
	cmd *exec.Cmd
	// Log is the server's log (every DHCP message it handled).
	Log string
	dir string
}

// StartDHCPServer starts dnsmasq in ns in the foreground, killed with the
// test; it returns once dnsmasq listens (its log says so).
func (ns *NS) StartDHCPServer(s DHCPServer) *RunningDHCPServer {
	ns.t.Helper()
	return ns.startDHCP(s, ns.t.TempDir())
}

func (ns *NS) startDHCP(s DHCPServer, dir string) *RunningDHCPServer {
	ns.t.Helper()
	srv := &RunningDHCPServer{ns: ns, Log: filepath.Join(dir, "dnsmasq.log"), dir: dir}
	args := []string{"--keep-in-foreground", "--conf-file=/dev/null", "--port=0", "--user=root", "--group=root",
		"--interface=" + s.Interface, "--bind-interfaces", "--dhcp-authoritative", "--log-dhcp",
		"--log-facility=" + srv.Log, "--dhcp-leasefile=" + filepath.Join(dir, "leases"), "--pid-file=" + filepath.Join(dir, "pid"),
		"--dhcp-range=" + s.Range, "--dhcp-option=option:router," + s.Router}
	if s.DNS != "" {
		args = append(args, "--dhcp-option=option:dns-server,"+s.DNS)
	}
	if s.T1 > 0 {
		args = append(args, fmt.Sprintf("--dhcp-option=option:T1,%d", s.T1), fmt.Sprintf("--dhcp-option=option:T2,%d", s.T2))
	}
	srv.cmd = ns.Start("dnsmasq", append(args, s.Extra...)...)
	for i := 0; i < 200; i++ {
		if strings.Contains(srv.LogText(), "DHCP, IP range") {
			return srv
		}
		time.Sleep(10 * time.Millisecond)
	}
	ns.t.Fatalf("dnsmasq did not start in %s:\n%s", ns.Name, srv.LogText())
	return nil
}

// LogText is the server's log so far.
func (s *RunningDHCPServer) LogText() string {
	b, _ := os.ReadFile(s.Log)
	return string(b)
}

// Stop kills the server; its log stays.
func (s *RunningDHCPServer) Stop() {
	_ = s.cmd.Process.Kill()
	_ = s.cmd.Wait()
}

// Restart stops the server and starts it with s, forgetting its leases
// (as a replaced ISP router would), logging to the same file.
func (s *RunningDHCPServer) Restart(with DHCPServer) *RunningDHCPServer {
	s.ns.t.Helper()
	s.Stop()
	_ = os.Remove(filepath.Join(s.dir, "leases"))
	return s.ns.startDHCP(with, s.dir)
}
