package netnstest

import (
	"os/exec"
	"testing"
)

// The booted VM (systemd as PID 1) is itself the router, as the Pi is: its
// home network is built once by one unit and checked by another, so those
// namespaces have fixed names and outlive the test that made them. Nothing
// here is for tests on a developer's machine.

// Lasting creates the namespace name, with loopback up and IPv6 off, and
// leaves it in place when the test ends.
func Lasting(t testing.TB, name string) *NS {
	t.Helper()
	if out, err := exec.Command("ip", "netns", "add", name).CombinedOutput(); err != nil {
		t.Fatalf("ip netns add %s: %v: %s", name, err, out)
	}
	ns := &NS{Name: name, t: t}
	ns.Run("sh", "-c", "for f in all default; do p=/proc/sys/net/ipv6/conf/$f/disable_ipv6; [ ! -e $p ] || echo 1 > $p; done")
	ns.Run("ip", "link", "set", "lo", "up")
	return ns
}

// Existing is a handle on a namespace made by someone else.
func Existing(t testing.TB, name string) *NS { return &NS{Name: name, t: t} }
