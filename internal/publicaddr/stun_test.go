package publicaddr

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pion/stun/v3"

	"github.com/pathpin/pathpin/internal/health"
)

// fakeSTUN is a STUN server on loopback that sends, for the nth request
// (from 0), the datagrams answer returns.
type fakeSTUN struct {
	Addr string
	mu   sync.Mutex
	reqs []*stun.Message
	from []netip.AddrPort
}

func newFakeSTUN(t *testing.T, answer func(n int, req *stun.Message) [][]byte) *fakeSTUN {
	t.Helper()
	pc, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	t.Cleanup(func() { pc.Close(); <-done })
	f := &fakeSTUN{Addr: pc.LocalAddr().String()}
	go func() {
		defer close(done)
		buf := make([]byte, 1500)
		for {
			n, from, err := pc.ReadFrom(buf)
			if err != nil {
				return
			}
			req := stun.New()
			req.Raw = append(req.Raw[:0], buf[:n]...)
			if req.Decode() != nil {
				continue
			}
			f.mu.Lock()
			i := len(f.reqs)
			f.reqs = append(f.reqs, req)
			f.from = append(f.from, from.(*net.UDPAddr).AddrPort())
			f.mu.Unlock()
			for _, b := range answer(i, req) {
				_, _ = pc.WriteTo(b, from)
			}
		}
	}()
	return f
}

func (f *fakeSTUN) requests() ([]*stun.Message, []netip.AddrPort) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]*stun.Message(nil), f.reqs...), append([]netip.AddrPort(nil), f.from...)
}

// answer builds a Binding response to req.
func answer(t *testing.T, req *stun.Message, class stun.MessageType, setters ...stun.Setter) []byte {
	t.Helper()
	m, err := stun.Build(append([]stun.Setter{stun.NewTransactionIDSetter(req.TransactionID), class}, setters...)...)
	if err != nil {
		t.Fatal(err)
	}
	return m.Raw
}

func xorAddr(ip string) stun.Setter {
	return &stun.XORMappedAddress{IP: net.ParseIP(ip), Port: 40000}
}

// rawAttr adds an attribute as given, however malformed.
type rawAttr struct {
	t stun.AttrType
	v []byte
}

func (a rawAttr) AddTo(m *stun.Message) error { m.Add(a.t, a.v); return nil }

func TestSTUNAcceptsAGoodAnswer(t *testing.T) {
	for name, setters := range map[string][]stun.Setter{
		"xor-mapped":                      {xorAddr("203.0.113.5")},
		"xor-mapped with fingerprint":     {xorAddr("203.0.113.5"), stun.NewSoftware("test"), stun.Fingerprint},
		"mapped only (RFC 3489)":          {&stun.MappedAddress{IP: net.ParseIP("203.0.113.5"), Port: 1}},
		"xor-mapped before mapped":        {xorAddr("203.0.113.5"), &stun.MappedAddress{IP: net.ParseIP("192.0.2.99"), Port: 1}},
		"private address (a CGNAT's own)": nil,
	} {
		t.Run(name, func(t *testing.T) {
			want := netip.MustParseAddr("203.0.113.5")
			if setters == nil {
				setters = []stun.Setter{xorAddr("100.64.0.9")}
				want = netip.MustParseAddr("100.64.0.9")
			}
			srv := newFakeSTUN(t, func(_ int, req *stun.Message) [][]byte {
				return [][]byte{answer(t, req, stun.BindingSuccess, setters...)}
			})
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			defer cancel()
			got, err := STUN(ctx, health.Path{}, srv.Addr)
			if err != nil {
				t.Fatal(err)
			}
			if got != want {
				t.Errorf("got %s, want %s", got, want)
			}
			reqs, _ := srv.requests()
			if len(reqs) != 1 || reqs[0].Type != stun.BindingRequest {
				t.Errorf("the server got %d requests (%v), want one Binding request", len(reqs), reqs)
			}
		})
	}
}

