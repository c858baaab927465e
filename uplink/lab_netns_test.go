package uplink

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/pathpin/pathpin/internal/netnstest"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// engineLab is the two-ISP topology with pathpin's binary, a config file
// and a state directory for the router.
type engineLab struct {
	*netnstest.TwoISP
	t        testing.TB
	bin      string
	cfgPath  string
	stateDir string
}

// newEngineLab is the two-ISP lab with pathpin's binary and configuration.
func newEngineLab(t testing.TB) *engineLab {
	netnstest.RequireRoot(t, "nft", "iptables-nft", "iptables-legacy")
	dir := t.TempDir()
	return &engineLab{TwoISP: netnstest.NewTwoISP(t), t: t, bin: netnstest.Binary(t),
		cfgPath: filepath.Join(dir, "pathpin.yaml"), stateDir: filepath.Join(dir, "state")}
}

// configure writes the router's configuration.
func (l *engineLab) configure(weightA, weightB int) {
	l.t.Helper()
	l.write(l.Config(weightA, weightB, ""))
}

func (l *engineLab) write(cfg string) {
	l.t.Helper()
	if err := os.WriteFile(l.cfgPath, []byte(cfg), 0o644); err != nil {
		l.t.Fatal(err)
	}
}

// pathpin runs a command in the router namespace and returns its output
// and exit status.
func (l *engineLab) pathpin(cmd string, args ...string) (string, int) {
	l.t.Helper()
	c := l.Router.Command(l.bin, append([]string{cmd, "-c", l.cfgPath, "--state-dir", l.stateDir}, args...)...)
	out, err := c.CombinedOutput()
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return string(out), ee.ExitCode()
	}
	if err != nil {
		l.t.Fatalf("running pathpin %s: %v", cmd, err)
	}
	return string(out), 0
}

func (l *engineLab) mustApply() {
	l.t.Helper()
	if out, code := l.pathpin("apply"); code != 0 {
		l.t.Fatalf("pathpin apply exited %d:\n%s", code, out)
	}
}

// engine opens an engine whose sockets live in the router namespace. Its
// methods must still run inside l.Router.Do, so that the iptables tools
// it execs for an older pathpin's chains start there too.
func (l *engineLab) engine() *Engine {
	l.t.Helper()
	var e *Engine
	l.Router.Do(func() {
		h, err := netlink.NewHandle(unix.NETLINK_ROUTE)
		if err != nil {
			l.t.Fatal(err)
		}
		l.t.Cleanup(h.Close)
		tables, err := OpenTables()
		if err != nil {
			l.t.Fatal(err)
		}
		e = &Engine{NL: h, Tables: tables, Legacy: OpenLegacyIPTables(0), Sysctl: NewProcSys(), StateDir: l.stateDir}
	})
	return e
}

var (
	counters    = regexp.MustCompile(`\[\d+:\d+\]`)
	nftCounters = regexp.MustCompile(`counter packets \d+ bytes \d+`)
)

// snapshot renders the router's whole networking state: both iptables
// backends, every ip rule, every route of every table, and the sysctls
// pathpin may touch. Counters and comment lines are dropped.
func (l *engineLab) snapshot() string {
	l.t.Helper()
	var b strings.Builder
	for _, save := range []string{"iptables-nft-save", "iptables-legacy-save"} {
		b.WriteString("## " + save + "\n")
		for _, line := range strings.Split(l.Router.Run(save), "\n") {
			if !strings.HasPrefix(line, "#") {
				b.WriteString(counters.ReplaceAllString(line, "[n]") + "\n")
			}
		}
	}
	// nftables tables other than iptables-nft's (which the saves above
	// show, and which iptables-nft leaves behind empty): pathpin's own
	// and other tools'.
	for _, line := range strings.Split(l.Router.Run("nft", "list", "tables"), "\n") {
		f := strings.Fields(line)
		if len(f) == 3 && !(f[1] == "ip" && (f[2] == "mangle" || f[2] == "nat" || f[2] == "filter")) {
			b.WriteString("## nft list table " + f[1] + " " + f[2] + "\n")
			b.WriteString(sortedBlocks(nftCounters.ReplaceAllString(l.Router.Run("nft", "list", "table", f[1], f[2]), "counter")))
		}
	}
	b.WriteString("## ip rule\n" + l.Router.Run("ip", "rule"))
	b.WriteString("## ip route show table all\n" + l.Router.Run("ip", "route", "show", "table", "all"))
	b.WriteString("## sysctl\n" + l.Router.Run("sh", "-c", "grep -H . /proc/sys/net/ipv4/ip_forward /proc/sys/net/ipv4/conf/*/rp_filter"))
	return b.String()
}

// sortedBlocks is an nft listing with its chains, sets and maps in name
// order: the kernel lists them in the order they were made, which an
// update in place changes without changing the table.
func sortedBlocks(listing string) string {
	lines := strings.Split(listing, "\n")
	var head, tail []string
	var blocks []string
	var cur []string
	for _, l := range lines {
		switch {
		case cur != nil:
			cur = append(cur, l)
			if l == "\t}" {
				blocks, cur = append(blocks, strings.Join(cur, "\n")), nil
			}
		case strings.HasPrefix(l, "\tchain ") || strings.HasPrefix(l, "\tset ") || strings.HasPrefix(l, "\tmap "):
			cur = []string{l}
		case len(blocks) == 0:
			head = append(head, l)
		case l != "":
			tail = append(tail, l)
		}
	}
	slices.Sort(blocks)
	return strings.Join(head, "\n") + "\n" + strings.Join(blocks, "\n") + "\n" + strings.Join(tail, "\n") + "\n"
}

// connect opens n short connections from the client and counts the
// source addresses the server saw.
func (l *engineLab) connect(n int) map[string]int {
	l.t.Helper()
	counts := map[string]int{}
	var mu sync.Mutex
	var wg sync.WaitGroup
	var firstErr error
	jobs := make(chan struct{}, n)
	for i := 0; i < n; i++ {
		jobs <- struct{}{}
	}
	close(jobs)
	for w := 0; w < 8; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range jobs {
				c, err := l.Client.DialSource(netnstest.ServerAddr + ":80")
				mu.Lock()
				if err != nil {
					if firstErr == nil {
						firstErr = err
					}
				} else {
					counts[c.First]++
				}
				mu.Unlock()
				if c != nil {
					c.Close()
				}
			}
		}()
	}
	wg.Wait()
	if firstErr != nil {
		l.t.Fatalf("connecting through the router: %v (got %v)", firstErr, counts)
	}
	return counts
}
