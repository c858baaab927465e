package web

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/pathpin/pathpin/internal/config"
	"github.com/pathpin/pathpin/internal/history"
	"github.com/pathpin/pathpin/internal/status"
)

// fakeSource answers with a fixed report, or fails.
type fakeSource struct {
	r   *status.Report
	err error
}

func (f fakeSource) Status(context.Context) (*status.Report, error) { return f.r, f.err }
func (f fakeSource) History(context.Context) (*history.History, error) {
	return &history.History{StepSeconds: 60}, f.err
}

func sampleReport() *status.Report {
	flows, rtt, loss := 12, 3.5, 0.25
	news := uint64(40)
	exp := time.Now().Add(90 * time.Second)
	return &status.Report{Source: "daemon", Uplinks: []status.Uplink{
		{Name: "talktalk", State: "up", Weight: 1, Flows: &flows, RTTMillis: &rtt, Loss: &loss, NewConns: &news, RxBytes: 100, TxBytes: 200,
			ProbeRoundsTotal: 9, Failovers: map[string]uint64{"carrier": 2}, PublicAddress: "198.51.100.7",
			Lease: &status.Lease{Expiry: exp}, Usage: &status.Usage{In: 5, Out: 6, Cap: 100}},
		{Name: "plusnet", State: "down", Reason: "PPP down", Session: &status.Session{Since: time.Now().Add(-time.Minute)}},
	}, Policies: []status.Policy{{Name: "phone", Matched: 7}}, Applies: &status.Applies{Count: 3, Seconds: 0.5}}
}

func get(t *testing.T, h http.Handler, method, path string) (int, string) {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(method, path, nil))
	b, _ := io.ReadAll(rec.Body)
	return rec.Code, string(b)
}

// TestMetrics: every metric the issue names comes out of one report, in
// the text format, with its labels.
func TestMetrics(t *testing.T) {
	h := Handler(Options{Source: fakeSource{r: sampleReport()}})
	code, body := get(t, h, "GET", "/metrics")
	if code != 200 {
		t.Fatalf("GET /metrics: %d", code)
	}
	for _, want := range []string{
		"pathpin_up 1", "# TYPE pathpin_uplink_new_connections_total counter", "# TYPE pathpin_uplink_flows gauge", `pathpin_uplink_up{uplink="talktalk"} 1`, `pathpin_uplink_up{uplink="plusnet"} 0`,
		`pathpin_uplink_state{uplink="plusnet",state="down"} 1`, `pathpin_uplink_probe_rtt_seconds{uplink="talktalk"} 0.0035`,
		`pathpin_uplink_probe_loss_ratio{uplink="talktalk"} 0.25`, `pathpin_uplink_flows{uplink="talktalk"} 12`,
		`pathpin_uplink_new_connections_total{uplink="talktalk"} 40`, `pathpin_uplink_failovers_total{uplink="talktalk",reason="carrier"} 2`,
		`pathpin_uplink_probe_rounds_total{uplink="talktalk"} 9`, `pathpin_policy_matched_total{policy="phone"} 7`,
		"pathpin_applies_total 3", "pathpin_apply_seconds_total 0.5", `pathpin_uplink_receive_bytes_total{uplink="talktalk"} 100`,
		`pathpin_uplink_period_bytes{uplink="talktalk",direction="out"} 6`, `pathpin_uplink_cap_bytes{uplink="talktalk"} 100`,
		`pathpin_uplink_public_address_info{uplink="talktalk",address="198.51.100.7"} 1`,
		`pathpin_dhcp_lease_remaining_seconds{uplink="talktalk"}`, `pathpin_ppp_session_uptime_seconds{uplink="plusnet"}`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("metrics lack %q", want)
		}
	}
	if t.Failed() {
		t.Log(body)
	}
	_, body = get(t, Handler(Options{Source: fakeSource{err: errors.New("no daemon")}}), "GET", "/metrics")
	if !strings.Contains(body, "pathpin_up 0") || strings.Contains(body, "pathpin_uplink_up") {
		t.Fatalf("metrics without a daemon:\n%s", body)
	}
}

