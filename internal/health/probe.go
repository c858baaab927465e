package health

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// Path is how a probe leaves: by the uplink's interface, from its address,
// with its mark (so pathpin's own rules route it by that uplink).
type Path struct {
	Device string
	Source netip.Addr
	Mark   uint32
}

// control binds a socket to the path.
func (p Path) control(_, _ string, c syscall.RawConn) error {
	var serr error
	err := c.Control(func(fd uintptr) {
		if p.Mark != 0 {
			if serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_MARK, int(p.Mark)); serr != nil {
				return
			}
		}
		if p.Device != "" {
			serr = unix.SetsockoptString(int(fd), unix.SOL_SOCKET, unix.SO_BINDTODEVICE, p.Device)
		}
	})
	if err != nil {
		return err
	}
	return serr
}

// Dialer returns a dialer whose sockets leave by the path, as the probes'
// do: bound to its device and source address, with its mark. network is
// the one the caller dials ("tcp4" or "udp4"): it sets the kind of local
// address. Other packages that must reach something through one uplink
// (its public address, say) use it.
func (p Path) Dialer(network string) *net.Dialer {
	d := &net.Dialer{Control: p.control}
	if p.Source.IsValid() {
		if strings.HasPrefix(network, "udp") {
			d.LocalAddr = &net.UDPAddr{IP: p.Source.AsSlice()}
		} else {
			d.LocalAddr = &net.TCPAddr{IP: p.Source.AsSlice()}
		}
	}
	return d
}

// Prober sends one probe to target and returns its round-trip time.
type Prober interface {
	Probe(ctx context.Context, path Path, target netip.Addr) (time.Duration, error)
}

// ICMP probes with an echo request on a raw socket.
type ICMP struct{}

// Probe sends one echo request and waits for its reply until ctx ends.
func (ICMP) Probe(ctx context.Context, path Path, target netip.Addr) (time.Duration, error) {
	lc := net.ListenConfig{Control: path.control}
	src := ""
	if path.Source.IsValid() {
		src = path.Source.String()
	}
	c, err := lc.ListenPacket(ctx, "ip4:icmp", src)
	if err != nil {
		return 0, fmt.Errorf("opening an ICMP socket on %s: %w", path.Device, err)
	}
	defer c.Close()
	if dl, ok := ctx.Deadline(); ok {
		_ = c.SetDeadline(dl)
	}
	// A context that ends before its deadline (a reload, shutdown) ends
	// the wait for the reply at once.
	stop := context.AfterFunc(ctx, func() { _ = c.SetDeadline(time.Now()) })
	defer stop()
	var idb [4]byte
	_, _ = rand.Read(idb[:])
	id, seq := binary.BigEndian.Uint16(idb[:2]), binary.BigEndian.Uint16(idb[2:])
	msg := []byte{8, 0, 0, 0, idb[0], idb[1], idb[2], idb[3], 'p', 'a', 't', 'h', 'p', 'i', 'n', 0}
	binary.BigEndian.PutUint16(msg[2:], checksum(msg))
	start := time.Now()
	if _, err := c.WriteTo(msg, &net.IPAddr{IP: target.AsSlice()}); err != nil {
		return 0, fmt.Errorf("sending echo to %s: %w", target, err)
	}
	buf := make([]byte, 1500)
	for {
		n, from, err := c.ReadFrom(buf)
		if err != nil {
			return 0, fmt.Errorf("no echo reply from %s: %w", target, err)
		}
		b := buf[:n]
		// Raw IPv4 sockets deliver the IP header too.
		if n > 20 && b[0]>>4 == 4 {
			b = b[int(b[0]&0x0f)*4:]
		}
		ip, _ := from.(*net.IPAddr)
		if len(b) >= 8 && b[0] == 0 && ip != nil && ip.IP.Equal(target.AsSlice()) &&
			binary.BigEndian.Uint16(b[4:]) == id && binary.BigEndian.Uint16(b[6:]) == seq {
			return time.Since(start), nil
		}
	}
}

func checksum(b []byte) uint16 {
	var sum uint32
	for i := 0; i+1 < len(b); i += 2 {
		sum += uint32(b[i])<<8 | uint32(b[i+1])
	}
	if len(b)%2 == 1 {
		sum += uint32(b[len(b)-1]) << 8
	}
	for sum>>16 != 0 {
		sum = sum&0xffff + sum>>16
	}
	return ^uint16(sum)
}

// TCP probes by connecting to Port; a refused connection proves the path
// works too, since the refusal came back through it.
type TCP struct{ Port int }

// Probe connects and closes at once.
func (t TCP) Probe(ctx context.Context, path Path, target netip.Addr) (time.Duration, error) {
	d := net.Dialer{Control: path.control}
	if path.Source.IsValid() {
		d.LocalAddr = &net.TCPAddr{IP: path.Source.AsSlice()}
	}
	start := time.Now()
	c, err := d.DialContext(ctx, "tcp4", netip.AddrPortFrom(target, uint16(t.Port)).String())
	if err == nil {
		c.Close()
		return time.Since(start), nil
	}
	if errors.Is(err, syscall.ECONNREFUSED) {
		return time.Since(start), nil
	}
	return 0, fmt.Errorf("no TCP answer from %s:%d: %w", target, t.Port, err)
}

// Round is one probe round through one uplink.
type Round struct {
	OK       bool
	Answered int
	RTT      time.Duration // mean over the answers
	Detail   string        // what failed, for logs and status
	// Silent are the targets that did not answer.
	Silent []netip.Addr
	// Targets is how many targets the round probed.
	Targets int
}

// ProbeAll probes every target concurrently within timeout; the round
// passes when at least min targets answer. enough, when not nil, is
// closed as soon as min targets have answered (the round still waits for
// the others, to know which are silent).
func ProbeAll(ctx context.Context, p Prober, path Path, targets []netip.Addr, timeout time.Duration, min int, enough chan<- struct{}) Round {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var mu sync.Mutex
	var wg sync.WaitGroup
	r := Round{Targets: len(targets)}
	var total time.Duration
	for _, t := range targets {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rtt, err := p.Probe(ctx, path, t)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				r.Silent = append(r.Silent, t)
				return
			}
			r.Answered++
			total += rtt
			if r.Answered == min && enough != nil {
				close(enough)
			}
		}()
	}
	wg.Wait()
	if r.Answered > 0 {
		r.RTT = total / time.Duration(r.Answered)
	}
	r.OK = r.Answered >= min
	slices.SortFunc(r.Silent, netip.Addr.Compare)
	if len(r.Silent) > 0 {
		r.Detail = SilentDetail(r.Silent, len(targets), 0)
	}
	return r
}

// SilentDetail says which of n targets were silent, and for how long when
// that is known (above 0).
func SilentDetail(silent []netip.Addr, n int, silentFor time.Duration) string {
	names := make([]string, len(silent))
	for i, a := range silent {
		names[i] = a.String()
	}
	d := ""
	if silentFor > 0 {
		d = fmt.Sprintf(" for %.1f s", silentFor.Seconds())
	}
	return fmt.Sprintf("%d of %d targets silent%s (%s)", len(silent), n, d, strings.Join(names, ", "))
}
