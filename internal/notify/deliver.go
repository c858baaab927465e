package notify

import (
	"context"
	"errors"
	"time"
)

// Back-off between tries of a POST: it doubles from defaultBackoff up to
// maxBackoff.
const (
	defaultBackoff = time.Second
	maxBackoff     = time.Minute
)

// deliver sends ev, trying again with back-off while the failure may pass,
// and counts the outcome. It returns early when ctx ends, counting
// nothing.
func (s *sink) deliver(ctx context.Context, ev Event) {
	body, contentType, err := render(s.body, ev)
	// Each outcome is logged before it is counted: a counter says the
	// message is done with, its log line included.
	if err != nil {
		s.log.Warn("notification not sent", "uplink", ev.Uplink, "err", s.red.scrub(err.Error()))
		s.failed.Add(1)
		return
	}
	for try := 0; ; try++ {
		err := s.post(ctx, body, contentType)
		if err == nil {
			s.log.Debug("notification sent", "uplink", ev.Uplink, "from", ev.From, "to", ev.To)
			s.sent.Add(1)
			return
		}
		if ctx.Err() != nil {
			return
		}
		var pe *postError
		retry := errors.As(err, &pe) && pe.retry
		if !retry || try >= s.hook.Retries {
			msg := "notification not sent"
			if retry {
				msg = "notification not sent: no more tries"
			}
			s.log.Warn(msg, "uplink", ev.Uplink, "tries", try+1, "err", err)
			s.failed.Add(1)
			return
		}
		wait := s.backoffAt(try)
		if pe.after > wait {
			wait = min(pe.after, s.maxBackoff)
		}
		s.log.Warn("notification not sent: trying again", "uplink", ev.Uplink, "in", wait, "err", err)
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
		s.retried.Add(1)
	}
}

// backoffAt is the wait after the failure of try (0 for the first): the
// base back-off doubled try times, at most the longest back-off.
func (s *sink) backoffAt(try int) time.Duration {
	d := s.backoff
	for range try {
		if d >= s.maxBackoff/2 {
			return s.maxBackoff
		}
		d *= 2
	}
	return min(d, s.maxBackoff)
}
