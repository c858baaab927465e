package web

import (
	"context"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"sync"
	"time"

	"github.com/pathpin/pathpin/internal/history"
	"github.com/pathpin/pathpin/internal/status"
)

// localSuffixes are the names a home network's own hosts go by.
var localSuffixes = []string{".lan", ".local", ".home", ".home.arpa", ".internal", ".localdomain"}

// hostAllowed reports whether a request's Host is one the router goes by
// on the LAN: an address, localhost, a name of one label, or one under a
// home network's suffix. Anything else may be a site that rebound its
// name to the router's address to read it from a LAN browser.
func hostAllowed(host string) bool {
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	host = strings.TrimSuffix(strings.ToLower(strings.Trim(host, "[]")), ".")
	if _, err := netip.ParseAddr(host); err == nil {
		return true
	}
	if host == "" || host == "localhost" || !strings.Contains(host, ".") {
		return host != ""
	}
	for _, s := range localSuffixes {
		if strings.HasSuffix(host, s) {
			return true
		}
	}
	return false
}

// guardHost refuses requests for other hosts' names.
func guardHost(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !hostAllowed(r.Host) {
			http.Error(w, "pathpin web answers to the router's address or a LAN name (.lan, .home.arpa, …), not "+r.Host, http.StatusMisdirectedRequest)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// cached asks the daemon at most once per maxAge for each kind of answer,
// one question at a time: open pages and scrapes share the answers, and
// the root daemon's work does not grow with them.
type cached struct {
	src    Source
	maxAge time.Duration

	statusMu sync.Mutex
	status   *status.Report
	statusAt time.Time

	historyMu sync.Mutex
	history   *history.History
	historyAt time.Time
}

// Status is the daemon's report, at most maxAge old.
func (c *cached) Status(ctx context.Context) (*status.Report, error) {
	c.statusMu.Lock()
	defer c.statusMu.Unlock()
	if c.status != nil && time.Since(c.statusAt) < c.maxAge {
		return c.status, nil
	}
	r, err := c.src.Status(ctx)
	if err != nil {
		return nil, err
	}
	c.status, c.statusAt = r, time.Now()
	return r, nil
}

// History is the daemon's history, at most 5 maxAge old.
func (c *cached) History(ctx context.Context) (*history.History, error) {
	c.historyMu.Lock()
	defer c.historyMu.Unlock()
	if c.history != nil && time.Since(c.historyAt) < 5*c.maxAge {
		return c.history, nil
	}
	h, err := c.src.History(ctx)
	if err != nil {
		return nil, err
	}
	c.history, c.historyAt = h, time.Now()
	return h, nil
}
