package web

import (
	"fmt"
	"net/netip"
	"slices"

	"github.com/pathpin/pathpin/internal/config"
)

// Addrs lists an interface's addresses; a missing interface has none.
type Addrs func(iface string) []netip.Addr

// Addresses are where pathpin web listens for cfg: web.listen when given,
// else every IPv4 address of the LAN interfaces and 127.0.0.1, on
// web.port. An address that belongs to an uplink's interface is refused:
// the page and metrics are for the LAN, never the uplinks' side.
func Addresses(cfg *config.Config, addrs Addrs) ([]netip.AddrPort, error) {
	uplinkOf := map[netip.Addr]string{}
	for i := range cfg.Uplinks {
		u := &cfg.Uplinks[i]
		for _, a := range addrs(u.DeviceName()) {
			uplinkOf[a] = u.Name
		}
	}
	var out []netip.AddrPort
	if len(cfg.Web.Listen) > 0 {
		out = slices.Clone(cfg.Web.Listen)
	} else {
		for _, lan := range cfg.LAN.Interfaces {
			for _, a := range addrs(lan) {
				if a.Is4() {
					out = append(out, netip.AddrPortFrom(a, uint16(cfg.Web.Port)))
				}
			}
		}
		out = append(out, netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), uint16(cfg.Web.Port)))
	}
	for _, ap := range out {
		if name, ok := uplinkOf[ap.Addr().Unmap()]; ok {
			return nil, fmt.Errorf("%s is uplink %s's address: pathpin web never listens on an uplink's side; name a LAN address in web.listen (or leave it out)", ap.Addr(), name)
		}
	}
	return out, nil
}
