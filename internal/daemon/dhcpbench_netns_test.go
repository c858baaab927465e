package daemon

import (
	"encoding/binary"
	"errors"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/insomniacslk/dhcp/dhcpv4"
	"github.com/mdlayher/packet"
	"github.com/pathpin/pathpin/internal/netnstest"
	"github.com/pathpin/pathpin/internal/stats"
	"golang.org/x/sys/unix"
)

// dhcpWire records when DHCP messages cross an interface, as a packet
// socket on it sees them (both directions).
type dhcpWire struct {
	mu   sync.Mutex
	seen []wireMsg
}

type wireMsg struct {
	at  time.Time
	typ dhcpv4.MessageType
}

func watchDHCP(tb testing.TB, ns *netnstest.NS, ifname string) *dhcpWire {
	w := &dhcpWire{}
	var conn *packet.Conn
	var err error
	ns.Do(func() {
		var ifc *net.Interface
		if ifc, err = net.InterfaceByName(ifname); err == nil {
			// Every protocol: only such a socket sees what the host sends.
			conn, err = packet.Listen(ifc, packet.Datagram, unix.ETH_P_ALL, nil)
		}
	})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { conn.Close() })
	go func() {
		buf := make([]byte, 2048)
		for {
			n, _, err := conn.ReadFrom(buf)
			if errors.Is(err, net.ErrClosed) {
				return
			}
			if err != nil {
				// The interface went down (ENETDOWN): read on.
				continue
			}
			at := time.Now()
			p := buf[:n]
			if n < 28 || p[0]>>4 != 4 || p[9] != unix.IPPROTO_UDP {
				continue
			}
			ihl := int(p[0]&0xf) * 4
			if n < ihl+8 {
				continue
			}
			sport, dport := binary.BigEndian.Uint16(p[ihl:]), binary.BigEndian.Uint16(p[ihl+2:])
			if sport != 67 && sport != 68 || dport != 67 && dport != 68 {
				continue
			}
			msg, err := dhcpv4.FromBytes(p[ihl+8:])
			if err != nil {
				continue
			}
			w.mu.Lock()
			w.seen = append(w.seen, wireMsg{at, msg.MessageType()})
			w.mu.Unlock()
		}
	}()
	return w
}

// exchange is the time from the first from message after t0 to the first
// to message after it: the server's part, on the wire.
func (w *dhcpWire) exchange(t0 time.Time, from, to dhcpv4.MessageType) (time.Duration, bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	var start time.Time
	for _, m := range w.seen {
		switch {
		case m.at.Before(t0):
		case start.IsZero() && m.typ == from:
			start = m.at
		case !start.IsZero() && m.typ == to:
			return m.at.Sub(start), true
		}
	}
	return 0, false
}

// BenchmarkDHCPLinkUp: the DHCP uplink's link comes up (ISP A's side of
// the cable, set up in process), and the time until new connections
// leave by it (ispb is on standby, so they all do once it carries), next
// to the server's own part of it, measured on the wire in the same run:
//   - first lease: the daemon has no lease, the link was down at start:
//     DISCOVER, OFFER, REQUEST, ACK; the floor is DISCOVER → ACK;
//   - link back with a lease: INIT-REBOOT (REQUEST, ACK); the floor is
//     REQUEST → ACK. The uplink takes no new connections until the
//     server has confirmed the lease.
func BenchmarkDHCPLinkUp(b *testing.B) {
	l, _ := newDHCPLab(b, 0, 0, 0)
	wire := watchDHCP(b, l.ISPs[0], "cpe")
	leased := ""
	var first, firstFloor, back, backFloor []time.Duration
	const rounds = 8
	for i := 0; i < b.N; i++ {
		for r := -1; r < rounds; r++ {
			setLink(l.ISPs[0], "cpe", false)
			l.start()
			for u := l.waitState("ispa", "down", 10*time.Second); u.Lease == nil || u.Lease.State != "selecting"; u = l.state("ispa") {
				time.Sleep(5 * time.Millisecond)
			}
			t0 := time.Now()
			setLink(l.ISPs[0], "cpe", true)
			if r < 0 {
				// A first round, unmeasured, learns the address the server
				// gives this client.
				leased = l.waitState("ispa", "up", 15*time.Second).Local
			} else {
				d, err := firstSwitched(l, t0, leased, 15*time.Second)
				fl, ok := wire.exchange(t0, dhcpv4.MessageTypeDiscover, dhcpv4.MessageTypeAck)
				if err != nil || !ok {
					b.Fatalf("first lease: %v (server's exchange seen: %v)\n%s", err, ok, l.logText())
				}
				first, firstFloor = append(first, d), append(firstFloor, fl)
			}
			l.waitState("ispa", "up", 15*time.Second)
			offset := len(l.logText())
			setLink(l.ISPs[0], "cpe", false)
			l.waitState("ispa", "down", 5*time.Second)
			// The daemon settles first: the link comes back to a quiet
			// router, not in the middle of handling its loss.
			l.waitFlushes(offset, 2, 5*time.Second)
			t0 = time.Now()
			setLink(l.ISPs[0], "cpe", true)
			d, err := firstSwitched(l, t0, leased, 15*time.Second)
			fl, ok := wire.exchange(t0, dhcpv4.MessageTypeRequest, dhcpv4.MessageTypeAck)
			if err != nil || !ok {
				b.Fatalf("link back: %v (server's exchange seen: %v) %v\n%s", err, ok, wire.seen, l.logText())
			}
			if r >= 0 {
				back, backFloor = append(back, d), append(backFloor, fl)
			}
			l.stop()
		}
	}
	med := stats.Median
	b.ReportMetric(stats.Ms(med(first)), "first-lease-ms")
	b.ReportMetric(stats.Ms(med(firstFloor)), "discover-ack-ms")
	b.ReportMetric(stats.Ms(med(back)), "link-back-ms")
	b.ReportMetric(stats.Ms(med(backFloor)), "request-ack-ms")
	b.Logf("link up → the DHCP uplink carrying new connections, median of %d: first lease %s (server DISCOVER→ACK on the wire %s, %.1f×); link back with a lease %s (server REQUEST→ACK %s, %.1f×)",
		rounds, med(first), med(firstFloor), stats.Ratio(med(first), med(firstFloor)), med(back), med(backFloor), stats.Ratio(med(back), med(backFloor)))
}
