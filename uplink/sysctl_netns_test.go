package uplink

import (
	"testing"

	"github.com/pathpin/pathpin/internal/netnstest"
)

// TestProcSysKeepsFilesAcrossDevices: a setting read through a kept file
// follows its device: gone reads as "", a new device of the same name is
// read afresh.
func TestProcSysKeepsFilesAcrossDevices(t *testing.T) {
	netnstest.RequireRoot(t)
	ns := netnstest.New(t)
	p := NewProcSys()
	defer p.Close()
	get := func() string {
		t.Helper()
		var v string
		var err error
		ns.Do(func() { v, err = p.Get("net/ipv4/conf/keep0/rp_filter") })
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	ns.Run("ip", "link", "add", "keep0", "type", "veth", "peer", "name", "keep1")
	ns.Run("sysctl", "-qw", "net.ipv4.conf.keep0.rp_filter=2")
	if v := get(); v != "2" {
		t.Fatalf("read %q, want 2", v)
	}
	ns.Run("sysctl", "-qw", "net.ipv4.conf.keep0.rp_filter=1")
	if v := get(); v != "1" {
		t.Fatalf("after a change, read %q, want 1", v)
	}
	ns.Run("ip", "link", "del", "keep0")
	if v := get(); v != "" {
		t.Fatalf("after the device went, read %q, want nothing", v)
	}
	ns.Run("ip", "link", "add", "keep0", "type", "veth", "peer", "name", "keep1")
	ns.Run("sysctl", "-qw", "net.ipv4.conf.keep0.rp_filter=2")
	if v := get(); v != "2" {
		t.Fatalf("a new device of the same name read %q, want 2", v)
	}
}
