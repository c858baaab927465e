package netnstest

import (
	"fmt"
	"testing"
)

// ServerAddr is the address of the server behind every ISP in a TwoISP
// lab; it answers on ServerAddr:80 with the source address it sees.
const ServerAddr = "203.0.113.10"

// TwoISP is the engine's test topology:
//
//	client (10.0.0.2) ── lan0 router ── wan0 (192.168.1.2) ── ispA (.254) ──┐
//	                                 └─ wan1 (192.168.2.2) ── ispB (.254) ──┴─ server 203.0.113.10
//
// The ISPs route without NAT, so the server sees the router's uplink
// address: 192.168.1.2 through ispA, 192.168.2.2 through ispB. The
// router's main table has a default route via ispA, as a host usually has.
type TwoISP struct {
	Client, Router, Server *NS
	ISPs                   []*NS
	// UplinkAddrs are the router's addresses towards each ISP, in order.
	UplinkAddrs []string
	// Gateways are the ISP routers' addresses, in order.
	Gateways []string
}

// NewTwoISP builds the topology and starts the source-address server.
func NewTwoISP(t testing.TB) *TwoISP { return newTwoISP(t, false) }

// NewTwoISPSameSubnet is the topology with both ISP routers on
// 192.168.1.0/24 at .254, as two ISP hubs with their defaults are: the
// router is 192.168.1.2 on wan0 and 192.168.1.3 on wan1.
func NewTwoISPSameSubnet(t testing.TB) *TwoISP { return newTwoISP(t, true) }

func newTwoISP(t testing.TB, sameSubnet bool) *TwoISP {
	t.Helper()
	RequireRoot(t)
	l := &TwoISP{Client: New(t), Router: New(t), Server: New(t)}
	Veth(t, l.Client, "lan0", l.Router, "lan0")
	l.Client.Run("ip", "addr", "add", "10.0.0.2/24", "dev", "lan0")
	l.Client.Run("ip", "route", "add", "default", "via", "10.0.0.1")
	l.Router.Run("ip", "addr", "add", "10.0.0.1/24", "dev", "lan0")
	l.Server.Run("ip", "addr", "add", ServerAddr+"/32", "dev", "lo")
	for i := 0; i < 2; i++ {
		isp := New(t)
		l.ISPs = append(l.ISPs, isp)
		wan := fmt.Sprintf("wan%d", i)
		Veth(t, l.Router, wan, isp, "cpe")
		addr, gw, subnet := fmt.Sprintf("192.168.%d.2", i+1), fmt.Sprintf("192.168.%d.254", i+1), fmt.Sprintf("192.168.%d.0/24", i+1)
		if sameSubnet {
			addr, gw, subnet = fmt.Sprintf("192.168.1.%d", i+2), "192.168.1.254", fmt.Sprintf("192.168.1.%d/32", i+2)
		}
		l.UplinkAddrs = append(l.UplinkAddrs, addr)
		l.Gateways = append(l.Gateways, gw)
		l.Router.Run("ip", "addr", "add", addr+"/24", "dev", wan)
		isp.Run("ip", "addr", "add", gw+"/24", "dev", "cpe")
		core := fmt.Sprintf("core%d", i)
		Veth(t, isp, "core", l.Server, core)
		isp.Run("ip", "addr", "add", fmt.Sprintf("172.16.%d.1/30", i+1), "dev", "core")
		l.Server.Run("ip", "addr", "add", fmt.Sprintf("172.16.%d.2/30", i+1), "dev", core)
		isp.Run("ip", "route", "add", ServerAddr+"/32", "via", fmt.Sprintf("172.16.%d.2", i+1))
		isp.Run("sysctl", "-qw", "net.ipv4.ip_forward=1")
		l.Server.Run("ip", "route", "add", subnet, "via", fmt.Sprintf("172.16.%d.1", i+1))
	}
	l.Router.Run("ip", "route", "add", "default", "via", "192.168.1.254", "dev", "wan0")
	ServeSourceAddress(l.Server.Listen(ServerAddr + ":80"))
	return l
}

// Config returns a pathpin configuration for the router with the given
// weights for ispA and ispB.
func (l *TwoISP) Config(weightA, weightB int, extra string) string {
	return fmt.Sprintf(`lan:
  interfaces: [lan0]
uplinks:
  - name: ispa
    interface: wan0
    gateway: %s
    weight: %d
  - name: ispb
    interface: wan1
    gateway: %s
    weight: %d
%s`, l.Gateways[0], weightA, l.Gateways[1], weightB, extra)
}
