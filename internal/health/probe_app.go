package health

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/binary"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"time"

	"golang.org/x/net/dns/dnsmessage"
)

// DNS probes by asking a resolver (the target) for Name's A records over
// UDP; any well-formed answer to the query counts, an NXDOMAIN too: the
// resolver is reachable through the uplink.
type DNS struct{ Name string }

// Probe sends one query and waits for its answer until ctx ends.
func (p DNS) Probe(ctx context.Context, path Path, target netip.Addr) (time.Duration, error) {
	name, err := dnsmessage.NewName(p.Name + ".")
	if err != nil {
		return 0, fmt.Errorf("probe name %q: %w", p.Name, err)
	}
	var idb [2]byte
	_, _ = rand.Read(idb[:])
	id := binary.BigEndian.Uint16(idb[:])
	q := dnsmessage.NewBuilder(nil, dnsmessage.Header{ID: id, RecursionDesired: true})
	_ = q.StartQuestions()
	_ = q.Question(dnsmessage.Question{Name: name, Type: dnsmessage.TypeA, Class: dnsmessage.ClassINET})
	msg, err := q.Finish()
	if err != nil {
		return 0, err
	}
	d := net.Dialer{Control: path.control}
	if path.Source.IsValid() {
		d.LocalAddr = &net.UDPAddr{IP: path.Source.AsSlice()}
	}
	c, err := d.DialContext(ctx, "udp4", netip.AddrPortFrom(target, 53).String())
	if err != nil {
		return 0, fmt.Errorf("opening a DNS socket to %s: %w", target, err)
	}
	defer c.Close()
	if dl, ok := ctx.Deadline(); ok {
		_ = c.SetDeadline(dl)
	}
	stop := context.AfterFunc(ctx, func() { _ = c.SetDeadline(time.Now()) })
	defer stop()
	start := time.Now()
	if _, err := c.Write(msg); err != nil {
		return 0, fmt.Errorf("asking %s: %w", target, err)
	}
	buf := make([]byte, 1500)
	for {
		n, err := c.Read(buf)
		if err != nil {
			return 0, fmt.Errorf("no DNS answer from %s: %w", target, err)
		}
		var p dnsmessage.Parser
		if h, err := p.Start(buf[:n]); err == nil && h.ID == id && h.Response {
			return time.Since(start), nil
		}
	}
}

// HTTP probes with a GET of Path on Port, expecting Status: an answer
// with another status (a captive portal's redirect) is a miss.
type HTTP struct {
	Port   int
	Path   string
	Status int
}

// Probe sends one request on a new connection and reads the status line.
func (p HTTP) Probe(ctx context.Context, path Path, target netip.Addr) (time.Duration, error) {
	d := net.Dialer{Control: path.control}
	if path.Source.IsValid() {
		d.LocalAddr = &net.TCPAddr{IP: path.Source.AsSlice()}
	}
	addr := netip.AddrPortFrom(target, uint16(p.Port)).String()
	start := time.Now()
	c, err := d.DialContext(ctx, "tcp4", addr)
	if err != nil {
		return 0, fmt.Errorf("no HTTP connection to %s: %w", addr, err)
	}
	defer c.Close()
	if dl, ok := ctx.Deadline(); ok {
		_ = c.SetDeadline(dl)
	}
	stop := context.AfterFunc(ctx, func() { _ = c.SetDeadline(time.Now()) })
	defer stop()
	if _, err := fmt.Fprintf(c, "GET %s HTTP/1.1\r\nHost: %s\r\nUser-Agent: pathpin-probe\r\nConnection: close\r\n\r\n", p.Path, target); err != nil {
		return 0, fmt.Errorf("asking %s: %w", addr, err)
	}
	// Only the status line is read, at most a kilobyte of it.
	resp, err := http.ReadResponse(bufio.NewReaderSize(&limited{c, 4096}, 1024), nil)
	if err != nil {
		return 0, fmt.Errorf("no HTTP answer from %s: %w", addr, err)
	}
	resp.Body.Close()
	if resp.StatusCode != p.Status {
		return 0, fmt.Errorf("HTTP %s%s answered %d, not %d", addr, p.Path, resp.StatusCode, p.Status)
	}
	return time.Since(start), nil
}

// limited reads at most n bytes: an answer is untrusted input.
type limited struct {
	c net.Conn
	n int
}

func (l *limited) Read(b []byte) (int, error) {
	if l.n <= 0 {
		return 0, fmt.Errorf("the HTTP answer's head is too long")
	}
	if len(b) > l.n {
		b = b[:l.n]
	}
	n, err := l.c.Read(b)
	l.n -= n
	return n, err
}
