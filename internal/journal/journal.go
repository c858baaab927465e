// Package journal is a log/slog handler that writes to systemd's journal
// with each attribute as a journal field (uplink=plusnet becomes
// UPLINK=plusnet), so `journalctl UPLINK=plusnet` shows one uplink's log.
// The message keeps the attributes as text for a plain journalctl.
package journal

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"sync"

	"github.com/coreos/go-systemd/v22/journal"
)

// Sender is the part of the journal the handler uses; journal.Send in
// production.
type Sender func(message string, priority journal.Priority, vars map[string]string) error

// Handler writes records to the journal.
type Handler struct {
	level slog.Leveler
	send  Sender
	attrs []slog.Attr
	group string
	mu    *sync.Mutex
}

// New returns a handler for records at level and above; a nil send writes
// to the local journal.
func New(level slog.Leveler, send Sender) *Handler {
	if send == nil {
		send = journal.Send
	}
	return &Handler{level: level, send: send, mu: &sync.Mutex{}}
}

// Enabled reports whether the journal can be written to.
func Enabled() bool { return journal.Enabled() }

// Enabled implements slog.Handler.
func (h *Handler) Enabled(_ context.Context, l slog.Level) bool { return l >= h.level.Level() }

// WithAttrs implements slog.Handler.
func (h *Handler) WithAttrs(as []slog.Attr) slog.Handler {
	c := *h
	for _, a := range as {
		c.attrs = append(append([]slog.Attr(nil), c.attrs...), prefixed(h.group, a))
	}
	return &c
}

// WithGroup implements slog.Handler.
func (h *Handler) WithGroup(name string) slog.Handler {
	c := *h
	c.group = h.group + name + "."
	return &c
}

// Handle implements slog.Handler.
func (h *Handler) Handle(_ context.Context, r slog.Record) error {
	attrs := append([]slog.Attr(nil), h.attrs...)
	r.Attrs(func(a slog.Attr) bool {
		attrs = append(attrs, prefixed(h.group, a))
		return true
	})
	// The message as text: the record's message and its attributes.
	var text bytes.Buffer
	th := slog.NewTextHandler(&text, &slog.HandlerOptions{ReplaceAttr: func(groups []string, a slog.Attr) slog.Attr {
		if len(groups) == 0 && (a.Key == slog.TimeKey || a.Key == slog.LevelKey) {
			return slog.Attr{}
		}
		return a
	}})
	plain := slog.NewRecord(r.Time, r.Level, r.Message, 0)
	plain.AddAttrs(attrs...)
	_ = th.Handle(context.Background(), plain)
	msg := strings.TrimSuffix(strings.TrimPrefix(text.String(), "msg="), "\n")
	vars := map[string]string{}
	for _, a := range attrs {
		if k := fieldName(a.Key); k != "" {
			vars[k] = a.Value.Resolve().String()
		}
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.send(msg, priority(r.Level), vars)
}

func prefixed(group string, a slog.Attr) slog.Attr {
	a.Key = group + a.Key
	return a
}

// fieldName makes a journal field name: upper case letters, digits and
// underscores, not starting with an underscore or a digit (those are the
// journal's own).
func fieldName(key string) string {
	var b strings.Builder
	for _, c := range strings.ToUpper(key) {
		switch {
		case c >= 'A' && c <= 'Z', c >= '0' && c <= '9' && b.Len() > 0:
			b.WriteRune(c)
		case b.Len() > 0:
			b.WriteByte('_')
		}
	}
	name := b.String()
	switch name {
	case "", "MESSAGE", "PRIORITY", "SYSLOG_IDENTIFIER", "CODE_FILE", "CODE_LINE", "CODE_FUNC":
		return ""
	}
	return name
}

func priority(l slog.Level) journal.Priority {
	switch {
	case l >= slog.LevelError:
		return journal.PriErr
	case l >= slog.LevelWarn:
		return journal.PriWarning
	case l >= slog.LevelInfo:
		return journal.PriInfo
	}
	return journal.PriDebug
}