// TestSTUNSendsFromThePathsSource checks that the socket is bound to the
// path's source address (loopback takes any 127/8 address).
func TestSTUNSendsFromThePathsSource(t *testing.T) {
	srv := newFakeSTUN(t, func(_ int, req *stun.Message) [][]byte {
		return [][]byte{answer(t, req, stun.BindingSuccess, xorAddr("203.0.113.5"))}
	})
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	src := netip.MustParseAddr("127.0.0.2")
	if _, err := STUN(ctx, health.Path{Source: src}, srv.Addr); err != nil {
		t.Fatal(err)
	}
	if _, from := srv.requests(); len(from) != 1 || from[0].Addr() != src {
		t.Errorf("the request came from %v, want %s", from, src)
	}
}

// TestSTUNRejectsBadAnswers: an answer to the request that carries no
// usable address fails at once, with ErrBadAnswer and the reason.
func TestSTUNRejectsBadAnswers(t *testing.T) {
	for name, tc := range map[string]struct {
		build func(t *testing.T, req *stun.Message) []byte
		want  string
	}{
		"no address attribute": {func(t *testing.T, req *stun.Message) []byte {
			return answer(t, req, stun.BindingSuccess, stun.NewSoftware("test"))
		}, "neither XOR-MAPPED-ADDRESS nor MAPPED-ADDRESS"},
		"IPv6 address": {func(t *testing.T, req *stun.Message) []byte {
			return answer(t, req, stun.BindingSuccess, xorAddr("2001:db8::1"))
		}, "IPv6"},
		"IPv6 mapped address": {func(t *testing.T, req *stun.Message) []byte {
			return answer(t, req, stun.BindingSuccess, &stun.MappedAddress{IP: net.ParseIP("2001:db8::1"), Port: 1})
		}, "IPv6"},
		"short address": {func(t *testing.T, req *stun.Message) []byte {
			return answer(t, req, stun.BindingSuccess, rawAttr{stun.AttrXORMappedAddress, []byte{0, 1, 0, 0, 1, 2}})
		}, "of 6 bytes is no IPv4 address"},
		"unknown family": {func(t *testing.T, req *stun.Message) []byte {
			return answer(t, req, stun.BindingSuccess, rawAttr{stun.AttrXORMappedAddress, []byte{0, 7, 0, 0, 1, 2, 3, 4}})
		}, "no IPv4 address"},
		"loopback": {func(t *testing.T, req *stun.Message) []byte {
			return answer(t, req, stun.BindingSuccess, xorAddr("127.0.0.1"))
		}, "loopback"},
		"unspecified": {func(t *testing.T, req *stun.Message) []byte {
			return answer(t, req, stun.BindingSuccess, xorAddr("0.0.0.0"))
		}, "unspecified"},
		"multicast": {func(t *testing.T, req *stun.Message) []byte {
			return answer(t, req, stun.BindingSuccess, xorAddr("224.0.0.1"))
		}, "multicast"},
		"error response": {func(t *testing.T, req *stun.Message) []byte {
			return answer(t, req, stun.BindingError, stun.ErrorCodeAttribute{Code: stun.CodeBadRequest, Reason: []byte("Bad Request")})
		}, `400 "Bad Request"`},
	} {
		t.Run(name, func(t *testing.T) {
			srv := newFakeSTUN(t, func(_ int, req *stun.Message) [][]byte { return [][]byte{tc.build(t, req)} })
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			defer cancel()
			start := time.Now()
			got, err := STUN(ctx, health.Path{}, srv.Addr)
			if !errors.Is(err, ErrBadAnswer) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, %v; want an ErrBadAnswer saying %q", got, err, tc.want)
			}
			if time.Since(start) > time.Second {
				t.Errorf("a rejected answer took %v to fail: it should fail at once", time.Since(start))
			}
		})
	}
}

