package netnstest

import (
	"net"
	"strings"
	"time"
)

// ListenUDP opens a UDP socket on addr in ns, closed when the test ends.
func (ns *NS) ListenUDP(addr string) net.PacketConn {
	ns.t.Helper()
	var pc net.PacketConn
	var err error
	ns.Do(func() { pc, err = net.ListenPacket("udp4", addr) })
	if err != nil {
		ns.t.Fatalf("listening on udp %s in %s: %v", addr, ns.Name, err)
	}
	ns.t.Cleanup(func() { pc.Close() })
	return pc
}

// ServeUDPSource answers every datagram to addr, in ns, with the source
// address it came from, until the test ends.
func (ns *NS) ServeUDPSource(addr string) {
	ns.t.Helper()
	pc := ns.ListenUDP(addr)
	go func() {
		buf := make([]byte, 512)
		for {
			_, from, err := pc.ReadFrom(buf)
			if err != nil {
				return
			}
			host, _, _ := net.SplitHostPort(from.String())
			_, _ = pc.WriteTo([]byte(host+"\n"), from)
		}
	}()
}

// AskUDP sends one datagram from ns (from local, when not "") to a
// ServeUDPSource server, from a new port, and returns the source address
// the server saw.
func (ns *NS) AskUDP(local, addr string, timeout time.Duration) (string, error) {
	var c net.Conn
	var err error
	d := net.Dialer{Timeout: timeout}
	if local != "" {
		d.LocalAddr = &net.UDPAddr{IP: net.ParseIP(local)}
	}
	ns.Do(func() { c, err = d.Dial("udp4", addr) })
	if err != nil {
		return "", err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(timeout))
	if _, err := c.Write([]byte("?")); err != nil {
		return "", err
	}
	buf := make([]byte, 64)
	n, err := c.Read(buf)
	if err != nil {
		return "", err
	}
	return strings.TrimSpace(string(buf[:n])), nil
}
