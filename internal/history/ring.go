// Package history keeps what the router did lately, in bounded memory:
// per uplink a ring of one-minute points over a day, and the last state
// changes with their reasons.
package history

import (
	"math"
	"time"
)

// Points is how many points a ring holds: a day of minutes.
const Points = 24 * 60

// Point is one step (a minute) of one uplink.
type Point struct {
	T time.Time `json:"t"`
	// RTTP50 and RTTMax are the probes' round trips in the step, in
	// milliseconds (0: none answered); Loss the share of rounds missed.
	RTTP50 float64 `json:"rtt_p50_ms"`
	RTTMax float64 `json:"rtt_max_ms"`
	Loss   float64 `json:"loss"`
	// State is the uplink's state at the step's end.
	State string `json:"state"`
	// NewConns, BytesIn and BytesOut are counts within the step; Flows
	// the connections at its end.
	NewConns uint64 `json:"new_conns"`
	Flows    int    `json:"flows"`
	BytesIn  uint64 `json:"bytes_in"`
	BytesOut uint64 `json:"bytes_out"`
}

// slot is a Point as the ring stores it: 48 bytes, so a day of 8
// uplinks is about 550 KB.
type slot struct {
	unix           int64
	p50, max, loss float32
	state          uint8
	flows          uint32
	newConns       uint32
	in, out        uint64
}

// States are the states a slot can say, by index.
var states = []string{"", "up", "degraded", "down", "recovering", "standby"}

func stateIndex(s string) uint8 {
	for i, x := range states {
		if x == s {
			return uint8(i)
		}
	}
	return 0
}

// Ring is a fixed-size ring of points, oldest overwritten first. It is
// not safe for concurrent use.
type Ring struct {
	slots [Points]slot
	next  int // where the next point goes
	n     int // how many are held
}

// Add keeps p, dropping the oldest point when the ring is full.
func (r *Ring) Add(p Point) {
	r.slots[r.next] = slot{unix: p.T.Unix(), p50: float32(p.RTTP50), max: float32(p.RTTMax), loss: float32(p.Loss),
		state: stateIndex(p.State), flows: clampU32(uint64(max(p.Flows, 0))), newConns: clampU32(p.NewConns), in: p.BytesIn, out: p.BytesOut}
	r.next = (r.next + 1) % Points
	r.n = min(r.n+1, Points)
}

// Points returns the points held, oldest first.
func (r *Ring) Points() []Point {
	out := make([]Point, 0, r.n)
	for i := range r.n {
		s := r.slots[(r.next-r.n+i+Points)%Points]
		out = append(out, Point{T: time.Unix(s.unix, 0).UTC(), RTTP50: round3(s.p50), RTTMax: round3(s.max), Loss: round3(s.loss),
			State: states[s.state], Flows: int(s.flows), NewConns: uint64(s.newConns), BytesIn: s.in, BytesOut: s.out})
	}
	return out
}

// Len is how many points the ring holds.
func (r *Ring) Len() int { return r.n }

func clampU32(v uint64) uint32 {
	if v > math.MaxUint32 {
		return math.MaxUint32
	}
	return uint32(v)
}

// round3 gives a stored float32 back with three decimals, not float32's
// noise.
func round3(f float32) float64 { return math.Round(float64(f)*1000) / 1000 }