// TestSTUNIgnoresWhatIsNoAnswer: datagrams that are not an answer to the
// request are ignored; when nothing else comes, the query ends with
// ErrNoAnswer, naming what it ignored.
func TestSTUNIgnoresWhatIsNoAnswer(t *testing.T) {
	for name, tc := range map[string]struct {
		build func(t *testing.T, req *stun.Message) []byte
		want  string
	}{
		"wrong transaction ID": {func(t *testing.T, req *stun.Message) []byte {
			m := stun.MustBuild(stun.TransactionID, stun.BindingSuccess, xorAddr("203.0.113.5"))
			return m.Raw
		}, "another transaction ID"},
		"junk bytes": {func(*testing.T, *stun.Message) []byte {
			return []byte("HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n")
		}, "no STUN message"},
		"one byte": {func(*testing.T, *stun.Message) []byte { return []byte{1} }, "no STUN message"},
		"truncated": {func(t *testing.T, req *stun.Message) []byte {
			b := answer(t, req, stun.BindingSuccess, xorAddr("203.0.113.5"))
			return b[:len(b)-4]
		}, "malformed"},
		"trailing bytes": {func(t *testing.T, req *stun.Message) []byte {
			return append(answer(t, req, stun.BindingSuccess, xorAddr("203.0.113.5")), 0, 0, 0, 0)
		}, "whose header says"},
		"larger than 1500 bytes": {func(t *testing.T, req *stun.Message) []byte {
			return answer(t, req, stun.BindingSuccess, xorAddr("203.0.113.5"), rawAttr{0x8023, make([]byte, 1600)})
		}, "malformed"},
		"bad fingerprint": {func(t *testing.T, req *stun.Message) []byte {
			b := answer(t, req, stun.BindingSuccess, xorAddr("203.0.113.5"), stun.Fingerprint)
			b[len(b)-1] ^= 0xff
			return b
		}, "FINGERPRINT"},
		"a request, not a response": {func(t *testing.T, req *stun.Message) []byte {
			return answer(t, req, stun.BindingRequest)
		}, "not a Binding response"},
		"top bits set": {func(t *testing.T, req *stun.Message) []byte {
			b := answer(t, req, stun.BindingSuccess, xorAddr("203.0.113.5"))
			b[0] |= 0x80
			return b
		}, "no STUN message"},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			srv := newFakeSTUN(t, func(_ int, req *stun.Message) [][]byte { return [][]byte{tc.build(t, req)} })
			ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
			defer cancel()
			got, err := STUN(ctx, health.Path{}, srv.Addr)
			if !errors.Is(err, ErrNoAnswer) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, %v; want an ErrNoAnswer that names %q", got, err, tc.want)
			}
			if !errors.Is(err, context.DeadlineExceeded) {
				t.Errorf("%v does not wrap the context's error", err)
			}
		})
	}
}

// TestSTUNWaitsPastJunk: junk before the answer does not hide it.
func TestSTUNWaitsPastJunk(t *testing.T) {
	srv := newFakeSTUN(t, func(_ int, req *stun.Message) [][]byte {
		other := stun.MustBuild(stun.TransactionID, stun.BindingSuccess, xorAddr("192.0.2.66"))
		return [][]byte{[]byte("junk"), other.Raw, answer(t, req, stun.BindingSuccess, xorAddr("203.0.113.5"))}
	})
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	got, err := STUN(ctx, health.Path{}, srv.Addr)
	if err != nil || got != netip.MustParseAddr("203.0.113.5") {
		t.Fatalf("got %v, %v; want 203.0.113.5", got, err)
	}
}

// TestSTUNRetransmits: a lost request is sent again after RTO, with the
// same transaction ID, and its answer is taken.
func TestSTUNRetransmits(t *testing.T) {
	srv := newFakeSTUN(t, func(n int, req *stun.Message) [][]byte {
		if n == 0 {
			return nil
		}
		return [][]byte{answer(t, req, stun.BindingSuccess, xorAddr("203.0.113.5"))}
	})
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	start := time.Now()
	got, err := STUN(ctx, health.Path{}, srv.Addr)
	if err != nil || got != netip.MustParseAddr("203.0.113.5") {
		t.Fatalf("got %v, %v; want 203.0.113.5", got, err)
	}
	if d := time.Since(start); d < stunRTO-50*time.Millisecond {
		t.Errorf("answered after %v: the retransmission came before RTO (%v)", d, stunRTO)
	}
	reqs, _ := srv.requests()
	if len(reqs) != 2 || reqs[0].TransactionID != reqs[1].TransactionID {
		t.Errorf("the server got %d requests; want 2 with one transaction ID", len(reqs))
	}
}

