package hooks

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// ErrNoDaemon means nothing listens on the socket: pathpin up is not running.
var ErrNoDaemon = errors.New("hook: no pathpin daemon is running")

// MaxMessage bounds what pathpin reads from any of its sockets: an event,
// a reply or a status report is far smaller.
const MaxMessage = 1 << 20

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
	if err := json.NewDecoder(io.LimitReader(c, MaxMessage)).Decode(&r); err != nil {
		return fmt.Errorf("hook: reading the daemon's answer: %w", err)
	}
	if !r.OK {
		return &RefusedError{Reason: r.Error}
	}
	return nil
}

// RefusedError is the daemon's refusal of an event, with its reason.
type RefusedError struct{ Reason string }

func (e *RefusedError) Error() string { return "hook: the daemon refused the event: " + e.Reason }

// Listen opens the hook socket at path with mode 0600, never for a moment
// wider: only root may hand pathpin an event.
func Listen(path string) (net.Listener, error) {
	return ListenUnix(path, 0o600)
}

// ListenUnix opens a unix socket at path, replacing a stale one, created
// with mode (the umask is narrowed while it is made, then the mode is set
// explicitly).
func ListenUnix(path string, mode os.FileMode) (net.Listener, error) {
	_ = os.Remove(path)
	old := unix.Umask(int(0o777 &^ mode))
	l, err := net.Listen("unix", path)
	unix.Umask(old)
	if err != nil {
		return nil, fmt.Errorf("listening on %s: %w", path, err)
	}
	if err := os.Chmod(path, mode); err != nil {
		l.Close()
		return nil, fmt.Errorf("setting %s's mode: %w", path, err)
	}
	return l, nil
}

// A PeerCheck decides from the connecting process's credentials whether it
// may talk to the socket; nil allows everyone who can open it.
type PeerCheck func(cred *unix.Ucred) error

// RootOnly allows only processes running as root (pppd runs its scripts
// as root).
func RootOnly(cred *unix.Ucred) error {
	if cred.Uid != 0 {
		return fmt.Errorf("uid %d may not send hook events (only root)", cred.Uid)
	}
	return nil
}

// Serve accepts events on l from peers that pass check and passes each to
// handle; handle's error is returned to the hook. It returns when l is
// closed.
func Serve(l net.Listener, log *slog.Logger, check PeerCheck, handle func(Event) error) {
	ServeConns(l, check, func(c net.Conn) {
		var e Event
		r := reply{OK: true}
		if err := json.NewDecoder(io.LimitReader(c, MaxMessage)).Decode(&e); err != nil {
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
// in its own goroutine, with a 5-second deadline, closing it afterwards. A
// peer that fails check is closed at once.
func ServeConns(l net.Listener, check PeerCheck, handle func(net.Conn)) {
	for {
		c, err := l.Accept()
		if err != nil {
			return
		}
		go func() {
			defer c.Close()
			if check != nil {
				cred, err := peerCred(c)
				if err == nil {
					err = check(cred)
				}
				if err != nil {
					return
				}
			}
			_ = c.SetDeadline(time.Now().Add(5 * time.Second))
			handle(c)
		}()
	}
}

// peerCred reads the connecting process's credentials (SO_PEERCRED).
func peerCred(c net.Conn) (*unix.Ucred, error) {
	uc, ok := c.(*net.UnixConn)
	if !ok {
		return nil, fmt.Errorf("not a unix socket")
	}
	raw, err := uc.SyscallConn()
	if err != nil {
		return nil, err
	}
	var cred *unix.Ucred
	var cerr error
	if err := raw.Control(func(fd uintptr) { cred, cerr = unix.GetsockoptUcred(int(fd), unix.SOL_SOCKET, unix.SO_PEERCRED) }); err != nil {
		return nil, err
	}
	return cred, cerr
}
