// Package vlan creates the 802.1Q link a PPPoE uplink runs on (eth1.1000
// from eth1 and VLAN 1000) through netlink, idempotently: a correct link is
// kept, a wrong one is reported and left alone.
package vlan

import (
	"errors"
	"fmt"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// Netlink is the part of *netlink.Handle this package uses.
type Netlink interface {
	LinkByName(name string) (netlink.Link, error)
	LinkAdd(link netlink.Link) error
	LinkSetMTU(link netlink.Link, mtu int) error
	LinkSetUp(link netlink.Link) error
}

var _ Netlink = (*netlink.Handle)(nil)

// PPPoEOverhead is what PPPoE adds to a PPP frame: 6 octets of PPPoE
// header and 2 of PPP protocol. An RFC 4638 PPP MTU of 1500 needs 1508 on
// the Ethernet below it (and on the VLAN's parent).
const PPPoEOverhead = 8

// ErrNo8021Q means the kernel cannot create VLAN links.
var ErrNo8021Q = errors.New("the kernel has no 802.1Q VLAN support: load the 8021q module (modprobe 8021q) or build it in (CONFIG_VLAN_8021Q)")

// Spec is the link to ensure.
type Spec struct {
	Parent string // e.g. eth1
	ID     int    // 1-4094; 0 means untagged: the parent itself is used
	// PPPMTU is the PPP MTU the uplink wants; the links below are raised
	// to PPPMTU+8 when they are smaller. 0 leaves MTUs alone.
	PPPMTU int
}

// Name is the VLAN link's name, e.g. eth1.1000.
func (s Spec) Name() string {
	if s.ID == 0 {
		return s.Parent
	}
	return fmt.Sprintf("%s.%d", s.Parent, s.ID)
}

// Ensure creates the VLAN link when it is missing, checks it when it
// exists, sets the MTUs and brings parent and VLAN up. It returns the
// link's name.
func Ensure(nl Netlink, s Spec) (string, error) {
	parent, err := nl.LinkByName(s.Parent)
	if err != nil {
		return "", fmt.Errorf("vlan: interface %s does not exist; check pppoe.interface: %w", s.Parent, err)
	}
	want := s.PPPMTU + PPPoEOverhead
	if s.PPPMTU > 0 && parent.Attrs().MTU < want {
		if err := nl.LinkSetMTU(parent, want); err != nil {
			return "", fmt.Errorf("vlan: raising %s's MTU to %d for a PPP MTU of %d: %w (does the NIC support baby jumbo frames?)", s.Parent, want, s.PPPMTU, err)
		}
	}
	if err := nl.LinkSetUp(parent); err != nil {
		return "", fmt.Errorf("vlan: bringing %s up: %w", s.Parent, err)
	}
	if s.ID == 0 {
		return s.Parent, nil
	}
	link, err := Find(nl, parent, s)
	if err != nil {
		return "", fmt.Errorf("%w or change pppoe.vlan", err)
	}
	if link == nil {
		// The new link inherits the parent's MTU, raised above if needed.
		if link, err = Create(nl, parent, s); err != nil {
			return "", err
		}
	}
	name := s.Name()
	if s.PPPMTU > 0 && link.Attrs().MTU < want {
		if err := nl.LinkSetMTU(link, want); err != nil {
			return "", fmt.Errorf("vlan: setting %s's MTU to %d: %w", name, want, err)
		}
	}
	if err := nl.LinkSetUp(link); err != nil {
		return "", fmt.Errorf("vlan: bringing %s up: %w", name, err)
	}
	return name, nil
}

// Find returns the VLAN link of s on parent, nil when there is none. A
// link of that name that is something else is an error that says so.
func Find(nl Netlink, parent netlink.Link, s Spec) (netlink.Link, error) {
	name := s.Name()
	link, err := nl.LinkByName(name)
	var notFound netlink.LinkNotFoundError
	switch {
	case errors.As(err, &notFound):
		return nil, nil
	case err != nil:
		return nil, fmt.Errorf("vlan: looking up %s: %w", name, err)
	}
	if v, ok := link.(*netlink.Vlan); !ok || v.ParentIndex != parent.Attrs().Index || v.VlanId != s.ID {
		return nil, fmt.Errorf("vlan: %s exists but is not VLAN %d on %s (it is %s); remove it (ip link del %s)", name, s.ID, s.Parent, describe(link), name)
	}
	return link, nil
}

// Create makes the VLAN link of s on parent and returns it as the kernel
// reads it back. A kernel without 802.1Q gives ErrNo8021Q.
func Create(nl Netlink, parent netlink.Link, s Spec) (netlink.Link, error) {
	name := s.Name()
	if len(name) > 15 {
		return nil, fmt.Errorf("vlan: %s is longer than the kernel's 15-character limit; rename %s", name, s.Parent)
	}
	v := &netlink.Vlan{LinkAttrs: netlink.LinkAttrs{Name: name, ParentIndex: parent.Attrs().Index}, VlanId: s.ID, VlanProtocol: netlink.VLAN_PROTOCOL_8021Q}
	if err := nl.LinkAdd(v); err != nil {
		if errors.Is(err, unix.EOPNOTSUPP) || errors.Is(err, unix.ENOTSUP) {
			return nil, fmt.Errorf("vlan: creating %s: %w", name, ErrNo8021Q)
		}
		return nil, fmt.Errorf("vlan: creating %s: %w", name, err)
	}
	link, err := nl.LinkByName(name)
	if err != nil {
		return nil, fmt.Errorf("vlan: reading back %s: %w", name, err)
	}
	return link, nil
}

func describe(l netlink.Link) string {
	if v, ok := l.(*netlink.Vlan); ok {
		return fmt.Sprintf("VLAN %d on link %d", v.VlanId, v.ParentIndex)
	}
	return "a " + l.Type() + " link"
}
