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

	"github.com/pathpin/pathpin/internal/config"
)

// Report is the whole status.
type Report struct {
	// Source is "daemon" (pathpin up answered) or "kernel" (no daemon:
	// only what the kernel shows).
	Source  string   `json:"source"`
	Uplinks []Uplink `json:"uplinks"`
	// Policies are the steering policies, in order.
	Policies []Policy `json:"policies,omitempty"`
	// Domains are the domain policies' address sets.
	Domains []Domain `json:"domains,omitempty"`
	// DNS counts the answers pathpin read for them.
	DNS *DNSAnswers `json:"dns_answers,omitempty"`
	// Applies counts the daemon's applies and the time they took.
	Applies *Applies `json:"applies,omitempty"`
}

// Applies counts the daemon's applies since it started.
type Applies struct {
	Count   uint64  `json:"count"`
	Seconds float64 `json:"seconds_total"`
}

// Domain is one domain policy's set of addresses.
type Domain struct {
	Policy  string   `json:"policy"`
	Set     string   `json:"set"`
	Domains []string `json:"domains"`
	// Size is how many addresses the set holds now (the kernel's count,
	// whoever filled it).
	Size int `json:"size"`
	// Names are the names of the answers that filled it (some of them).
	Names []string `json:"names,omitempty"`
	// Addrs are the addresses it holds, each with its time left and the
	// names that gave it (none: not an answer pathpin read, e.g.
	// dnsmasq's nftset=); at most MaxDomainAddrs.
	Addrs []DomainAddr `json:"addresses,omitempty"`
	// Dnsmasq is the line that has a dnsmasq on the router fill the same
	// set.
	Dnsmasq string `json:"dnsmasq"`
}

// MaxDomainAddrs bounds the addresses a report lists per set.
const MaxDomainAddrs = 1000

// DomainAddr is one address of a domain set.
type DomainAddr struct {
	Addr    string   `json:"address"`
	Expires float64  `json:"expires_in_s"`
	Names   []string `json:"names,omitempty"`
}

// DNSAnswers counts the DNS answers pathpin held and read.
type DNSAnswers struct {
	Read      uint64 `json:"read"`
	Malformed uint64 `json:"malformed"`
	// Refused: answers whose addresses the kernel would not take.
	Refused uint64 `json:"refused"`
}

// Policy is one steering policy now.
type Policy struct {
	Name string `json:"name"`
	// Matched counts the new connections it took since its chain was last
	// written: when what it picks changes (an uplink of its tiers leaves
	// or returns) or a reload changes the policy.
	Matched uint64 `json:"matched"`
	// Verdict: pinned, by-weight, dropped (no uplink in service, drop),
	// balanced (none in service, balanced) or none.
	Verdict string `json:"verdict"`
	// Uplinks are those it picks from now, e.g. "plusnet 67%".
	Uplinks []string `json:"uplinks,omitempty"`
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
	Lease     *Lease    `json:"dhcp_lease,omitempty"`
	Flows     *int      `json:"flows,omitempty"` // conntrack entries with this uplink's mark
	RxBytes   uint64    `json:"rx_bytes"`
	TxBytes   uint64    `json:"tx_bytes"`
	// RTTMillis, Loss and Probes are over the probe rounds of the last
	// minute: the mean RTT of the answers, the share of rounds missed
	// (0..1), and how many rounds.
	RTTMillis *float64 `json:"probe_rtt_ms,omitempty"`
	Loss      *float64 `json:"probe_loss,omitempty"`
	Probes    int      `json:"probe_rounds,omitempty"`
	// Metered: the uplink carries nothing and is probed on a budget (one
	// target, the metered interval).
	Metered bool `json:"probe_metered,omitempty"`
	// Standby says why the uplink is a standby beyond its weight: "cold"
	// (dialled or leased only when no weighted uplink is in service) or
	// its data cap's reason.
	Standby string `json:"standby,omitempty"`
	// LastChange is the uplink's last change of state, and why.
	LastChange *Change `json:"last_change,omitempty"`
	// Usage is the data the uplink carried in its period.
	Usage *Usage `json:"usage,omitempty"`
	// NewConns counts the new connections with its mark since the daemon
	// started (from conntrack's events); ProbeRoundsTotal its probe
	// rounds; Failovers its changes out of service by cause.
	NewConns         *uint64           `json:"new_connections,omitempty"`
	ProbeRoundsTotal uint64            `json:"probe_rounds_total,omitempty"`
	Failovers        map[string]uint64 `json:"failovers,omitempty"`
	// PublicAddress is the address the internet sees the uplink by, as
	// found through it (STUN or an HTTP echo); PublicSource says which.
	PublicAddress string `json:"public_address,omitempty"`
	PublicSource  string `json:"public_address_source,omitempty"`
	// ExcusedTargets are probe targets silent on every uplink at once:
	// their fault, not this uplink's; its state ignores them.
	ExcusedTargets []string `json:"excused_targets,omitempty"`
	// RefusedRoutes are the routes of its DHCP lease pathpin would not
	// install, each with the reason.
	RefusedRoutes []string `json:"refused_routes,omitempty"`
	// Dropped are the packets the protection dropped on arrival from
	// this uplink's side (protect:).
	Dropped *Dropped `json:"dropped,omitempty"`
}

