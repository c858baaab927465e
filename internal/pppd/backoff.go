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

// Slow returns a wait of at least Max (up to 20% more), for an ending no
// quick redial can fix; the next ordinary wait starts again from Max.
func (b *Backoff) Slow() time.Duration {
	b.next = b.Max
	return time.Duration(float64(b.Max) * (1 + 0.2*rand.Float64()))
}
