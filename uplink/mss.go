package uplink

import (
	"fmt"
	"strconv"

	"github.com/pathpin/pathpin/internal/config"
)

// Ways an uplink's MSS clamp can go, as mssClamp returns them (a value
// above 0 sets that MSS); clampToRoute is nft.Rule.ClampMSS's value for it.
const (
	noClamp       = 0
	clampToRoute  = -1
	tcpIPv4Header = 40 // the IPv4 and TCP headers an MSS leaves out of the MTU
)

// mssClamp says how new TCP connections leaving through st have their MSS
// clamped in the forward chain, and why: above 0 sets that MSS,
// clampToRoute clamps it to the route's MTU, noClamp leaves it alone.
//
// A static uplink with mtu: (a path narrower than its interface) gets
// mtu − 40. Otherwise a clamp is needed only when the uplink's interface is
// narrower than a LAN interface (PPP's 1492, a DHCP lease's option 26): a
// LAN client takes its MSS from its own MTU, the LAN's, so through an
// uplink at least as wide the clamp never lowers it and would only cost
// every forwarded packet a rule. An MTU that is not known keeps the clamp.
func mssClamp(cfg *config.Config, facts *Facts, st Status) (mss int, why string) {
	toRoute := fmt.Sprintf("clamp TCP MSS to %s's path MTU so large packets are not black-holed", st.Name)
	if mtu := st.Uplink.MTU; mtu > 0 && !st.Uplink.IsPPPoE() {
		mss := mtu - tcpIPv4Header
		return mss, fmt.Sprintf("clamp TCP MSS to %d: %s's path MTU is %d (mtu:), smaller than its interface's", mss, st.Name, mtu)
	}
	uplink := facts.Links[st.Device].MTU
	if uplink == 0 {
		return clampToRoute, toRoute
	}
	for _, name := range cfg.LAN.Interfaces {
		if lan := facts.Links[name].MTU; lan == 0 || lan > uplink {
			return clampToRoute, toRoute
		}
	}
	return noClamp, ""
}

// expectMTUs makes facts read each interface's MTU as the apply will leave
// it: a DHCP lease's (option 26), or, where pathpin set one that is no
// longer wanted, the value it found (orig, the settings record).
func expectMTUs(cfg *config.Config, facts *Facts, orig map[string]string) {
	set := func(dev string, mtu int) {
		if l, ok := facts.Links[dev]; ok {
			l.MTU = mtu
			facts.Links[dev] = l
		}
	}
	for key, v := range orig {
		if dev, ok := mtuDevice(key); ok {
			if mtu, err := strconv.Atoi(v); err == nil {
				set(dev, mtu)
			}
		}
	}
	for _, s := range leaseMTUs(cfg, facts) {
		dev, _ := mtuDevice(s.Key)
		mtu, _ := strconv.Atoi(s.Value)
		set(dev, mtu)
	}
}
