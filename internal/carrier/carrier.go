// Package carrier waits for an interface to have carrier. The kernel
// reports carrier asynchronously: a link brought up a moment ago (a veth,
// a VLAN, a NIC negotiating its speed) has none yet. rp-pppoe simply sends
// PADIs into it; pathpin waits for the kernel's word instead, bounded by
// the caller's context.
package carrier

import (
	"context"
	"errors"
	"fmt"
	"net"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// ErrNoCarrier means the interface got no carrier before the context ended.
var ErrNoCarrier = errors.New("no carrier")

// Wait returns once the interface has carrier (LOWER_UP). It calls
// waiting once if it has to wait. It fails when the interface does not
// exist, or with ErrNoCarrier when ctx ends first. An interface that is
// administratively down gets no carrier by itself: Wait returns at once
// and leaves that to the caller to report.
func Wait(ctx context.Context, name string, waiting func()) error {
	// Subscribe before looking, so that carrier arriving in between is seen.
	updates := make(chan netlink.LinkUpdate, 16)
	done := make(chan struct{})
	defer close(done)
	if err := netlink.LinkSubscribeWithOptions(updates, done, netlink.LinkSubscribeOptions{}); err != nil {
		return fmt.Errorf("watching %s for carrier: %w", name, err)
	}
	l, err := netlink.LinkByName(name)
	if err != nil {
		return fmt.Errorf("interface %s does not exist (check the name with `ip link`): %w", name, err)
	}
	if Has(l.Attrs()) || l.Attrs().Flags&net.FlagUp == 0 {
		return nil
	}
	if waiting != nil {
		waiting()
	}
	index := l.Attrs().Index
	for {
		select {
		case <-ctx.Done():
			return fmt.Errorf("%s: %w", name, ErrNoCarrier)
		case u, ok := <-updates:
			if !ok {
				return fmt.Errorf("watching %s for carrier: the netlink subscription ended", name)
			}
			if u.Attrs().Index == index && u.Header.Type != unix.RTM_DELLINK && Has(u.Attrs()) {
				return nil
			}
		}
	}
}

// Has reports whether a link is administratively up and has carrier.
func Has(a *netlink.LinkAttrs) bool {
	return a.Flags&net.FlagUp != 0 && a.RawFlags&unix.IFF_LOWER_UP != 0
}
