package history

import "time"

// MaxEvents is how many state changes the log keeps.
const MaxEvents = 200

// Event is one change of an uplink's state.
type Event struct {
	At     time.Time `json:"at"`
	Uplink string    `json:"uplink"`
	From   string    `json:"from"`
	To     string    `json:"to"`
	Reason string    `json:"reason"`
}

// maxReason bounds a reason's length: reasons carry what the network
// said (a PADT's message, a lease's fields).
const maxReason = 512

// Events is the last MaxEvents changes, oldest dropped first. It is not
// safe for concurrent use.
type Events struct {
	list []Event
}

// Add keeps e.
func (l *Events) Add(e Event) {
	if len(e.Reason) > maxReason {
		e.Reason = e.Reason[:maxReason] + "…"
	}
	if len(l.list) == MaxEvents {
		copy(l.list, l.list[1:])
		l.list = l.list[:MaxEvents-1]
	}
	l.list = append(l.list, e)
}

// List returns the changes kept, oldest first.
func (l *Events) List() []Event { return append([]Event(nil), l.list...) }

// History is what the status socket serves: every uplink's points and
// the changes.
type History struct {
	StepSeconds int             `json:"step_seconds"`
	Uplinks     []UplinkHistory `json:"uplinks"`
	Events      []Event         `json:"events"`
}

// UplinkHistory is one uplink's points, oldest first.
type UplinkHistory struct {
	Name   string  `json:"name"`
	Points []Point `json:"points"`
}
