package netnstest

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"time"
)

// PPPoEServer describes an rp-pppoe pppoe-server to start in a namespace.
type PPPoEServer struct {
	Interface string
	ACName    string
	Service   string
	// Options are the lines of the server's pppd options file; nil means
	// "noauth" with a fast LCP echo.
	Options []string
	// RecordSessions replaces the pppd the server starts for each session
	// with a stand-in that records its arguments and waits to be killed, for
	// kernels without PPP. The server itself is unchanged: it still answers
	// discovery, logs each session it grants and ends it on PADT.
	RecordSessions bool
	// Extra are further pppoe-server flags.
	Extra []string
}

// A RunningPPPoEServer is a started pppoe-server.
type RunningPPPoEServer struct {
	ns      *NS
	logFile string
}

// StartPPPoEServer starts pppoe-server in ns and waits until its pid file
// exists. The server (and every session it forks) dies with the namespace.
func (ns *NS) StartPPPoEServer(s PPPoEServer) *RunningPPPoEServer {
	ns.t.Helper()
	dir := ns.t.TempDir()
	opts := s.Options
	if opts == nil {
		opts = []string{"noauth", "lcp-echo-interval 2", "lcp-echo-failure 3"}
	}
	optFile := filepath.Join(dir, "options")
	writeFile(ns, optFile, strings.Join(opts, "\n")+"\n", 0o600)
	pidFile := filepath.Join(dir, "pid")
	args := []string{"-I", s.Interface, "-C", s.ACName, "-S", s.Service,
		"-L", "192.0.2.1", "-R", "192.0.2.10", "-N", "64", "-X", pidFile, "-O", optFile}
	srv := &RunningPPPoEServer{ns: ns, logFile: filepath.Join(dir, "sessions.log")}
	if s.RecordSessions {
		stand := filepath.Join(dir, "pppd-stand-in")
		writeFile(ns, stand, "#!/bin/sh\necho \"$*\" >> '"+srv.logFile+"'\nsleep 3600 &\ntrap 'kill $! 2>/dev/null; exit 0' TERM HUP INT\nwait\n", 0o755)
		args = append(args, "-q", stand)
	}
	ns.Run("pppoe-server", append(args, s.Extra...)...)
	for i := 0; i < 100; i++ {
		if _, err := os.Stat(pidFile); err == nil {
			return srv
		}
		time.Sleep(10 * time.Millisecond)
	}
	ns.t.Fatalf("pppoe-server in %s wrote no pid file", ns.Name)
	return nil
}

var sessionArg = regexp.MustCompile(`-e (\d+:[0-9a-f:]{17})`)

// Sessions returns the "SID:CLIENT-MAC" of every session the server has
// granted, from its stand-in pppd's log (RecordSessions only).
func (s *RunningPPPoEServer) Sessions() []string {
	b, _ := os.ReadFile(s.logFile)
	var out []string
	for _, m := range sessionArg.FindAllStringSubmatch(string(b), -1) {
		out = append(out, m[1])
	}
	return out
}

// LiveSessions returns the "SID:CLIENT-MAC" of the sessions whose process
// still runs: a PADT from the client ends it.
func (s *RunningPPPoEServer) LiveSessions() []string {
	var out []string
	for _, p := range s.ns.Processes() {
		if m := sessionArg.FindStringSubmatch(p); m != nil && !strings.HasPrefix(p, "pppoe-server") {
			out = append(out, m[1])
		}
	}
	return out
}

func writeFile(ns *NS, path, content string, mode os.FileMode) {
	ns.t.Helper()
	if err := os.WriteFile(path, []byte(content), mode); err != nil {
		ns.t.Fatal(err)
	}
}
