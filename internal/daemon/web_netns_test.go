package daemon

import (
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/pathpin/pathpin/internal/history"
	"github.com/pathpin/pathpin/internal/netnstest"
)

// httpIn is an HTTP client whose connections are made in ns.
func httpIn(ns *netnstest.NS) *http.Client {
	return &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) { return ns.Dial(addr, 2*time.Second) },
	}}
}

// openToOthers makes dir and its parents traversable, as systemd's
// RuntimeDirectory makes the state dir.
func openToOthers(t testing.TB, dir string) {
	for ; dir != "/tmp" && dir != "/"; dir = filepath.Dir(dir) {
		if err := os.Chmod(dir, 0o755); err != nil {
			t.Fatal(err)
		}
	}
}

// startWeb runs pathpin web in the router's namespace as an unprivileged
// user (nobody, with the given supplementary groups; "root": as root) and
// waits until it answers on addr.
func startWeb(t testing.TB, l *failoverLab, cfg, addr string, groups string) {
	t.Helper()
	args := []string{"--reuid=65534", "--regid=4242", "--inh-caps=-all"}
	switch groups {
	case "root":
		// As root (benchmarks): no setpriv.
		args = nil
	case "":
		args = append(args, "--clear-groups")
	default:
		args = append(args, "--groups="+groups)
	}
	cmd := l.Router.Command("setpriv", append(args, l.bin, "web", "-c", cfg, "--state-dir", l.runDir)...)
	if args == nil {
		cmd = l.Router.Command(l.bin, "web", "-c", cfg, "--state-dir", l.runDir)
	}
	out, _ := os.Create(filepath.Join(t.TempDir(), "web.log"))
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _, _ = cmd.Process.Wait() })
	c := httpIn(l.Client)
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		if r, err := c.Get("http://" + addr + "/metrics"); err == nil {
			r.Body.Close()
			return
		}
		if time.Now().After(deadline) {
			b, _ := os.ReadFile(out.Name())
			t.Fatalf("pathpin web did not answer on %s:\n%s", addr, b)
		}
	}
}

