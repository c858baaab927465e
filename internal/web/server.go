// Package web is `pathpin web`: an unprivileged HTTP server that reads
// only the daemon's status socket and serves the status page, the JSON
// the page and `pathpin status --json` show, and Prometheus metrics. It
// changes nothing: every route is read-only.
package web

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"sync"
	"time"

	"github.com/pathpin/pathpin/internal/history"
	"github.com/pathpin/pathpin/internal/status"
)

// Source is where the server reads the daemon's view (the status socket).
type Source interface {
	Status(ctx context.Context) (*status.Report, error)
	History(ctx context.Context) (*history.History, error)
}

// Options configure the server.
type Options struct {
	// Listen are the addresses to serve on (see Addresses).
	Listen []netip.AddrPort
	Source Source
	// UI serves the page at / and its assets; nil serves a short note.
	UI  http.Handler
	Log *slog.Logger
}

// askTimeout bounds one question to the daemon.
const askTimeout = 5 * time.Second

// Handler is the server's routes.
func Handler(opt Options) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", metricsHandler(opt.Source, opt.Log))
	mux.HandleFunc("GET /api/status", func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), askTimeout)
		defer cancel()
		rep, err := opt.Source.Status(ctx)
		writeJSON(w, rep, err)
	})
	mux.HandleFunc("GET /api/history", func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), askTimeout)
		defer cancel()
		h, err := opt.Source.History(ctx)
		writeJSON(w, h, err)
	})
	ui := opt.UI
	if ui == nil {
		ui = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "text/plain; charset=utf-8")
			fmt.Fprintln(w, "pathpin: /api/status, /api/history, /metrics")
		})
	}
	mux.Handle("GET /", ui)
	return readOnly(mux)
}

// readOnly refuses anything but GET and HEAD, and sets the headers every
// answer carries.
func readOnly(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			http.Error(w, "pathpin web is read-only", http.StatusMethodNotAllowed)
			return
		}
		h := w.Header()
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("X-Frame-Options", "DENY")
		h.Set("Referrer-Policy", "no-referrer")
		next.ServeHTTP(w, r)
	})
}

func writeJSON(w http.ResponseWriter, v any, err error) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	if err != nil {
		w.WriteHeader(http.StatusServiceUnavailable)
		_ = json.NewEncoder(w).Encode(map[string]string{"error": "pathpin up is not answering: " + err.Error()})
		return
	}
	_ = json.NewEncoder(w).Encode(v)
}

// Serve listens on every address of opt.Listen and serves until ctx
// ends. A listener that cannot open fails the whole start, naming it.
func Serve(ctx context.Context, opt Options) error {
	if len(opt.Listen) == 0 {
		return errors.New("pathpin web has no address to listen on: give the LAN interfaces an address, or set web.listen")
	}
	var lc net.ListenConfig
	var ls []net.Listener
	for _, a := range opt.Listen {
		l, err := lc.Listen(ctx, "tcp", a.String())
		if err != nil {
			for _, o := range ls {
				o.Close()
			}
			return fmt.Errorf("listening on %s: %w (is it one of the router's LAN addresses, and the port free?)", a, err)
		}
		ls = append(ls, l)
	}
	// Pages and scrapes share the daemon's answers for half a second.
	opt.Source = &cached{src: opt.Source, maxAge: 500 * time.Millisecond}
	srv := &http.Server{Handler: guardHost(Handler(opt)), ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 2 * time.Minute, MaxHeaderBytes: 16 << 10}
	var wg sync.WaitGroup
	errs := make(chan error, len(ls))
	for _, l := range ls {
		opt.Log.Info("serving", "address", l.Addr().String())
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := srv.Serve(l); err != nil && !errors.Is(err, http.ErrServerClosed) {
				errs <- err
			}
		}()
	}
	var err error
	select {
	case <-ctx.Done():
	case err = <-errs:
	}
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = srv.Shutdown(sctx)
	wg.Wait()
	return err
}