// TestReadOnlyRoutes: the JSON routes, nothing but GET and HEAD, and the
// daemon's absence said plainly.
func TestReadOnlyRoutes(t *testing.T) {
	h := Handler(Options{Source: fakeSource{r: sampleReport()}})
	if code, body := get(t, h, "GET", "/api/status"); code != 200 || !strings.Contains(body, `"name":"talktalk"`) {
		t.Fatalf("/api/status: %d %s", code, body)
	}
	if code, body := get(t, h, "GET", "/api/history"); code != 200 || !strings.Contains(body, `"step_seconds":60`) {
		t.Fatalf("/api/history: %d %s", code, body)
	}
	for _, m := range []string{"POST", "PUT", "DELETE"} {
		if code, _ := get(t, h, m, "/api/status"); code != http.StatusMethodNotAllowed {
			t.Errorf("%s /api/status: %d", m, code)
		}
	}
	down := Handler(Options{Source: fakeSource{err: errors.New("dial unix: no such file")}})
	if code, body := get(t, down, "GET", "/api/status"); code != http.StatusServiceUnavailable || !strings.Contains(body, "pathpin up is not answering") {
		t.Fatalf("/api/status without a daemon: %d %s", code, body)
	}
}

// TestAddresses: the LAN's addresses and localhost by default, the
// configured ones otherwise, and never an uplink's.
func TestAddresses(t *testing.T) {
	cfg, err := config.Parse("w.yaml", []byte("lan:\n  interfaces: [lan0]\nuplinks:\n  - {name: a, interface: wan0, gateway: 192.168.1.254}\n"))
	if err != nil {
		t.Fatal(err)
	}
	addrs := func(iface string) []netip.Addr {
		return map[string][]netip.Addr{"lan0": {netip.MustParseAddr("10.0.0.1"), netip.MustParseAddr("fe80::1")}, "wan0": {netip.MustParseAddr("192.168.1.2")}}[iface]
	}
	got, err := Addresses(cfg, addrs)
	if err != nil || len(got) != 2 || got[0].String() != "10.0.0.1:9430" || got[1].String() != "127.0.0.1:9430" {
		t.Fatalf("default addresses %v, %v", got, err)
	}
	cfg.Web.Listen = []netip.AddrPort{netip.MustParseAddrPort("192.168.1.2:9430")}
	if _, err := Addresses(cfg, addrs); err == nil || !strings.Contains(err.Error(), "is uplink a's address") {
		t.Fatalf("an uplink's address: %v", err)
	}
}

// TestHostAllowed: the router's addresses and LAN names, never another
// site's name (DNS rebinding).
func TestHostAllowed(t *testing.T) {
	for host, want := range map[string]bool{
		"10.0.0.1:9430": true, "[fe80::1]:9430": true, "localhost:9430": true, "router": true, "router.lan:9430": true,
		"gw.home.arpa": true, "evil.example.com": false, "10.0.0.1.nip.io:9430": false, "": false,
	} {
		if got := hostAllowed(host); got != want {
			t.Errorf("hostAllowed(%q) = %v, want %v", host, got, want)
		}
	}
}

// countingSource counts the questions that reach it.
type countingSource struct {
	fakeSource
	n int
}

func (c *countingSource) Status(ctx context.Context) (*status.Report, error) {
	c.n++
	return c.fakeSource.Status(ctx)
}

// TestCached: answers are shared for their age, and asked again after.
func TestCached(t *testing.T) {
	src := &countingSource{fakeSource: fakeSource{r: sampleReport()}}
	c := &cached{src: src, maxAge: 50 * time.Millisecond}
	for range 10 {
		if _, err := c.Status(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	if src.n != 1 {
		t.Fatalf("10 questions within the age reached the daemon %d times", src.n)
	}
	time.Sleep(60 * time.Millisecond) // older than maxAge
	_, _ = c.Status(context.Background())
	if src.n != 2 {
		t.Fatalf("a question after the age was not asked again (%d)", src.n)
	}
}