// TestWebAndPrometheus: pathpin web, unprivileged, serves the status,
// the history and metrics on the LAN's address; a real Prometheus on a
// LAN client scrapes it and sees an uplink up, then down after its
// carrier is lost, with the failover counted by its reason. The web
// process changes nothing (only GET), and without the socket's group it
// gets nothing from the daemon.
func TestWebAndPrometheus(t *testing.T) {
	netnstest.RequireRoot(t, "prometheus", "setpriv")
	l := prepareLab(t, 1, 1, fastHealth)
	l.start("--status-group", "nogroup", "--history-step", "1s")
	l.waitState("ispa", "up", 10*time.Second)
	l.waitState("ispb", "up", 10*time.Second)
	openToOthers(t, l.runDir)
	if err := os.Chmod(l.cfg, 0o644); err != nil {
		t.Fatal(err)
	}
	startWeb(t, l, l.cfg, "10.0.0.1:9430", "65534")
	c := httpIn(l.Client)
	get := func(path string) (int, string) {
		r, err := c.Get("http://10.0.0.1:9430" + path)
		if err != nil {
			t.Fatalf("GET %s: %v", path, err)
		}
		defer r.Body.Close()
		b, _ := io.ReadAll(r.Body)
		return r.StatusCode, string(b)
	}
	if code, body := get("/api/status"); code != 200 || !strings.Contains(body, `"source":"daemon"`) || !strings.Contains(body, `"name":"ispb"`) {
		t.Fatalf("/api/status: %d %s", code, body)
	}
	if r, err := c.Post("http://10.0.0.1:9430/api/status", "application/json", strings.NewReader("{}")); err != nil || r.StatusCode != http.StatusMethodNotAllowed {
		t.Fatalf("POST to pathpin web: %v %v", r, err)
	}

	// Prometheus on the LAN client, scraping every second.
	dir := t.TempDir()
	promCfg := filepath.Join(dir, "prometheus.yml")
	if err := os.WriteFile(promCfg, []byte("global:\n  scrape_interval: 1s\nscrape_configs:\n  - job_name: pathpin\n    static_configs:\n      - targets: ['10.0.0.1:9430']\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	prom := l.Client.Command("prometheus", "--config.file="+promCfg, "--storage.tsdb.path="+filepath.Join(dir, "data"), "--web.listen-address=127.0.0.1:9090")
	promLog, _ := os.Create(filepath.Join(dir, "prometheus.log"))
	prom.Stdout, prom.Stderr = promLog, promLog
	if err := prom.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = prom.Process.Kill(); _, _ = prom.Process.Wait() })
	query := func(q string) (float64, bool) {
		r, err := c.Get("http://127.0.0.1:9090/api/v1/query?query=" + url.QueryEscape(q))
		if err != nil {
			return 0, false
		}
		defer r.Body.Close()
		var res struct {
			Data struct {
				Result []struct {
					Value [2]any `json:"value"`
				} `json:"result"`
			} `json:"data"`
		}
		if json.NewDecoder(r.Body).Decode(&res) != nil || len(res.Data.Result) != 1 {
			return 0, false
		}
		s, _ := res.Data.Result[0].Value[1].(string)
		v, err := strconv.ParseFloat(s, 64)
		return v, err == nil
	}
	waitQuery := func(q string, ok func(float64) bool, limit time.Duration) float64 {
		t.Helper()
		for deadline := time.Now().Add(limit); ; time.Sleep(200 * time.Millisecond) {
			if v, found := query(q); found && ok(v) {
				return v
			}
			if time.Now().After(deadline) {
				v, found := query(q)
				b, _ := os.ReadFile(promLog.Name())
				t.Fatalf("Prometheus: %s is %v (found %v) after %s\n%s", q, v, found, limit, b)
			}
		}
	}
	waitQuery(`up{job="pathpin"}`, func(v float64) bool { return v == 1 }, 60*time.Second)
	waitQuery(`pathpin_uplink_up{uplink="ispb"}`, func(v float64) bool { return v == 1 }, 20*time.Second)

	l.ISPs[1].Run("ip", "link", "set", "cpe", "down")
	l.waitState("ispb", "down", 5*time.Second)
	waitQuery(`pathpin_uplink_up{uplink="ispb"}`, func(v float64) bool { return v == 0 }, 20*time.Second)
	waitQuery(`pathpin_uplink_failovers_total{uplink="ispb",reason="carrier"}`, func(v float64) bool { return v >= 1 }, 20*time.Second)
	waitQuery(`pathpin_uplink_up{uplink="ispa"}`, func(v float64) bool { return v == 1 }, 5*time.Second)

	// The history: points every second here, and the change with its
	// reason.
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(200 * time.Millisecond) {
		_, body := get("/api/history")
		var h history.History
		if err := json.Unmarshal([]byte(body), &h); err != nil {
			t.Fatalf("/api/history: %v\n%s", err, body)
		}
		points, carrier := 0, false
		for _, u := range h.Uplinks {
			if u.Name == "ispb" {
				points = len(u.Points)
			}
		}
		for _, e := range h.Events {
			carrier = carrier || e.Uplink == "ispb" && e.To == "down" && strings.Contains(e.Reason, "carrier")
		}
		if points >= 3 && carrier {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the history lacks ispb's points (%d) or its carrier loss:\n%s", points, body)
		}
	}

	// Without the socket's group, pathpin web learns nothing.
	other := filepath.Join(filepath.Dir(l.cfg), "web-nogroup.yaml")
	b, _ := os.ReadFile(l.cfg)
	if err := os.WriteFile(other, append(b, []byte("web: {listen: [10.0.0.1:9431]}\n")...), 0o644); err != nil {
		t.Fatal(err)
	}
	startWeb(t, l, other, "10.0.0.1:9431", "")
	r, err := c.Get("http://10.0.0.1:9431/api/status")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(r.Body)
	r.Body.Close()
	if r.StatusCode != http.StatusServiceUnavailable || !strings.Contains(string(body), "permission denied") {
		t.Fatalf("pathpin web without the socket's group: %d %s", r.StatusCode, body)
	}
}
