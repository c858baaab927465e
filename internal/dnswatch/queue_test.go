package dnswatch

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pathpin/pathpin/internal/netnstest"
	"golang.org/x/net/dns/dnsmessage"
)

// testQueueNum is the queue number the test's firewall rules use (queue
// numbers belong to a network namespace).
const testQueueNum = 4242

// handleDelay is how long the test's handler holds each packet.
const handleDelay = 50 * time.Millisecond

// seen is what the test's handler saw of one packet.
type seen struct {
	pkt    []byte
	answer Answer
	err    error
}

// watcher is the test's handler: it reads each packet, waits
// handleDelay, and only then records it, so that a packet let through
// before the handler returned is caught by its missing record.
type watcher struct {
	mu   sync.Mutex
	seen []seen
}

func (w *watcher) handle(pkt []byte) {
	a, err := ParsePacket(pkt)
	time.Sleep(handleDelay)
	w.mu.Lock()
	w.seen = append(w.seen, seen{pkt: slices.Clone(pkt), answer: a, err: err})
	w.mu.Unlock()
	if err == nil && a.Question == "panic.example" {
		panic("the handler fails on purpose")
	}
}

// find returns the packets seen so far that match.
func (w *watcher) find(match func(seen) bool) []seen {
	w.mu.Lock()
	defer w.mu.Unlock()
	var out []seen
	for _, s := range w.seen {
		if match(s) {
			out = append(out, s)
		}
	}
	return out
}

// reset forgets what the handler has seen.
func (w *watcher) reset() {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.seen = nil
}

func (w *watcher) count() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return len(w.seen)
}

// queueLine is the kernel's line for the test's queue in ns, "" when it
// has none.
func queueLine(ns *netnstest.NS) string {
	for _, l := range strings.Split(ns.Run("cat", "/proc/net/netfilter/nfnetlink_queue"), "\n") {
		if f := strings.Fields(l); len(f) > 0 && f[0] == fmt.Sprint(testQueueNum) {
			return l
		}
	}
	return ""
}