// Change is a change of an uplink's state.
type Change struct {
	At     time.Time `json:"at"`
	From   string    `json:"from"`
	To     string    `json:"to"`
	Reason string    `json:"reason"`
}

// Usage is an uplink's data use in its period, kept across restarts.
type Usage struct {
	Since time.Time `json:"period_start"`
	In    uint64    `json:"bytes_in"`
	Out   uint64    `json:"bytes_out"`
	// Cap is the allowance (0: none), Capped whether it is reached.
	Cap    uint64 `json:"cap_bytes,omitempty"`
	Capped bool   `json:"capped,omitempty"`
}

// Dropped counts what pathpin's protection dropped from one uplink.
type Dropped struct {
	// Spoofed: packets with a LAN source address or one of the router's.
	Spoofed uint64 `json:"spoofed"`
	// Refused: new connections not destination-NATed (towards the LAN or
	// another uplink) or, with protect.router, to the router itself.
	Refused uint64 `json:"refused"`
}

// Session is a PPPoE uplink's session.
type Session struct {
	// Since is when pppd started on it.
	Since  time.Time `json:"since,omitzero"`
	ID     uint16    `json:"id"`
	ACName string    `json:"ac_name"`
	ACMAC  string    `json:"ac_mac"`
}

// Lease is a DHCP uplink's client and its lease.
type Lease struct {
	// State is the client's: selecting, requesting, init-reboot, bound,
	// renewing, rebinding.
	State    string    `json:"state"`
	Address  string    `json:"address,omitempty"` // with its prefix length
	Server   string    `json:"server,omitempty"`
	DNS      []string  `json:"dns,omitempty"`
	MTU      int       `json:"mtu,omitempty"`
	Obtained time.Time `json:"obtained,omitzero"`
	T1       time.Time `json:"renew_at,omitzero"`
	T2       time.Time `json:"rebind_at,omitzero"`
	Expiry   time.Time `json:"expires_at,omitzero"`
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
	fmt.Fprintln(tw, "UPLINK\tSTATE\tSINCE\tINTERFACE\tLOCAL\tGATEWAY\tWEIGHT\tFLOWS\tRX\tTX\tRTT 1m\tLOSS 1m\tSESSION")
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
		if c := u.LastChange; c != nil {
			fmt.Fprintf(w, "%s: last change %s ago (%s), %s → %s: %s\n", u.Name, ago(now, c.At), c.At.Local().Format("15:04:05"), c.From, c.To, c.Reason)
		}
		if u.Standby != "" {
			fmt.Fprintf(w, "%s: standby: %s\n", u.Name, u.Standby)
		}
		if u.PublicAddress != "" {
			fmt.Fprintf(w, "%s: public address %s (%s)\n", u.Name, u.PublicAddress, u.PublicSource)
		}
		if u.Metered {
			fmt.Fprintf(w, "%s: metered and carrying nothing: probed on a budget (one target, a long interval)\n", u.Name)
		}
		if us := u.Usage; us != nil {
			fmt.Fprintf(w, "%s: data since %s: %s in, %s out", u.Name, us.Since.Local().Format("2 Jan 15:04"), config.FormatBytes(us.In), config.FormatBytes(us.Out))
			if us.Cap > 0 {
				fmt.Fprintf(w, " (%.0f%% of the cap of %s)", 100*float64(us.In+us.Out)/float64(us.Cap), config.FormatBytes(us.Cap))
			}
			fmt.Fprintln(w)
		}
		if len(u.ExcusedTargets) > 0 {
			fmt.Fprintf(w, "%s: probe targets %s are silent on every uplink: their fault, not the uplinks'; ignored\n", u.Name, strings.Join(u.ExcusedTargets, ", "))
		}
		for _, why := range u.RefusedRoutes {
			fmt.Fprintf(w, "%s: %s\n", u.Name, why)
		}
		if d := u.Dropped; d != nil && d.Spoofed+d.Refused > 0 {
			fmt.Fprintf(w, "%s: dropped from its side: %d new connections refused, %d packets with a spoofed source\n", u.Name, d.Refused, d.Spoofed)
		}
	}
	for _, u := range r.Uplinks {
		if l := u.Lease; l != nil {
			if l.Address == "" {
				fmt.Fprintf(w, "%s: DHCP %s, no lease\n", u.Name, l.State)
				continue
			}
			fmt.Fprintf(w, "%s: DHCP %s, lease %s from %s, obtained %s ago", u.Name, l.State, l.Address, l.Server, ago(now, l.Obtained))
			if l.Expiry.IsZero() {
				fmt.Fprint(w, ", infinite (never renewed)")
			} else {
				fmt.Fprintf(w, ", renews in %s, expires in %s", until(now, l.T1), until(now, l.Expiry))
			}
			if len(l.DNS) > 0 {
				fmt.Fprintf(w, ", DNS %s", strings.Join(l.DNS, " "))
			}
			fmt.Fprintln(w)
		}
	}
	if len(r.Policies) > 0 {
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "POLICY\tMATCHED\tNOW")
		for _, p := range r.Policies {
			now := p.Verdict
			if len(p.Uplinks) > 0 {
				now = strings.Join(p.Uplinks, ", ")
			}
			fmt.Fprintf(tw, "%s\t%d\t%s\n", p.Name, p.Matched, now)
		}
		if err := tw.Flush(); err != nil {
			return err
		}
	}
	if len(r.Domains) > 0 {
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "DOMAIN POLICY\tADDRESSES\tFILLED BY")
		for _, d := range r.Domains {
			by := strings.Join(d.Names, ", ")
			if by == "" {
				by = "-"
			}
			fmt.Fprintf(tw, "%s\t%d\t%s\n", d.Policy, d.Size, by)
		}
		if err := tw.Flush(); err != nil {
			return err
		}
		if r.DNS != nil {
			fmt.Fprintf(w, "DNS answers read: %d (%d malformed, passed on unchanged; %d the kernel refused)\n", r.DNS.Read, r.DNS.Malformed, r.DNS.Refused)
		}
		fmt.Fprintln(w, "(answers over DNS over TLS or HTTPS cannot be read; a client using them fills no set)")
	}
	if r.Source == "kernel" {
		fmt.Fprintln(w, "(pathpin up is not running: this is what the kernel shows)")
	}
	return nil
}

func ago(now, t time.Time) string { return now.Sub(t).Round(time.Second).String() }

func until(now, t time.Time) string {
	if d := t.Sub(now).Round(time.Second); d > 0 {
		return d.String()
	}
	return "now"
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
