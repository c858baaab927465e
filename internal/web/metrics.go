package web

import (
	"context"
	"log/slog"
	"time"

	"github.com/pathpin/pathpin/internal/status"
	"github.com/prometheus/client_golang/prometheus"
)

// The metrics, each labelled by uplink unless it says otherwise.
var (
	descUp          = prometheus.NewDesc("pathpin_up", "1 when pathpin up answered the scrape's question, else 0.", nil, nil)
	descUplinkUp    = prometheus.NewDesc("pathpin_uplink_up", "1 when the uplink takes new connections (up or degraded), else 0.", []string{"uplink"}, nil)
	descState       = prometheus.NewDesc("pathpin_uplink_state", "The uplink's state: 1 for the one it is in.", []string{"uplink", "state"}, nil)
	descWeight      = prometheus.NewDesc("pathpin_uplink_weight", "The uplink's weight now (0: standby, also for a cap reached).", []string{"uplink"}, nil)
	descRTT         = prometheus.NewDesc("pathpin_uplink_probe_rtt_seconds", "Mean round trip of the probes answered in the last minute.", []string{"uplink"}, nil)
	descLoss        = prometheus.NewDesc("pathpin_uplink_probe_loss_ratio", "Share of probe rounds missed in the last minute.", []string{"uplink"}, nil)
	descRounds      = prometheus.NewDesc("pathpin_uplink_probe_rounds_total", "Probe rounds decided since pathpin up started.", []string{"uplink"}, nil)
	descFlows       = prometheus.NewDesc("pathpin_uplink_flows", "Connections (conntrack entries) with the uplink's mark.", []string{"uplink"}, nil)
	descNewConns    = prometheus.NewDesc("pathpin_uplink_new_connections_total", "New connections with the uplink's mark since pathpin up started.", []string{"uplink"}, nil)
	descRx          = prometheus.NewDesc("pathpin_uplink_receive_bytes_total", "Bytes the uplink's interface received (its kernel counter).", []string{"uplink"}, nil)
	descTx          = prometheus.NewDesc("pathpin_uplink_transmit_bytes_total", "Bytes the uplink's interface sent (its kernel counter).", []string{"uplink"}, nil)
	descPeriod      = prometheus.NewDesc("pathpin_uplink_period_bytes", "Data the uplink carried in its period (as a cap counts it), by direction.", []string{"uplink", "direction"}, nil)
	descCap         = prometheus.NewDesc("pathpin_uplink_cap_bytes", "The uplink's data cap per period.", []string{"uplink"}, nil)
	descFailovers   = prometheus.NewDesc("pathpin_uplink_failovers_total", "Times the uplink left service since pathpin up started, by reason.", []string{"uplink", "reason"}, nil)
	descLease       = prometheus.NewDesc("pathpin_dhcp_lease_remaining_seconds", "Time until the DHCP uplink's lease expires.", []string{"uplink"}, nil)
	descSession     = prometheus.NewDesc("pathpin_ppp_session_uptime_seconds", "Time since the PPPoE uplink's session began.", []string{"uplink"}, nil)
	descPublic      = prometheus.NewDesc("pathpin_uplink_public_address_info", "The address the internet sees the uplink by.", []string{"uplink", "address"}, nil)
	descPolicy      = prometheus.NewDesc("pathpin_policy_matched_total", "New connections a policy took since its chain was last written.", []string{"policy"}, nil)
	descApplies     = prometheus.NewDesc("pathpin_applies_total", "Applies of the kernel state since pathpin up started.", nil, nil)
	descApplySecond = prometheus.NewDesc("pathpin_apply_seconds_total", "Time spent in those applies.", nil, nil)
	descScrape      = prometheus.NewDesc("pathpin_scrape_seconds", "How long asking pathpin up for this scrape took.", nil, nil)
)

var states = []string{"up", "degraded", "down", "recovering"}

// collector asks the daemon once per scrape and turns its report into
// metrics.
type collector struct {
	src Source
	log *slog.Logger
	// now is the clock (tests); time.Now when nil.
	now func() time.Time
}

// Describe sends every metric's description.
func (c *collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descUp, descUplinkUp, descState, descWeight, descRTT, descLoss, descRounds, descFlows, descNewConns,
		descRx, descTx, descPeriod, descCap, descFailovers, descLease, descSession, descPublic, descPolicy, descApplies, descApplySecond, descScrape} {
		ch <- d
	}
}

// Collect asks the daemon for its report and sends the metrics.
func (c *collector) Collect(ch chan<- prometheus.Metric) {
	now := time.Now
	if c.now != nil {
		now = c.now
	}
	start := now()
	ctx, cancel := context.WithTimeout(context.Background(), askTimeout)
	defer cancel()
	r, err := c.src.Status(ctx)
	ch <- prometheus.MustNewConstMetric(descScrape, prometheus.GaugeValue, now().Sub(start).Seconds())
	if err != nil {
		if c.log != nil {
			c.log.Warn("pathpin up did not answer a scrape", "err", err)
		}
		ch <- prometheus.MustNewConstMetric(descUp, prometheus.GaugeValue, 0)
		return
	}
	ch <- prometheus.MustNewConstMetric(descUp, prometheus.GaugeValue, 1)
	for i := range r.Uplinks {
		c.uplink(ch, &r.Uplinks[i], now())
	}
	for _, p := range r.Policies {
		ch <- prometheus.MustNewConstMetric(descPolicy, prometheus.CounterValue, float64(p.Matched), p.Name)
	}
	if a := r.Applies; a != nil {
		ch <- prometheus.MustNewConstMetric(descApplies, prometheus.CounterValue, float64(a.Count))
		ch <- prometheus.MustNewConstMetric(descApplySecond, prometheus.CounterValue, a.Seconds)
	}
}

func (c *collector) uplink(ch chan<- prometheus.Metric, u *status.Uplink, now time.Time) {
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, append([]string{u.Name}, labels...)...)
	}
	counter := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, v, append([]string{u.Name}, labels...)...)
	}
	up := 0.0
	if u.State == "up" || u.State == "degraded" {
		up = 1
	}
	gauge(descUplinkUp, up)
	for _, s := range states {
		v := 0.0
		if u.State == s {
			v = 1
		}
		gauge(descState, v, s)
	}
	gauge(descWeight, float64(u.Weight))
	if u.RTTMillis != nil {
		gauge(descRTT, *u.RTTMillis/1000)
	}
	if u.Loss != nil {
		gauge(descLoss, *u.Loss)
	}
	counter(descRounds, float64(u.ProbeRoundsTotal))
	if u.Flows != nil {
		gauge(descFlows, float64(*u.Flows))
	}
	if u.NewConns != nil {
		counter(descNewConns, float64(*u.NewConns))
	}
	counter(descRx, float64(u.RxBytes))
	counter(descTx, float64(u.TxBytes))
	if us := u.Usage; us != nil {
		gauge(descPeriod, float64(us.In), "in")
		gauge(descPeriod, float64(us.Out), "out")
		if us.Cap > 0 {
			gauge(descCap, float64(us.Cap))
		}
	}
	for reason, n := range u.Failovers {
		counter(descFailovers, float64(n), reason)
	}
	if l := u.Lease; l != nil && !l.Expiry.IsZero() {
		gauge(descLease, max(l.Expiry.Sub(now).Seconds(), 0))
	}
	if s := u.Session; s != nil && !s.Since.IsZero() {
		gauge(descSession, now.Sub(s.Since).Seconds())
	}
	if u.PublicAddress != "" {
		gauge(descPublic, 1, u.PublicAddress)
	}
}
