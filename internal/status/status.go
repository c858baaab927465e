// Package status is what `pathpin status` shows: the daemon's view of each
// uplink, or the kernel's when no daemon runs. The JSON form is stable.
package status

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"
)

// Report is the whole status.
type Report struct {
	// Source is "daemon" (pathpin up answered) or "kernel" (no daemon:
	// only what the kernel shows).
	Source  string   `json:"source"`
	Uplinks []Uplink `json:"uplinks"`
}

// Uplink is one uplink's status.
type Uplink struct {
	Name      string    `json:"name"`
	State     string    `json:"state"` // up, degraded, down, recovering
	Since     time.Time `json:"since,omitzero"`
	Reason    string    `json:"reason,omitempty"`
	Interface string    `json:"interface"`
	Local     string    `json:"local,omitempty"`
	Gateway   string    `json:"gateway,omitempty"` // static gateway or PPP peer
	Weight    int       `json:"weight"`
	Table     int       `json:"table"`
	Mark      string    `json:"mark"`
	Session   *Session  `json:"pppoe_session,omitempty"`
	Flows     *int      `json:"flows,omitempty"` // conntrack entries with this uplink's mark
	RxBytes   uint64    `json:"rx_bytes"`
	TxBytes   uint64    `json:"tx_bytes"`
	RTTMillis *float64  `json:"probe_rtt_ms,omitempty"`
	Loss      *float64  `json:"probe_loss,omitempty"` // 0..1 over the recent rounds
	Probes    int       `json:"probe_rounds,omitempty"`
}

// Session is a PPPoE uplink's session.
type Session struct {
	ID     uint16 `json:"id"`
	ACName string `json:"ac_name"`
	ACMAC  string `json:"ac_mac"`
}

// WriteJSON writes the report as indented JSON.
func (r *Report) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(r)
}

// WriteTable writes the report for a person.
func (r *Report) WriteTable(w io.Writer, now time.Time) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "UPLINK\tSTATE\tSINCE\tINTERFACE\tLOCAL\tGATEWAY\tWEIGHT\tFLOWS\tRX\tTX\tRTT\tLOSS\tSESSION")
	for _, u := range r.Uplinks {
		since := "-"
		if !u.Since.IsZero() {
			since = now.Sub(u.Since).Round(time.Second).String() + " ago"
		}
		flows, rtt, loss, sess := "-", "-", "-", "-"
		if u.Flows != nil {
			flows = fmt.Sprint(*u.Flows)
		}
		if u.RTTMillis != nil {
			rtt = fmt.Sprintf("%.1fms", *u.RTTMillis)
		}
		if u.Loss != nil {
			loss = fmt.Sprintf("%.0f%%", *u.Loss*100)
		}
		if u.Session != nil {
			sess = fmt.Sprintf("%d@%s", u.Session.ID, u.Session.ACName)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%d\t%s\t%s\t%s\t%s\t%s\t%s\n", u.Name, u.State, since, u.Interface,
			dash(u.Local), dash(u.Gateway), u.Weight, flows, humanBytes(u.RxBytes), humanBytes(u.TxBytes), rtt, loss, sess)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	for _, u := range r.Uplinks {
		if u.Reason != "" {
			fmt.Fprintf(w, "%s: %s\n", u.Name, u.Reason)
		}
	}
	if r.Source == "kernel" {
		fmt.Fprintln(w, "(pathpin up is not running: this is what the kernel shows)")
	}
	return nil
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func humanBytes(n uint64) string {
	units := []string{"B", "KiB", "MiB", "GiB", "TiB"}
	f := float64(n)
	i := 0
	for f >= 1024 && i < len(units)-1 {
		f /= 1024
		i++
	}
	if i == 0 {
		return fmt.Sprintf("%dB", n)
	}
	return strings.TrimSuffix(fmt.Sprintf("%.1f", f), ".0") + units[i]
}