// TestSTUNSchedule: a silent server gets requests at 0, RTO, 3 RTO (the
// wait doubles), and no more within 3.2 RTO.
func TestSTUNSchedule(t *testing.T) {
	srv := newFakeSTUN(t, func(int, *stun.Message) [][]byte { return nil })
	ctx, cancel := context.WithTimeout(context.Background(), 3*stunRTO+stunRTO/5)
	defer cancel()
	_, err := STUN(ctx, health.Path{}, srv.Addr)
	if !errors.Is(err, ErrNoAnswer) || !strings.Contains(err.Error(), "to 3 Binding requests") {
		t.Fatalf("got %v; want no answer to 3 requests", err)
	}
	if reqs, _ := srv.requests(); len(reqs) != 3 {
		t.Errorf("the server got %d requests; want 3", len(reqs))
	}
}

// TestSTUNStopsWhenCancelled: a cancelled context ends the wait at once,
// deadline or not.
func TestSTUNStopsWhenCancelled(t *testing.T) {
	srv := newFakeSTUN(t, func(int, *stun.Message) [][]byte { return nil })
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(100*time.Millisecond, cancel)
	start := time.Now()
	_, err := STUN(ctx, health.Path{}, srv.Addr)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("got %v; want context.Canceled", err)
	}
	if d := time.Since(start); d > 400*time.Millisecond {
		t.Errorf("took %v to stop after a cancel at 100 ms", d)
	}
}

// TestSTUNNothingListens: the port unreachable that comes back ends the
// query at once.
func TestSTUNNothingListens(t *testing.T) {
	pc, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := pc.LocalAddr().String()
	pc.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	start := time.Now()
	_, err = STUN(ctx, health.Path{}, addr)
	if !errors.Is(err, ErrNoAnswer) || !strings.Contains(err.Error(), "nothing listens") {
		t.Fatalf("got %v; want ErrNoAnswer saying nothing listens", err)
	}
	if d := time.Since(start); d > stunRTO {
		t.Errorf("took %v", d)
	}
}

func TestSTUNServerAddress(t *testing.T) {
	for _, bad := range []string{"", "203.0.113.1", "203.0.113.1:0", "203.0.113.1:65536", ":3478", "[2001:db8::1]:3478", "stun.example.net:stun"} {
		_, err := STUN(context.Background(), health.Path{}, bad)
		if err == nil || !strings.Contains(err.Error(), "STUN server") {
			t.Errorf("STUN(%q) = %v; want an error about the server's address", bad, err)
		}
	}
}

// FuzzParseBinding: no datagram makes the parser panic, and what it
// accepts is an acceptable IPv4 address.
func FuzzParseBinding(f *testing.F) {
	req := stun.MustBuild(stun.TransactionID, stun.BindingRequest)
	good := stun.MustBuild(stun.NewTransactionIDSetter(req.TransactionID), stun.BindingSuccess,
		&stun.XORMappedAddress{IP: net.ParseIP("203.0.113.5"), Port: 1}, stun.Fingerprint)
	f.Add(good.Raw)
	f.Add(good.Raw[:24])
	f.Add(req.Raw)
	f.Add([]byte{})
	f.Add([]byte("junk"))
	f.Fuzz(func(t *testing.T, b []byte) {
		if len(b) >= 20 {
			copy(b[8:20], req.TransactionID[:])
		}
		addr, answered, err := parseBinding(b, req.TransactionID)
		if err == nil && (!answered || checkAddr(addr) != nil) {
			t.Errorf("accepted %v (answered %v) from %x", addr, answered, b)
		}
	})
}
