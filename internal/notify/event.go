package notify

import (
	"encoding/json"
	"time"
)

// An Event is a change of an uplink's state.
type Event struct {
	// Uplink is the uplink's name in the configuration.
	Uplink string `json:"uplink"`
	// From and To are the states before and after the change (up, down,
	// standby…).
	From string `json:"from"`
	To   string `json:"to"`
	// Reason says why, in words.
	Reason string `json:"reason"`
	// At is when the change happened; in JSON and in the environment it
	// is in RFC 3339, to the second.
	At time.Time `json:"time"`
	// PublicAddress, when set, is the uplink's new public address: the
	// event tells of it (its state may be unchanged), and is always news.
	PublicAddress string `json:"public_address,omitempty"`
}

// news reports whether the event tells of something: a change of state,
// or a new public address.
func (e Event) news() bool { return e.From != e.To || e.PublicAddress != "" }

// Env returns the event as environment entries for a command:
// PATHPIN_UPLINK, PATHPIN_FROM, PATHPIN_TO, PATHPIN_REASON, PATHPIN_TIME
// (RFC 3339; empty for a zero At) and PATHPIN_PUBLIC_ADDRESS (empty unless
// the event tells of a new one).
func (e Event) Env() []string {
	return []string{
		"PATHPIN_UPLINK=" + e.Uplink,
		"PATHPIN_FROM=" + e.From,
		"PATHPIN_TO=" + e.To,
		"PATHPIN_REASON=" + e.Reason,
		"PATHPIN_TIME=" + e.time(),
		"PATHPIN_PUBLIC_ADDRESS=" + e.PublicAddress,
	}
}

// MarshalJSON encodes the event with its time in RFC 3339 to the second,
// as in Env.
func (e Event) MarshalJSON() ([]byte, error) {
	return json.Marshal(struct {
		Uplink string `json:"uplink"`
		From   string `json:"from"`
		To     string `json:"to"`
		Reason string `json:"reason"`
		Time   string `json:"time"`
		Public string `json:"public_address,omitempty"`
	}{e.Uplink, e.From, e.To, e.Reason, e.time(), e.PublicAddress})
}

// time is At in RFC 3339, or "" for a zero At.
func (e Event) time() string {
	if e.At.IsZero() {
		return ""
	}
	return e.At.Format(time.RFC3339)
}
