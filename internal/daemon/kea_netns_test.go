package daemon

import (
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/pathpin/pathpin/internal/netnstest"
)

// newKeaLab is the two-ISP lab with ISP A's router handing out addresses
// with ISC Kea, which answers a renewal by unicast, and a capture of the
// DHCP messages on ISP A's side of the link.
func newKeaLab(t *testing.T, k netnstest.KeaServer) (*failoverLab, *netnstest.Capture) {
	netnstest.RequireRoot(t, "kea-dhcp4", "tcpdump")
	l := prepareLab(t, 1, 1, "")
	l.Router.Run("ip", "addr", "flush", "dev", "wan0")
	capture := l.ISPs[0].StartCapture("cpe", "udp port 67 or udp port 68")
	k.Interface, k.Subnet, k.Pool, k.Router = "cpe", "192.168.1.0/24", "192.168.1.10 - 192.168.1.20", "192.168.1.254"
	l.ISPs[0].StartKea(k)
	// The router closed to the uplinks' side: DHCP (untracked) still works.
	cfg := dhcpAndStatic("192.168.2.254", "protect:\n  router: true\n")
	if err := os.WriteFile(l.cfg, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	return l, capture
}

// waitPacket waits until the capture holds a DHCP message that ok takes,
// and returns it.
func waitPacket(t *testing.T, c *netnstest.Capture, limit time.Duration, what string, ok func(netnstest.DHCPPacket) bool) netnstest.DHCPPacket {
	t.Helper()
	deadline := time.Now().Add(limit)
	for {
		for _, p := range c.DHCP() {
			if ok(p) {
				return p
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no %s in %s; the capture: %+v", what, limit, c.DHCP())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestDHCPAgainstKea: with protect.router on, against a server that
// unicasts its answers, the
// client asks for broadcast answers until it has its address; its renewal
// at T1 goes unicast from the lease's address, port 68, to the server
// identifier, and the server's answer is taken before T2; the RELEASE
// leaves from port 68 too. Asserted from a capture at the server.
func TestDHCPAgainstKea(t *testing.T) {
	const t1, t2 = 4, 12
	l, capture := newKeaLab(t, netnstest.KeaServer{Lifetime: 30, T1: t1, T2: t2})
	l.start()
	u := l.waitState("ispa", "up", 15*time.Second)
	leased, server := u.Local, "192.168.1.254"
	if u.Lease == nil || u.Lease.T1.Sub(u.Lease.Obtained) != t1*time.Second {
		t.Fatalf("ispa's lease: %+v", u.Lease)
	}
	for _, p := range capture.DHCP() {
		if p.Type == "Discover" && p.SrcPort != 68 {
			t.Errorf("a DISCOVER from port %d", p.SrcPort)
		}
	}
	obtained := u.Lease.Obtained
	renewal := waitPacket(t, capture, (t1+4)*time.Second, "unicast renewal", func(p netnstest.DHCPPacket) bool {
		return p.Type == "Request" && p.Src == leased+".68" && p.Dst == server+".67"
	})
	if renewal.ClientIP != leased {
		t.Errorf("the renewal names client address %q, want %s", renewal.ClientIP, leased)
	}
	ack := waitPacket(t, capture, 5*time.Second, "unicast ACK of the renewal", func(p netnstest.DHCPPacket) bool {
		return p.Type == "ACK" && p.Src == server+".67" && p.Dst == leased+".68" && !p.At.Before(renewal.At)
	})
	if ack.At.After(obtained.Add(t2 * time.Second)) {
		t.Fatalf("the renewal was answered at %v, after T2 (%v)", ack.At, obtained.Add(t2*time.Second))
	}
	// The client took the answer: the lease is bound again, renewed by it
	// (a rebinding would broadcast instead).
	deadline := time.Now().Add(5 * time.Second)
	for u = l.state("ispa"); u.Lease == nil || !u.Lease.Obtained.After(obtained) || u.Lease.State != "bound"; u = l.state("ispa") {
		if time.Now().After(deadline) {
			t.Fatalf("the renewal's ACK was not taken: %+v\n%s", u.Lease, l.logText())
		}
		time.Sleep(50 * time.Millisecond)
	}
	for _, p := range capture.DHCP() {
		if p.Type == "Request" && p.Dst == "255.255.255.255.67" && p.At.After(renewal.At) && p.At.Before(ack.At.Add(time.Second)) {
			t.Errorf("the client rebound (broadcast) although the server answered its renewal: %+v", p)
		}
	}
	l.stop()
	release := waitPacket(t, capture, 5*time.Second, "RELEASE", func(p netnstest.DHCPPacket) bool { return p.Type == "Release" })
	if release.Src != leased+".68" || release.Dst != server+".67" {
		t.Fatalf("the RELEASE went %s > %s, want %s.68 > %s.67", release.Src, release.Dst, leased, server)
	}
}

// TestDHCPInfiniteLeaseFromKea: a lease of 0xffffffff seconds is never
// renewed, and status shows no renewal or rebinding time.
func TestDHCPInfiniteLeaseFromKea(t *testing.T) {
	l, capture := newKeaLab(t, netnstest.KeaServer{Lifetime: 0xffffffff})
	l.start()
	u := l.waitState("ispa", "up", 15*time.Second)
	if u.Lease == nil || !u.Lease.T1.IsZero() || !u.Lease.T2.IsZero() || !u.Lease.Expiry.IsZero() {
		t.Fatalf("an infinite lease shows times: %+v", u.Lease)
	}
	out, err := l.Router.Command(l.bin, "status", "-c", l.cfg, "--state-dir", l.runDir).CombinedOutput()
	if err != nil || strings.Contains(string(out), "renews in") {
		t.Fatalf("status of an infinite lease: %v\n%s", err, out)
	}
	if n := len(capture.DHCP()); n > 4 {
		t.Errorf("%d DHCP messages for one infinite lease: %s", n, fmt.Sprint(capture.DHCP()))
	}
}
