// Package netnstest builds throw-away network namespaces for pathpin's
// privileged tests. Every namespace has a random name, and everything in it
// (processes, links) is removed when the test ends, pass or fail. Nothing
// is ever changed in the namespace the tests run in.
//
// It drives iproute2's ip command: that is fixture set-up, never pathpin's
// own code path.
package netnstest

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/vishvananda/netns"
)

const prefix = "pptest-"

// RequireRoot skips the test unless it runs as root with the given
// programs on $PATH ("ip" is always required).
func RequireRoot(t testing.TB, programs ...string) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("skipping: needs root to create network namespaces (make test runs it as root)")
	}
	for _, p := range append([]string{"ip"}, programs...) {
		if _, err := exec.LookPath(p); err != nil {
			t.Skipf("skipping: %s is not installed (make deps installs it)", p)
		}
	}
}

// An NS is a network namespace owned by one test.
type NS struct {
	Name string
	t    testing.TB
}

// New creates a namespace with a random name and loopback up, and removes
// it (killing whatever still runs in it) when the test ends.
func New(t testing.TB) *NS {
	t.Helper()
	sweepStale()
	var b [4]byte
	_, _ = rand.Read(b[:])
	ns := &NS{Name: fmt.Sprintf("%s%d-%s", prefix, os.Getpid(), hex.EncodeToString(b[:])), t: t}
	if out, err := exec.Command("ip", "netns", "add", ns.Name).CombinedOutput(); err != nil {
		t.Fatalf("ip netns add %s: %v: %s", ns.Name, err, out)
	}
	t.Cleanup(ns.remove)
	// No IPv6 in test namespaces: the kernel would otherwise add link-local
	// addresses and routes on its own, a moment after each link comes up,
	// and tests that compare kernel state would race it.
	ns.Run("sh", "-c", "for f in all default; do p=/proc/sys/net/ipv6/conf/$f/disable_ipv6; [ ! -e $p ] || echo 1 > $p; done")
	ns.Run("ip", "link", "set", "lo", "up")
	return ns
}

