package hooks

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"syscall"
	"time"
)

// ErrNoDaemon means nothing listens on the socket: pathpin up is not running.
var ErrNoDaemon = errors.New("hook: no pathpin daemon is running")

// reply is the daemon's answer to one event.
type reply struct {
	OK    bool   `json:"ok"`
	Error string `json:"error,omitempty"`
}

// Send hands the event to the daemon listening on path and waits for it
// to be accepted (not applied: pppd does not wait for its scripts).
func Send(ctx context.Context, path string, e Event) error {
	var d net.Dialer
	c, err := d.DialContext(ctx, "unix", path)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) || errors.Is(err, syscall.ECONNREFUSED) {
			return ErrNoDaemon
		}
		return fmt.Errorf("hook: connecting to %s: %w", path, err)
	}
	defer c.Close()
	if dl, ok := ctx.Deadline(); ok {
		_ = c.SetDeadline(dl)
	}
	if err := json.NewEncoder(c).Encode(e); err != nil {
		return fmt.Errorf("hook: sending: %w", err)
	}
	var r reply
	if err := json.NewDecoder(bufio.NewReader(c)).Decode(&r); err != nil {
		return fmt.Errorf("hook: reading the daemon's answer: %w", err)
	}
	if !r.OK {
		return fmt.Errorf("hook: the daemon refused the event: %s", r.Error)
	}
	return nil
}

// Serve accepts events on l and passes each to handle; handle's error is
// returned to the hook. It returns when l is closed.
func Serve(l net.Listener, log *slog.Logger, handle func(Event) error) {
	ServeConns(l, func(c net.Conn) {
		var e Event
		r := reply{OK: true}
		if err := json.NewDecoder(c).Decode(&e); err != nil {
			r = reply{Error: "bad event: " + err.Error()}
		} else if err := handle(e); err != nil {
			r = reply{Error: err.Error()}
		}
		if !r.OK {
			log.Warn("hook event refused", "reason", r.Error)
		}
		_ = json.NewEncoder(c).Encode(r)
	})
}

// ServeConns accepts connections on l until it is closed and handles each
// in its own goroutine, with a 5-second deadline, closing it afterwards.
func ServeConns(l net.Listener, handle func(net.Conn)) {
	for {
		c, err := l.Accept()
		if err != nil {
			return
		}
		go func() {
			defer c.Close()
			_ = c.SetDeadline(time.Now().Add(5 * time.Second))
			handle(c)
		}()
	}
}
