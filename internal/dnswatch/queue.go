package dnswatch

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"runtime/debug"
	"sync"
	"time"

	nfqueue "github.com/florianl/go-nfqueue/v2"
	"golang.org/x/sys/unix"
)

// The queue's settings.
const (
	// queueLen is how many packets the kernel holds for the queue at
	// once; with the fail-open flag it accepts further ones unseen.
	queueLen = 1024
	// copyLen is how much of each packet the kernel is asked to copy
	// over: all of it, as an IPv4 packet is never longer. The kernel
	// copies at most 65531 bytes (65535 less a netlink attribute's
	// header); ParsePacket refuses a packet cut short that way.
	copyLen = 65535
	// verdictTimeout bounds the wait to hand a verdict to the kernel.
	verdictTimeout = time.Second
	// logEvery is the most often one kind of failure is logged.
	logEvery = 10 * time.Second
	// errorPause is the wait after an unexpected read error, so that a
	// socket that keeps failing cannot spin a core.
	errorPause = 10 * time.Millisecond
)

// Queue holds the DNS responses that the firewall queues to one nfqueue
// number until the function given to Run has seen them, then accepts
// each unchanged: it never drops, changes or marks a packet.
type Queue struct {
	num    uint16
	log    *slog.Logger
	nf     *nfqueue.Nfqueue
	stop   context.CancelFunc // ends the reading goroutine
	closed chan struct{}      // closed by Close
	once   sync.Once
	err    error // Close's result

	// mu is held while handle runs, so that Run can wait for the call
	// under way before it returns.
	mu      sync.Mutex
	handle  func(pkt []byte)
	running bool

	readErrs, overruns, verdictErrs, panics, libErrs limitedLog
}

// Open binds nfqueue number num in the calling thread's network
// namespace, for IPv4, with each packet copied whole, at most 1,024
// packets held at once, and the fail-open flag set, so that the kernel
// accepts what does not fit rather than dropping it. From Open to Close,
// every packet queued to num is accepted: while Run is going, after its
// handler has seen it; otherwise at once.
func Open(num uint16, log *slog.Logger) (*Queue, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	q := &Queue{num: num, log: log.With("nfqueue", num), closed: make(chan struct{})}
	for _, l := range []*limitedLog{&q.readErrs, &q.overruns, &q.verdictErrs, &q.panics, &q.libErrs} {
		l.every = logEvery
	}
	nf, err := nfqueue.Open(&nfqueue.Config{
		NfQueue:      num,
		MaxQueueLen:  queueLen,
		MaxPacketLen: copyLen,
		Copymode:     nfqueue.NfQnlCopyPacket,
		Flags:        nfqueue.NfQaCfgFlagFailOpen,
		AfFamily:     unix.AF_INET,
		WriteTimeout: verdictTimeout,
		Logger:       libLog{q},
	})
	if err != nil {
		return nil, fmt.Errorf("dnswatch: opening nfqueue %d: %w", num, err)
	}
	q.nf = nf
	ctx, stop := context.WithCancel(context.Background())
	q.stop = stop
	if err := nf.RegisterWithErrorFunc(ctx, q.packet, q.readError); err != nil {
		_ = q.Close()
		return nil, fmt.Errorf("dnswatch: binding nfqueue %d: %w", num, err)
	}
	return q, nil
}

// Run calls handle for each packet queued until ctx ends, then accepts
// the packet unchanged. handle gets the packet from its IPv4 header on;
// it must not keep pkt after it returns, nor call Close. handle is called
// from one goroutine, one packet at a time, in the order the kernel
// queued them; a panic in it is recovered and logged, and the packet is
// accepted all the same. Every response waits for handle, so it must be
// quick: while the queue is full, the kernel passes further packets on
// unseen.
//
// Run returns nil when ctx ends, after the call to handle under way has
// returned; it fails when the queue is closed, or when another Run is
// going.
func (q *Queue) Run(ctx context.Context, handle func(pkt []byte)) error {
	if handle == nil {
		return errors.New("dnswatch: Run needs a handler")
	}
	q.mu.Lock()
	switch {
	case q.isClosed():
		q.mu.Unlock()
		return fmt.Errorf("dnswatch: nfqueue %d: %w", q.num, net.ErrClosed)
	case q.running:
		q.mu.Unlock()
		return fmt.Errorf("dnswatch: nfqueue %d is already being read", q.num)
	}
	q.handle, q.running = handle, true
	q.mu.Unlock()

	var err error
	select {
	case <-ctx.Done():
	case <-q.closed:
		err = fmt.Errorf("dnswatch: nfqueue %d: %w", q.num, net.ErrClosed)
	}
	q.mu.Lock()
	q.handle, q.running = nil, false
	q.mu.Unlock()
	return err
}