func (ns *NS) remove() {
	for i := 0; i < 50; i++ {
		pids := ns.pids()
		if len(pids) == 0 {
			break
		}
		for _, pid := range pids {
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if out, err := exec.Command("ip", "netns", "del", ns.Name).CombinedOutput(); err != nil {
		ns.t.Errorf("removing namespace %s: %v: %s", ns.Name, err, out)
	}
}

func (ns *NS) pids() []int {
	out, _ := exec.Command("ip", "netns", "pids", ns.Name).Output()
	var pids []int
	for _, f := range strings.Fields(string(out)) {
		if pid, err := strconv.Atoi(f); err == nil {
			pids = append(pids, pid)
		}
	}
	return pids
}

// Pids returns the processes in the namespace whose command line
// contains match.
func (ns *NS) Pids(match string) []int {
	var out []int
	for _, pid := range ns.pids() {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
		if err == nil && strings.Contains(string(bytes.ReplaceAll(b, []byte{0}, []byte{' '})), match) {
			out = append(out, pid)
		}
	}
	return out
}

// Kill sends sig to the processes in the namespace whose command line
// contains match.
func (ns *NS) Kill(match string, sig syscall.Signal) {
	for _, pid := range ns.Pids(match) {
		_ = syscall.Kill(pid, sig)
	}
}

// Processes returns the command lines of the processes in the namespace.
func (ns *NS) Processes() []string {
	var out []string
	for _, pid := range ns.pids() {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
		if err == nil {
			out = append(out, strings.TrimSpace(string(bytes.ReplaceAll(b, []byte{0}, []byte{' '}))))
		}
	}
	return out
}

// sweepStale removes namespaces left by test processes that no longer
// exist (a test binary killed by a timeout cannot run its cleanups).
func sweepStale() {
	out, _ := exec.Command("ip", "netns", "list").Output()
	for _, line := range strings.Split(string(out), "\n") {
		name, _, _ := strings.Cut(strings.TrimSpace(line), " ")
		rest, ok := strings.CutPrefix(name, prefix)
		if !ok {
			continue
		}
		pidText, _, _ := strings.Cut(rest, "-")
		pid, err := strconv.Atoi(pidText)
		if err != nil || syscall.Kill(pid, 0) == nil {
			continue
		}
		stale := &NS{Name: name, t: nil}
		for _, p := range stale.pids() {
			_ = syscall.Kill(p, syscall.SIGKILL)
		}
		_ = exec.Command("ip", "netns", "del", name).Run()
	}
}

// EtcFile gives commands run in the namespace their own /etc/REL (with
// iproute2's /etc/netns/NAME overlay, which `ip netns exec` bind-mounts
// over /etc), so that a peer's configuration never touches the host's.
// The whole top-level entry of REL is overlaid: EtcFile("ppp/chap-secrets")
// gives the namespace its own /etc/ppp.
func (ns *NS) EtcFile(rel, content string, mode os.FileMode) {
	ns.t.Helper()
	dir := filepath.Join("/etc/netns", ns.Name)
	path := filepath.Join(dir, rel)
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		ns.t.Fatal(err)
	}
	ns.t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.WriteFile(path, []byte(content), mode); err != nil {
		ns.t.Fatal(err)
	}
}

// Command returns a command that runs in the namespace.
func (ns *NS) Command(name string, args ...string) *exec.Cmd {
	return exec.Command("ip", append([]string{"netns", "exec", ns.Name, name}, args...)...)
}

// CommandHostMounts returns a command that runs in the namespace's
// network but the host's mounts: ip netns exec mounts a /sys of the
// namespace's own, which hides the cgroup v2 hierarchy beneath it.
func (ns *NS) CommandHostMounts(name string, args ...string) *exec.Cmd {
	return exec.Command("nsenter", append([]string{"--net=/run/netns/" + ns.Name, "--", name}, args...)...)
}

// Run runs a command in the namespace and fails the test if it fails.
func (ns *NS) Run(name string, args ...string) string {
	ns.t.Helper()
	out, err := ns.Command(name, args...).CombinedOutput()
	if err != nil {
		ns.t.Fatalf("in %s: %s %s: %v\n%s", ns.Name, name, strings.Join(args, " "), err, out)
	}
	return string(out)
}

// Start starts a long-running command in the namespace; it is killed with
// the namespace at the end of the test.
func (ns *NS) Start(name string, args ...string) *exec.Cmd {
	ns.t.Helper()
	cmd := ns.Command(name, args...)
	if err := cmd.Start(); err != nil {
		ns.t.Fatalf("in %s: starting %s: %v", ns.Name, name, err)
	}
	ns.t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	return cmd
}

// Veth joins two namespaces with a veth pair named aName in a and bName in
// b, both up. The pair is created directly inside the namespaces.
func Veth(t testing.TB, a *NS, aName string, b *NS, bName string) {
	t.Helper()
	out, err := exec.Command("ip", "link", "add", aName, "netns", a.Name, "type", "veth", "peer", "name", bName, "netns", b.Name).CombinedOutput()
	if err != nil {
		t.Fatalf("creating veth %s/%s: %v: %s", aName, bName, err, out)
	}
	a.Run("ip", "link", "set", aName, "up")
	b.Run("ip", "link", "set", bName, "up")
	a.WaitCarrier(aName)
	b.WaitCarrier(bName)
}

// WaitCarrier waits until the link has carrier (LOWER_UP), which a new
// veth pair gets shortly after both ends are up.
func (ns *NS) WaitCarrier(ifname string) {
	ns.t.Helper()
	for i := 0; i < 200; i++ {
		if strings.Contains(ns.Run("ip", "link", "show", "dev", ifname), "LOWER_UP") {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	ns.t.Fatalf("%s in %s never got carrier", ifname, ns.Name)
}

// Do runs fn with the calling goroutine inside the namespace. Sockets
// opened by fn stay in the namespace after Do returns.
func (ns *NS) Do(fn func()) {
	ns.t.Helper()
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	orig, err := netns.Get()
	if err != nil {
		ns.t.Fatalf("reading the current namespace: %v", err)
	}
	defer orig.Close()
	target, err := netns.GetFromName(ns.Name)
	if err != nil {
		ns.t.Fatalf("opening namespace %s: %v", ns.Name, err)
	}
	defer target.Close()
	if err := netns.Set(target); err != nil {
		ns.t.Fatalf("entering namespace %s: %v", ns.Name, err)
	}
	defer func() {
		if err := netns.Set(orig); err != nil {
			panic(fmt.Sprintf("netnstest: cannot return to the original namespace: %v", err))
		}
	}()
	fn()
}

// Must runs fn inside the namespace, as Do does, and fails the test when
// it returns an error.
func (ns *NS) Must(fn func() error) {
	ns.t.Helper()
	var err error
	ns.Do(func() { err = fn() })
	if err != nil {
		ns.t.Fatalf("in %s: %v", ns.Name, err)
	}
}

var peerNetns = regexp.MustCompile(`link-netns(id)? \S+`)

// Links is `ip -d link show` and `ip addr show` in the namespace, with
// each veth's peer namespace left out: iproute2 names it by looking
// through every namespace on the host, and one that another test removes
// meanwhile turns the name into an id or an error line.
func (ns *NS) Links() string {
	ns.t.Helper()
	var out []string
	for _, l := range strings.Split(ns.Run("ip", "-d", "link", "show")+ns.Run("ip", "addr", "show"), "\n") {
		if strings.HasPrefix(l, "Error: Peer netns reference is invalid") {
			continue
		}
		out = append(out, peerNetns.ReplaceAllString(l, "link-netns (peer)"))
	}
	return strings.Join(out, "\n")
}
