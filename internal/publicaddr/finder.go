package publicaddr

import (
	"cmp"
	"context"
	"fmt"
	"log/slog"
	"net/netip"
	"strings"
	"time"

	"github.com/pathpin/pathpin/internal/health"
)

// The kinds of Source.
const (
	KindSTUN = "stun"
	KindHTTP = "http"
)

// A Source is one place to ask for a public address.
type Source struct {
	// Kind is KindSTUN or KindHTTP.
	Kind string
	// Addr is a STUN server's host:port, or an HTTP echo's URL.
	Addr string
}

// String is the source as logs and status show it: "stun host:port" or
// "http URL".
func (s Source) String() string { return s.Kind + " " + s.Addr }

// Check says whether the source is well formed, without resolving or
// asking it: a STUN server must be host:port (an IPv4 address, if an
// address), an HTTP echo an http or https URL with a host.
func (s Source) Check() error {
	switch s.Kind {
	case KindSTUN:
		_, _, err := splitSTUN(s.Addr)
		return err
	case KindHTTP:
		return checkURL(s.Addr)
	}
	return fmt.Errorf("public address source %q: unknown kind %q (want %s or %s)", s.Addr, s.Kind, KindSTUN, KindHTTP)
}

// Sources lists STUN servers, then HTTP echoes, each in the given order:
// the order a Finder asks them in.
func Sources(stunServers, httpURLs []string) []Source {
	out := make([]Source, 0, len(stunServers)+len(httpURLs))
	for _, s := range stunServers {
		out = append(out, Source{Kind: KindSTUN, Addr: s})
	}
	for _, u := range httpURLs {
		out = append(out, Source{Kind: KindHTTP, Addr: u})
	}
	return out
}

// DefaultTimeout is how long a Finder waits for one source when its
// Timeout is 0: the STUN schedule sends four requests in it.
const DefaultTimeout = 5 * time.Second

// A Finder asks its sources in order for an uplink's public address, and
// stops at the first acceptable answer.
type Finder struct {
	Sources []Source
	// Timeout bounds each source's query (DefaultTimeout when 0), so that
	// a silent server leaves time for the next.
	Timeout time.Duration
	// Log gets a debug line for each source that fails; nil logs nothing.
	Log *slog.Logger
}

// Find asks the sources through path, in order, and returns the first
// acceptable address and the source that gave it. When none answers, the
// error lists each source's.
func (f *Finder) Find(ctx context.Context, path health.Path) (netip.Addr, Source, error) {
	if len(f.Sources) == 0 {
		return netip.Addr{}, Source{}, fmt.Errorf("no public address source for %s: configure STUN servers or HTTP echoes", path.Device)
	}
	log := f.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	timeout := f.Timeout
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	var errs []error
	for _, s := range f.Sources {
		// The deadline can pass a moment before the context's timer
		// marks it done: no source is asked after it.
		if d, ok := ctx.Deadline(); ctx.Err() != nil || ok && !time.Now().Before(d) {
			errs = append(errs, cmp.Or(ctx.Err(), context.DeadlineExceeded))
			break
		}
		addr, err := f.ask(ctx, timeout, path, s)
		if err == nil {
			log.Debug("public address found", "uplink", path.Device, "address", addr, "source", s.String())
			return addr, s, nil
		}
		log.Debug("public address source failed", "uplink", path.Device, "source", s.String(), "err", err)
		errs = append(errs, err)
	}
	return netip.Addr{}, Source{}, fmt.Errorf("no public address for %s from %d sources: %w", path.Device, len(f.Sources), joined(errs))
}

func (f *Finder) ask(ctx context.Context, timeout time.Duration, path health.Path, s Source) (netip.Addr, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	switch s.Kind {
	case KindSTUN:
		return STUN(ctx, path, s.Addr)
	case KindHTTP:
		return HTTP(ctx, path, s.Addr)
	}
	return netip.Addr{}, s.Check()
}

// joined is several errors on one line, each still found by errors.Is.
type joined []error

func (j joined) Error() string {
	s := make([]string, len(j))
	for i, err := range j {
		s[i] = err.Error()
	}
	return strings.Join(s, "; ")
}

func (j joined) Unwrap() []error { return j }
