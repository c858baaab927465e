package vlan

import (
	"errors"
	"golang.org/x/sys/unix"
	"os"
	"strings"
	"testing"

	"github.com/pathpin/pathpin/internal/netnstest"
	"github.com/vishvananda/netlink"
)

func TestMain(m *testing.M) { os.Exit(netnstest.Main(m)) }

// TestEnsureOnThisKernel runs against the real kernel in a namespace: it
// creates the VLAN where 8021q exists, and otherwise must name the module.
func TestEnsureOnThisKernel(t *testing.T) {
	netnstest.RequireRoot(t)
	ns, peer := netnstest.New(t), netnstest.New(t)
	netnstest.Veth(t, ns, "eth1", peer, "bridge0")
	var name string
	var err error
	ns.Do(func() {
		h, herr := netlink.NewHandle(unix.NETLINK_ROUTE)
		if herr != nil {
			t.Fatal(herr)
		}
		defer h.Close()
		name, err = Ensure(h, Spec{Parent: "eth1", ID: 1000, PPPMTU: 1500})
	})
	if errors.Is(err, ErrNo8021Q) {
		if os.Getenv("PATHPIN_VM") != "" {
			t.Fatalf("the test VM's kernel has 8021q, yet: %v", err)
		}
		t.Skipf("skipping: this kernel has no 8021q (the VM tests run this; the error says so: %v)", err)
	}
	if err != nil {
		t.Fatal(err)
	}
	out := ns.Run("ip", "-d", "link", "show", name)
	if !strings.Contains(out, "vlan protocol 802.1Q id 1000") || !strings.Contains(out, "mtu 1508") {
		t.Fatalf("created link:\n%s", out)
	}
}
