package pppd

import (
	"math/rand/v2"
	"time"
)

// Backoff spaces out redials: the first retry comes fast, each further
// one waits twice as long up to Max, with ±20% jitter so that many
// routers behind one BRAS do not redial in step. A session that stayed up
// for StableAfter resets it.
type Backoff struct {
	Initial, Max, StableAfter time.Duration
	next                      time.Duration
}

// Next returns how long to wait before redialling after a session (or a
// failed attempt) that lasted uptime.
func (b *Backoff) Next(uptime time.Duration) time.Duration {
	if b.next == 0 || uptime >= b.StableAfter {
		b.next = b.Initial
	}
	d := b.next
	b.next = min(b.next*2, b.Max)
	jitter := 0.8 + 0.4*rand.Float64()
	return time.Duration(float64(d) * jitter)
}
