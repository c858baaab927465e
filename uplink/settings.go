package uplink

import (
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/vishvananda/netlink"
)

// settings are the kernel settings pathpin keeps by key, each with its
// original value recorded for down: sysctls ("net/ipv4/ip_forward"), and
// an interface's MTU ("link/eth0/mtu", a DHCP lease's option 26), which
// is set over netlink.
type settings struct {
	sys Sysctls
	nl  Netlink
}

func (e *Engine) settings() settings { return settings{sys: e.Sysctl, nl: e.NL} }

// mtuKey is the key of an interface's MTU setting.
func mtuKey(dev string) string { return "link/" + dev + "/mtu" }

// mtuDevice is the interface a key sets the MTU of.
func mtuDevice(key string) (string, bool) {
	rest, ok := strings.CutPrefix(key, "link/")
	if !ok {
		return "", false
	}
	return strings.CutSuffix(rest, "/mtu")
}

// Get reads a setting; a missing one (its interface gone) reads as "".
func (s settings) Get(key string) (string, error) {
	dev, ok := mtuDevice(key)
	if !ok {
		return s.sys.Get(key)
	}
	l, err := s.nl.LinkByName(dev)
	if errors.As(err, new(netlink.LinkNotFoundError)) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("reading %s's MTU: %w", dev, err)
	}
	return strconv.Itoa(l.Attrs().MTU), nil
}

// Set writes a setting.
func (s settings) Set(key, value string) error {
	dev, ok := mtuDevice(key)
	if !ok {
		return s.sys.Set(key, value)
	}
	mtu, err := strconv.Atoi(value)
	if err != nil {
		return fmt.Errorf("setting %s's MTU to %q: %w", dev, value, err)
	}
	l, err := s.nl.LinkByName(dev)
	if err == nil {
		err = s.nl.LinkSetMTU(l, mtu)
	}
	if err != nil {
		return fmt.Errorf("setting %s's MTU to %d: %w", dev, mtu, err)
	}
	return nil
}