// Close releases the queue: from then on the kernel passes the packets
// queued to its number on by itself (the firewall rule's bypass flag).
// The kernel drops the few it had handed over and not yet been given a
// verdict for (their senders ask again). Close waits for the call to a
// handler under way; calling it again does nothing.
func (q *Queue) Close() error {
	q.once.Do(func() {
		close(q.closed)
		q.stop()
		if err := q.nf.Close(); err != nil {
			q.err = fmt.Errorf("dnswatch: closing nfqueue %d: %w", q.num, err)
		}
	})
	return q.err
}

func (q *Queue) isClosed() bool {
	select {
	case <-q.closed:
		return true
	default:
		return false
	}
}

// packet takes one packet from the kernel: the handler sees it, then the
// kernel is told to accept it.
func (q *Queue) packet(a nfqueue.Attribute) int {
	if a.PacketID == nil {
		q.libErrs.warn(q.log, "a queued packet came without its id; it cannot be given a verdict")
		return 0
	}
	if a.Payload != nil {
		q.see(*a.Payload)
	}
	if err := q.nf.SetVerdict(*a.PacketID, nfqueue.NfAccept); err != nil {
		q.verdictErrs.warn(q.log, "accepting a queued DNS response", "err", err)
	}
	return 0
}

// see calls the handler, if Run is going, with pkt.
func (q *Queue) see(pkt []byte) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.handle == nil {
		return
	}
	defer func() {
		r := recover()
		if r == nil {
			return
		}
		if ok, held := q.panics.allow(); ok {
			args := []any{"panic", fmt.Sprint(r), "stack", string(debug.Stack())}
			if held > 0 {
				args = append(args, "suppressed", held)
			}
			q.log.Warn("reading a DNS response panicked; it was accepted", args...)
		}
	}()
	q.handle(pkt)
}

// readError decides what the reading goroutine does after a failed read:
// stop once the queue is closed, and otherwise go on.
func (q *Queue) readError(err error) int {
	switch {
	case q.isClosed(), errors.Is(err, net.ErrClosed), errors.Is(err, os.ErrClosed):
		return 1
	case errors.Is(err, os.ErrDeadlineExceeded):
		return 0
	case errors.Is(err, unix.ENOBUFS):
		q.overruns.warn(q.log, "DNS responses came faster than they were read; the kernel passed some on unseen", "err", err)
		return 0
	}
	q.readErrs.warn(q.log, "reading the queue", "err", err)
	time.Sleep(errorPause)
	return 0
}

// libLog takes the nfqueue library's own log lines: its errors are
// warnings, rate-limited (one can come with each packet), except while
// the queue closes, when it reports its reading stopping.
type libLog struct{ q *Queue }

// maxLibLine bounds a library log line (some carry a packet's bytes).
const maxLibLine = 240

func (l libLog) Debugf(format string, args ...any) {
	if l.q.log.Enabled(context.Background(), slog.LevelDebug) {
		l.q.log.Debug(clip(fmt.Sprintf(format, args...)))
	}
}

func (l libLog) Errorf(format string, args ...any) {
	msg := clip(fmt.Sprintf(format, args...))
	if l.q.isClosed() {
		l.q.log.Debug(msg)
		return
	}
	l.q.libErrs.warn(l.q.log, "nfqueue: "+msg)
}

func clip(s string) string {
	if len(s) > maxLibLine {
		return s[:maxLibLine] + "…"
	}
	return s
}
