package publicaddr

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pathpin/pathpin/internal/health"
)

// echo serves body with status on loopback and records where each
// request came from.
type echo struct {
	*httptest.Server
	mu   sync.Mutex
	from []string
}

func newEcho(t *testing.T, status int, body string) *echo {
	t.Helper()
	e := &echo{}
	e.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		e.mu.Lock()
		host, _, _ := net.SplitHostPort(r.RemoteAddr)
		e.from = append(e.from, host)
		e.mu.Unlock()
		w.Header().Set("Content-Type", "text/plain")
		w.WriteHeader(status)
		_, _ = w.Write([]byte(body))
	}))
	t.Cleanup(e.Close)
	return e
}

func (e *echo) hits() []string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]string(nil), e.from...)
}

func TestHTTPAcceptsAnAddress(t *testing.T) {
	for _, body := range []string{"203.0.113.9", "203.0.113.9\n", " \r\n\t203.0.113.9 \r\n"} {
		e := newEcho(t, http.StatusOK, body)
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		got, err := HTTP(ctx, health.Path{}, e.URL)
		cancel()
		if err != nil || got != netip.MustParseAddr("203.0.113.9") {
			t.Errorf("for %q got %v, %v; want 203.0.113.9", body, got, err)
		}
	}
}

// TestHTTPSendsFromThePathsSource checks that the connection is bound to
// the path's source address.
func TestHTTPSendsFromThePathsSource(t *testing.T) {
	e := newEcho(t, http.StatusOK, "203.0.113.9")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if _, err := HTTP(ctx, health.Path{Source: netip.MustParseAddr("127.0.0.2")}, e.URL); err != nil {
		t.Fatal(err)
	}
	if h := e.hits(); len(h) != 1 || h[0] != "127.0.0.2" {
		t.Errorf("requests came from %v, want one from 127.0.0.2", h)
	}
}

func TestHTTPRejectsBadAnswers(t *testing.T) {
	for name, tc := range map[string]struct {
		status int
		body   string
		want   string
	}{
		"junk":              {200, "<html><body>your address is 203.0.113.9</body></html>", "is not an IP address"},
		"empty":             {200, "", "is not an IP address"},
		"two addresses":     {200, "203.0.113.9 203.0.113.10", "is not an IP address"},
		"padded past 256":   {200, "203.0.113.9" + strings.Repeat(" ", 250), "longer than 256 bytes"},
		"IPv6":              {200, "2001:db8::1\n", "not an IPv4 address"},
		"IPv4-mapped IPv6":  {200, "::ffff:203.0.113.9", "not an IPv4 address"},
		"loopback":          {200, "127.0.0.1", "loopback"},
		"leading zeros":     {200, "203.000.113.9", "is not an IP address"},
		"with a port":       {200, "203.0.113.9:443", "is not an IP address"},
		"not found":         {404, "203.0.113.9", "status 404"},
		"a captive portal":  {302, "", "status 302"},
		"an error, address": {500, "203.0.113.9", "status 500"},
	} {
		t.Run(name, func(t *testing.T) {
			e := newEcho(t, tc.status, tc.body)
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			defer cancel()
			got, err := HTTP(ctx, health.Path{}, e.URL)
			if !errors.Is(err, ErrBadAnswer) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, %v; want an ErrBadAnswer saying %q", got, err, tc.want)
			}
		})
	}
}

// TestHTTPReadsAtMost256Bytes: an echo that never stops sending is cut
// off after 256 bytes, not read until the deadline.
func TestHTTPReadsAtMost256Bytes(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		line := []byte("203.0.113.9\n")
		for r.Context().Err() == nil {
			if _, err := w.Write(line); err != nil {
				return
			}
		}
	}))
	defer srv.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	start := time.Now()
	_, err := HTTP(ctx, health.Path{}, srv.URL)
	if !errors.Is(err, ErrBadAnswer) || !strings.Contains(err.Error(), "longer than 256 bytes") {
		t.Fatalf("got %v; want an ErrBadAnswer about the length", err)
	}
	if d := time.Since(start); d > time.Second {
		t.Errorf("took %v to reject an endless answer", d)
	}
}

func TestHTTPFollowsAFewRedirects(t *testing.T) {
	mux := http.NewServeMux()
	mux.HandleFunc("/ip", func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("203.0.113.9")) })
	mux.Handle("/moved", http.RedirectHandler("/ip", http.StatusMovedPermanently))
	mux.Handle("/loop", http.RedirectHandler("/loop", http.StatusFound))
	srv := httptest.NewServer(mux)
	defer srv.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if got, err := HTTP(ctx, health.Path{}, srv.URL+"/moved"); err != nil || got != netip.MustParseAddr("203.0.113.9") {
		t.Errorf("after a redirect got %v, %v; want 203.0.113.9", got, err)
	}
	if _, err := HTTP(ctx, health.Path{}, srv.URL+"/loop"); err == nil || !strings.Contains(err.Error(), "redirects") {
		t.Errorf("a redirect loop gave %v; want an error about redirects", err)
	}
}

func TestHTTPNoAnswer(t *testing.T) {
	l, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	url := "http://" + l.Addr().String() + "/"
	l.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if _, err := HTTP(ctx, health.Path{}, url); !errors.Is(err, ErrNoAnswer) {
		t.Errorf("a closed port gave %v; want ErrNoAnswer", err)
	}
	// A server that never answers: the context ends the wait.
	stall := httptest.NewServer(http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) { <-r.Context().Done() }))
	defer stall.Close()
	ctx, cancel = context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	if _, err := HTTP(ctx, health.Path{}, stall.URL); !errors.Is(err, ErrNoAnswer) || !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("a silent server gave %v; want ErrNoAnswer and the deadline", err)
	}
}

func TestHTTPURL(t *testing.T) {
	for _, bad := range []string{"", "api.ipify.org", "ftp://example.net/", "http://", "http://[2001:db8::1]/", "https:///ip"} {
		if _, err := HTTP(context.Background(), health.Path{}, bad); err == nil || !strings.Contains(err.Error(), "HTTP echo") {
			t.Errorf("HTTP(%q) = %v; want an error about the URL", bad, err)
		}
	}
}
