package dhcp

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sync"
	"syscall"

	"github.com/insomniacslk/dhcp/dhcpv4"
	"github.com/insomniacslk/dhcp/dhcpv4/nclient4"
	"github.com/mdlayher/packet"
	"golang.org/x/net/bpf"
	"golang.org/x/sys/unix"
)

// Ports of DHCPv4 (RFC 2131).
const (
	serverPort = 67
	clientPort = 68
)

// RawConn is the client's conn on a real interface: a packet socket that
// sees only UDP datagrams to port 68 or from port 67 (a kernel filter
// drops everything else before it is copied), sending broadcasts, and a
// UDP socket bound to the leased address and the interface for unicasts,
// so that a renewal reaches a server behind a relay by the uplink's own
// routes. A server's answer is taken whatever port it was sent to (dnsmasq
// answers the port a request came from, which NAT may have rewritten).
type RawConn struct {
	ifname string
	// raw sends from port 68; rx reads whatever the filter passes.
	raw, rx net.PacketConn

	mu  sync.Mutex
	udp net.PacketConn // bound to udpFrom:68 on ifname
	// udpFrom is the address udp is bound to.
	udpFrom netip.Addr
}

// Open opens the conn on the interface; it needs CAP_NET_RAW.
func Open(ifname string) (*RawConn, error) {
	ifc, err := net.InterfaceByName(ifname)
	if err != nil {
		return nil, fmt.Errorf("DHCP on %s: %w", ifname, err)
	}
	filter, err := bpf.Assemble(dhcpToClient)
	if err != nil {
		return nil, err
	}
	pc, err := packet.Listen(ifc, packet.Datagram, unix.ETH_P_IP, &packet.Config{Filter: filter})
	if err != nil {
		return nil, fmt.Errorf("DHCP on %s: opening a packet socket: %w", ifname, err)
	}
	return &RawConn{ifname: ifname, raw: nclient4.NewBroadcastUDPConn(pc, &net.UDPAddr{Port: clientPort}),
		rx: nclient4.NewBroadcastUDPConn(pc, nil)}, nil
}

// dhcpToClient accepts an IPv4 packet (no link header) carrying UDP to
// port 68, or from port 67, in its first fragment.
var dhcpToClient = []bpf.Instruction{
	bpf.LoadAbsolute{Off: 9, Size: 1}, // protocol
	bpf.JumpIf{Cond: bpf.JumpNotEqual, Val: unix.IPPROTO_UDP, SkipTrue: 8},
	bpf.LoadAbsolute{Off: 6, Size: 2}, // flags and fragment offset
	bpf.JumpIf{Cond: bpf.JumpBitsSet, Val: 0x1fff, SkipTrue: 6},
	bpf.LoadMemShift{Off: 0},          // X = header length
	bpf.LoadIndirect{Off: 2, Size: 2}, // destination port
	bpf.JumpIf{Cond: bpf.JumpEqual, Val: clientPort, SkipTrue: 2},
	bpf.LoadIndirect{Off: 0, Size: 2}, // source port
	bpf.JumpIf{Cond: bpf.JumpNotEqual, Val: serverPort, SkipTrue: 1},
	bpf.RetConstant{Val: 0xffff},
	bpf.RetConstant{Val: 0},
}

// Send broadcasts msg, or unicasts it from the leased address.
func (c *RawConn) Send(msg *dhcpv4.DHCPv4, to, from netip.Addr) error {
	b := msg.ToBytes()
	if !to.IsValid() {
		_, err := c.raw.WriteTo(b, &net.UDPAddr{IP: net.IPv4bcast, Port: serverPort})
		return err
	}
	udp, err := c.unicastFrom(from)
	if err != nil {
		return err
	}
	_, err = udp.WriteTo(b, &net.UDPAddr{IP: to.AsSlice(), Port: serverPort})
	return err
}

// unicastFrom returns the UDP socket bound to from:68 on the interface.
func (c *RawConn) unicastFrom(from netip.Addr) (net.PacketConn, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.udp != nil && c.udpFrom == from {
		return c.udp, nil
	}
	if c.udp != nil {
		c.udp.Close()
		c.udp = nil
	}
	lc := net.ListenConfig{Control: func(_, _ string, rc syscall.RawConn) error {
		var serr error
		err := rc.Control(func(fd uintptr) {
			serr = errors.Join(unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_REUSEADDR, 1),
				unix.BindToDevice(int(fd), c.ifname))
		})
		return errors.Join(err, serr)
	}}
	udp, err := lc.ListenPacket(context.Background(), "udp4", netip.AddrPortFrom(from, clientPort).String())
	if err != nil {
		return nil, fmt.Errorf("DHCP on %s: a socket on %s: %w", c.ifname, from, err)
	}
	// What arrives here arrives on the packet socket too: drop it unread.
	go func() {
		buf := make([]byte, 1500)
		for {
			if _, _, err := udp.ReadFrom(buf); err != nil {
				return
			}
		}
	}()
	c.udp, c.udpFrom = udp, from
	return udp, nil
}

// Receive returns the next DHCP message for port 68.
func (c *RawConn) Receive() (*dhcpv4.DHCPv4, error) {
	buf := make([]byte, 1500)
	for {
		n, _, err := c.rx.ReadFrom(buf)
		if err != nil {
			return nil, err
		}
		if msg, err := dhcpv4.FromBytes(buf[:n]); err == nil {
			return msg, nil
		}
	}
}

// Close closes both sockets.
func (c *RawConn) Close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	var err error
	if c.udp != nil {
		err = c.udp.Close()
		c.udp = nil
	}
	return errors.Join(err, c.raw.Close())
}