// TestQueue runs a resolver (dnsmasq) and a client in two namespaces
// joined by a veth pair; the client's namespace queues every packet from
// port 53 to testQueueNum, with the bypass flag.
func TestQueue(t *testing.T) {
	netnstest.RequireRoot(t, "iptables", "dnsmasq")
	resolverNS, clientNS := netnstest.New(t), netnstest.New(t)
	netnstest.Veth(t, resolverNS, "res0", clientNS, "cli0")
	resolverNS.Run("ip", "addr", "add", "10.53.0.1/24", "dev", "res0")
	resolverNS.Run("ip", "addr", "add", "10.53.0.3/24", "dev", "res0")
	clientNS.Run("ip", "addr", "add", "10.53.0.2/24", "dev", "cli0")
	startResolver(t, resolverNS, "10.53.0.1")
	server := "10.53.0.1:53"
	for _, proto := range []string{"udp", "tcp"} {
		clientNS.Run("iptables", "-A", "INPUT", "-p", proto, "--sport", "53", "-j", "NFQUEUE",
			"--queue-num", fmt.Sprint(testQueueNum), "--queue-bypass")
	}
	askOK := func(network, name string, id uint16) (exchange, time.Duration) {
		t.Helper()
		start := time.Now()
		e, err := ask(clientNS, network, server, id, name, dnsmessage.TypeA, 5*time.Second)
		if err != nil {
			t.Fatalf("asking for %s over %s: %v", name, network, err)
		}
		return e, time.Since(start)
	}

	// Nothing bound to the queue: the bypass flag lets answers through.
	askOK("udp", "stream.example", 1)

	var logBuf syncBuffer
	var q *Queue
	clientNS.Must(func() (err error) {
		q, err = Open(testQueueNum, slog.New(slog.NewTextHandler(&logBuf, nil)))
		return err
	})
	defer q.Close()
	// The kernel caps the copy range at 65531 (65535 less a netlink
	// attribute's header).
	if l := strings.Fields(queueLine(clientNS)); len(l) < 5 || l[3] != "2" || l[4] != "65531" {
		t.Fatalf("the kernel's queue, want copy mode 2 (packet) and range 65531: %q", l)
	}
	w := &watcher{}
	ctx, cancel := context.WithCancel(context.Background())
	ran := make(chan error, 1)
	go func() { ran <- q.Run(ctx, w.handle) }()
	defer cancel()
	// Until Run reads, the queue passes answers unread: wait until the
	// handler sees one.
	for k, deadline := uint16(0), time.Now().Add(5*time.Second); w.count() == 0; k++ {
		if time.Now().After(deadline) {
			t.Fatal("the handler saw no answer within 5 s of Run")
		}
		askOK("udp", "stream.example", 0x100+k)
	}
	w.reset()

	// (a) The handler has seen each answer before the client gets it.
	for i, c := range []struct{ network, name, question string }{
		{"udp", "stream.example", "stream.example"},
		{"tcp", "www.chain.example", "www.chain.example"},
		{"udp", "StReAm.Example", "stream.example"},
	} {
		id := uint16(0x200 + i)
		e, took := askOK(c.network, c.name, id)
		got := w.find(func(s seen) bool {
			return s.err == nil && s.answer.Question == c.question && bytes.Contains(s.pkt, e.msg)
		})
		if len(got) != 1 {
			t.Fatalf("%s over %s: the client has its answer, but the handler had seen %d packets holding it", c.name, c.network, len(got))
		}
		if took < handleDelay {
			t.Errorf("%s over %s: answered in %v, less than the handler's %v", c.name, c.network, took, handleDelay)
		}
		if len(got[0].answer.Addrs) == 0 {
			t.Errorf("%s: the handler read no addresses", c.name)
		}
	}

	// (c) Garbage from port 53 is passed on unchanged, after the handler
	// has seen it and ParsePacket has refused it.
	garbage := []byte("\x12\x34\x81\x80 not a DNS message \xff\x00\xc0\xc0")
	var listener net.PacketConn
	var err error
	clientNS.Do(func() { listener, err = net.ListenPacket("udp4", "10.53.0.2:0") })
	if err != nil {
		t.Fatal(err)
	}
	defer listener.Close()
	var sender net.PacketConn
	resolverNS.Do(func() { sender, err = net.ListenPacket("udp4", "10.53.0.3:53") })
	if err != nil {
		t.Fatal(err)
	}
	defer sender.Close()
	if _, err := sender.WriteTo(garbage, listener.LocalAddr()); err != nil {
		t.Fatal(err)
	}
	_ = listener.SetReadDeadline(time.Now().Add(5 * time.Second))
	buf := make([]byte, 2048)
	n, from, err := listener.ReadFrom(buf)
	if err != nil {
		t.Fatalf("the garbage did not arrive: %v", err)
	}
	if !bytes.Equal(buf[:n], garbage) || from.String() != "10.53.0.3:53" {
		t.Fatalf("received %q from %v, want %q from 10.53.0.3:53", buf[:n], from, garbage)
	}
	got := w.find(func(s seen) bool { return bytes.HasSuffix(s.pkt, garbage) })
	if len(got) != 1 || got[0].err == nil {
		t.Fatalf("the handler saw the garbage %d times, ParsePacket: %+v", len(got), got)
	}
	if !errors.Is(got[0].err, errMessage) {
		t.Errorf("ParsePacket on the garbage: %v", got[0].err)
	}

	// A handler that panics: the answer still arrives, the panic is
	// logged, and the next answer is handled.
	askOK("udp", "panic.example", 0x300)
	if !strings.Contains(logBuf.String(), "panicked") {
		t.Errorf("the panic was not logged:\n%s", logBuf.String())
	}
	e, _ := askOK("udp", "edge.chain.example", 0x301)
	if len(w.find(func(s seen) bool { return s.err == nil && bytes.Contains(s.pkt, e.msg) })) != 1 {
		t.Fatal("after a panic, the handler did not see the next answer")
	}

	// Run ends with its context, and the handler is not called after.
	cancel()
	select {
	case err := <-ran:
		if err != nil {
			t.Fatalf("Run: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not return after its context ended")
	}
	before := w.count()
	askOK("udp", "stream.example", 0x400)
	if w.count() != before {
		t.Error("the handler was called after Run returned")
	}

	// (b) Closed: the queue is gone and the bypass flag lets answers
	// through again.
	if err := q.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if l := queueLine(clientNS); l != "" {
		t.Fatalf("the kernel still has the queue after Close: %q", l)
	}
	askOK("udp", "stream.example", 0x401)
	askOK("tcp", "stream.example", 0x402)
	if err := q.Run(context.Background(), w.handle); !errors.Is(err, net.ErrClosed) {
		t.Errorf("Run after Close: %v", err)
	}
	if err := q.Close(); err != nil {
		t.Errorf("a second Close: %v", err)
	}
	t.Logf("the queue's log:\n%s", logBuf.String())
}

// TestQueueRunTwice: one Run at a time; Close ends a Run that is going.
func TestQueueRunTwice(t *testing.T) {
	netnstest.RequireRoot(t)
	ns := netnstest.New(t)
	var q *Queue
	ns.Must(func() (err error) { q, err = Open(testQueueNum, nil); return err })
	ran := make(chan error, 1)
	go func() { ran <- q.Run(context.Background(), func([]byte) {}) }()
	deadline := time.Now().Add(5 * time.Second)
	for {
		q.mu.Lock()
		running := q.running
		q.mu.Unlock()
		if running {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("Run did not start")
		}
		time.Sleep(time.Millisecond)
	}
	if err := q.Run(context.Background(), func([]byte) {}); err == nil {
		t.Fatal("a second Run at once did not fail")
	}
	if err := q.Close(); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-ran:
		if !errors.Is(err, net.ErrClosed) {
			t.Fatalf("Run ended by Close: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Close did not end Run")
	}
}

// syncBuffer is a bytes.Buffer that a logger may write while the test
// reads it.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
