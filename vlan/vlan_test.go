package vlan

import (
	"errors"
	"strings"
	"testing"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// fakeNetlink keeps links by name.
type fakeNetlink struct {
	links  map[string]netlink.Link
	addErr error
	calls  []string
}

func (f *fakeNetlink) LinkByName(name string) (netlink.Link, error) {
	if l, ok := f.links[name]; ok {
		return l, nil
	}
	return nil, netlink.LinkNotFoundError{}
}

func (f *fakeNetlink) LinkAdd(l netlink.Link) error {
	f.calls = append(f.calls, "add "+l.Attrs().Name)
	if f.addErr != nil {
		return f.addErr
	}
	l.Attrs().Index = len(f.links) + 1
	if l.Attrs().MTU == 0 {
		l.Attrs().MTU = f.links["eth1"].Attrs().MTU
	}
	f.links[l.Attrs().Name] = l
	return nil
}

func (f *fakeNetlink) LinkSetMTU(l netlink.Link, mtu int) error {
	f.calls = append(f.calls, "mtu "+l.Attrs().Name)
	l.Attrs().MTU = mtu
	return nil
}

func (f *fakeNetlink) LinkSetUp(l netlink.Link) error {
	f.calls = append(f.calls, "up "+l.Attrs().Name)
	return nil
}

func newFake() *fakeNetlink {
	return &fakeNetlink{links: map[string]netlink.Link{
		"eth1": &netlink.Device{LinkAttrs: netlink.LinkAttrs{Name: "eth1", Index: 7, MTU: 1500}},
	}}
}

func TestEnsureCreates(t *testing.T) {
	f := newFake()
	name, err := Ensure(f, Spec{Parent: "eth1", ID: 1000, PPPMTU: 1500})
	if err != nil || name != "eth1.1000" {
		t.Fatalf("Ensure = %q, %v", name, err)
	}
	v := f.links["eth1.1000"].(*netlink.Vlan)
	if v.VlanId != 1000 || v.ParentIndex != 7 {
		t.Fatalf("created %+v", v)
	}
	if f.links["eth1"].Attrs().MTU != 1508 || v.MTU != 1508 {
		t.Fatalf("MTUs parent %d vlan %d, want 1508 for RFC 4638", f.links["eth1"].Attrs().MTU, v.MTU)
	}
	// Again: kept, nothing created.
	f.calls = nil
	if _, err := Ensure(f, Spec{Parent: "eth1", ID: 1000, PPPMTU: 1500}); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(strings.Join(f.calls, ","), "add") || strings.Contains(strings.Join(f.calls, ","), "mtu") {
		t.Fatalf("second Ensure changed things: %v", f.calls)
	}
}

func TestEnsureLeavesMTUAloneAt1492(t *testing.T) {
	f := newFake()
	if _, err := Ensure(f, Spec{Parent: "eth1", ID: 101, PPPMTU: 1492}); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(strings.Join(f.calls, ","), "mtu") {
		t.Fatalf("MTU changed for 1492: %v", f.calls)
	}
}

func TestEnsureRefusesAWrongLink(t *testing.T) {
	for name, l := range map[string]netlink.Link{
		"other VLAN id": &netlink.Vlan{LinkAttrs: netlink.LinkAttrs{Name: "eth1.1000", ParentIndex: 7}, VlanId: 999},
		"other parent":  &netlink.Vlan{LinkAttrs: netlink.LinkAttrs{Name: "eth1.1000", ParentIndex: 8}, VlanId: 1000},
		"not a VLAN":    &netlink.Dummy{LinkAttrs: netlink.LinkAttrs{Name: "eth1.1000"}},
	} {
		t.Run(name, func(t *testing.T) {
			f := newFake()
			f.links["eth1.1000"] = l
			_, err := Ensure(f, Spec{Parent: "eth1", ID: 1000})
			if err == nil || !strings.Contains(err.Error(), "exists but is not VLAN 1000 on eth1") {
				t.Fatalf("Ensure error = %v", err)
			}
			if f.links["eth1.1000"] != l {
				t.Fatal("the wrong link was replaced")
			}
		})
	}
}

func TestEnsureNames8021qWhenUnsupported(t *testing.T) {
	f := newFake()
	f.addErr = unix.EOPNOTSUPP
	_, err := Ensure(f, Spec{Parent: "eth1", ID: 1000})
	if !errors.Is(err, ErrNo8021Q) || !strings.Contains(err.Error(), "modprobe 8021q") {
		t.Fatalf("Ensure error = %v", err)
	}
}

func TestEnsureMissingParent(t *testing.T) {
	_, err := Ensure(newFake(), Spec{Parent: "eth9", ID: 1000})
	if err == nil || !strings.Contains(err.Error(), "interface eth9 does not exist") {
		t.Fatalf("Ensure error = %v", err)
	}
}

func TestUntaggedUsesTheParent(t *testing.T) {
	name, err := Ensure(newFake(), Spec{Parent: "eth1"})
	if err != nil || name != "eth1" {
		t.Fatalf("Ensure = %q, %v", name, err)
	}
}
