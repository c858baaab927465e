package pppoe

import (
	"errors"
	"fmt"
	"net"
	"os"

	"github.com/mdlayher/packet"
)

// Listen opens a raw AF_PACKET socket for PPPoE discovery frames on the
// named interface and returns it with the interface's MAC address. It
// fails with an error that says what to fix when the interface is missing
// or down, or when the caller may not open packet sockets.
func Listen(ifname string) (*packet.Conn, net.HardwareAddr, error) {
	ifi, err := net.InterfaceByName(ifname)
	if err != nil {
		return nil, nil, fmt.Errorf("pppoe: interface %s does not exist (check the name with `ip link`): %w", ifname, err)
	}
	if ifi.Flags&net.FlagUp == 0 {
		return nil, nil, fmt.Errorf("pppoe: interface %s is down; bring it up first (ip link set %s up)", ifname, ifname)
	}
	if ifi.Flags&net.FlagRunning == 0 {
		return nil, nil, fmt.Errorf("pppoe: interface %s has no carrier; check the cable to the modem/bridge and that it is powered", ifname)
	}
	if len(ifi.HardwareAddr) != 6 {
		return nil, nil, fmt.Errorf("pppoe: interface %s has no Ethernet address; PPPoE needs an Ethernet interface", ifname)
	}
	conn, err := packet.Listen(ifi, packet.Raw, int(EtherTypeDiscovery), nil)
	if err != nil {
		if errors.Is(err, os.ErrPermission) {
			return nil, nil, fmt.Errorf("pppoe: opening a packet socket on %s is not permitted; run as root or grant CAP_NET_RAW: %w", ifname, err)
		}
		return nil, nil, fmt.Errorf("pppoe: opening a packet socket on %s: %w", ifname, err)
	}
	return conn, ifi.HardwareAddr, nil
}
