package web

import (
	"context"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/VictoriaMetrics/metrics"
	"github.com/pathpin/pathpin/internal/status"
)

var states = []string{"up", "degraded", "down", "recovering"}

func init() {
	// # TYPE lines, so that Prometheus knows the counters.
	metrics.ExposeMetadata(true)
}

// metricsHandler asks the daemon once per scrape and writes its report as
// metrics in the Prometheus text format: each scrape builds a set of its
// own (nothing is kept between scrapes).
func metricsHandler(src Source, log *slog.Logger) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
		writeMetrics(r.Context(), w, src, log, time.Now)
	})
}

// set is one scrape's metrics.
type set struct{ *metrics.Set }

func (s set) gauge(name string, v float64, labels ...string) {
	s.NewGauge(series(name, labels), func() float64 { return v })
}

func (s set) counter(name string, v float64, labels ...string) {
	s.NewFloatCounter(series(name, labels)).Set(v)
}

// series is a metric's name with its labels: name{k="v",...}, the values
// escaped as the text format wants.
func series(name string, labels []string) string {
	if len(labels) == 0 {
		return name
	}
	var b strings.Builder
	b.WriteString(name + "{")
	for i := 0; i+1 < len(labels); i += 2 {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(labels[i] + "=" + strconv.Quote(labels[i+1]))
	}
	b.WriteByte('}')
	return b.String()
}

// writeMetrics writes one scrape. The metrics:
//
//	pathpin_up, pathpin_scrape_seconds
//	pathpin_uplink_up, _state{state}, _weight, _probe_rtt_seconds,
//	_probe_loss_ratio, _probe_rounds_total, _flows, _new_connections_total,
//	_receive_bytes_total, _transmit_bytes_total, _period_bytes{direction},
//	_cap_bytes, _failovers_total{reason}, _public_address_info{address}
//	pathpin_dhcp_lease_remaining_seconds, pathpin_ppp_session_uptime_seconds
//	pathpin_policy_matched_total{policy}
//	pathpin_applies_total, pathpin_apply_seconds_total
//
// each per uplink labelled uplink="name".
func writeMetrics(ctx context.Context, w http.ResponseWriter, src Source, log *slog.Logger, now func() time.Time) {
	start := now()
	ctx, cancel := context.WithTimeout(ctx, askTimeout)
	defer cancel()
	r, err := src.Status(ctx)
	s := set{metrics.NewSet()}
	s.gauge("pathpin_scrape_seconds", now().Sub(start).Seconds())
	if err != nil {
		if log != nil {
			log.Warn("pathpin up did not answer a scrape", "err", err)
		}
		s.gauge("pathpin_up", 0)
		s.WritePrometheus(w)
		return
	}
	s.gauge("pathpin_up", 1)
	for i := range r.Uplinks {
		uplinkMetrics(s, &r.Uplinks[i], now())
	}
	for _, p := range r.Policies {
		s.counter("pathpin_policy_matched_total", float64(p.Matched), "policy", p.Name)
	}
	if a := r.Applies; a != nil {
		s.counter("pathpin_applies_total", float64(a.Count))
		s.counter("pathpin_apply_seconds_total", a.Seconds)
	}
	s.WritePrometheus(w)
}

func uplinkMetrics(s set, u *status.Uplink, now time.Time) {
	l := func(more ...string) []string { return append([]string{"uplink", u.Name}, more...) }
	up := 0.0
	if u.State == "up" || u.State == "degraded" {
		up = 1
	}
	s.gauge("pathpin_uplink_up", up, l()...)
	for _, st := range states {
		v := 0.0
		if u.State == st {
			v = 1
		}
		s.gauge("pathpin_uplink_state", v, l("state", st)...)
	}
	s.gauge("pathpin_uplink_weight", float64(u.Weight), l()...)
	if u.RTTMillis != nil {
		s.gauge("pathpin_uplink_probe_rtt_seconds", *u.RTTMillis/1000, l()...)
	}
	if u.Loss != nil {
		s.gauge("pathpin_uplink_probe_loss_ratio", *u.Loss, l()...)
	}
	s.counter("pathpin_uplink_probe_rounds_total", float64(u.ProbeRoundsTotal), l()...)
	if u.Flows != nil {
		s.gauge("pathpin_uplink_flows", float64(*u.Flows), l()...)
	}
	if u.NewConns != nil {
		s.counter("pathpin_uplink_new_connections_total", float64(*u.NewConns), l()...)
	}
	s.counter("pathpin_uplink_receive_bytes_total", float64(u.RxBytes), l()...)
	s.counter("pathpin_uplink_transmit_bytes_total", float64(u.TxBytes), l()...)
	if us := u.Usage; us != nil {
		s.gauge("pathpin_uplink_period_bytes", float64(us.In), l("direction", "in")...)
		s.gauge("pathpin_uplink_period_bytes", float64(us.Out), l("direction", "out")...)
		if us.Cap > 0 {
			s.gauge("pathpin_uplink_cap_bytes", float64(us.Cap), l()...)
		}
	}
	for reason, n := range u.Failovers {
		s.counter("pathpin_uplink_failovers_total", float64(n), l("reason", reason)...)
	}
	if le := u.Lease; le != nil && !le.Expiry.IsZero() {
		s.gauge("pathpin_dhcp_lease_remaining_seconds", max(le.Expiry.Sub(now).Seconds(), 0), l()...)
	}
	if se := u.Session; se != nil && !se.Since.IsZero() {
		s.gauge("pathpin_ppp_session_uptime_seconds", now.Sub(se.Since).Seconds(), l()...)
	}
	if u.PublicAddress != "" {
		s.gauge("pathpin_uplink_public_address_info", 1, l("address", u.PublicAddress)...)
	}
}
