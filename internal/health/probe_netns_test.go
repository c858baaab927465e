package health

import (
	"context"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/pathpin/pathpin/internal/netnstest"
)

func TestMain(m *testing.M) { os.Exit(netnstest.Main(m)) }

// TestProbesFollowTheirUplink probes the server through each uplink of
// the two-ISP lab (pathpin applied, so each mark has its table), then
// makes ispB drop everything: only ispB's probes must fail, both by ICMP
// and by TCP.
func TestProbesFollowTheirUplink(t *testing.T) {
	l := netnstest.NewTwoISP(t)
	dir := t.TempDir()
	cfg := filepath.Join(dir, "pathpin.yaml")
	if err := os.WriteFile(cfg, []byte(l.Config(1, 1, "")), 0o644); err != nil {
		t.Fatal(err)
	}
	l.Router.Run(netnstest.Binary(t), "apply", "-c", cfg, "--state-dir", dir)
	paths := []Path{
		{Device: "wan0", Source: netip.MustParseAddr(l.UplinkAddrs[0]), Mark: 0x100},
		{Device: "wan1", Source: netip.MustParseAddr(l.UplinkAddrs[1]), Mark: 0x200},
	}
	target := netip.MustParseAddr(netnstest.ServerAddr)
	probe := func(p Prober, path Path) error {
		var err error
		l.Router.Do(func() {
			ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
			defer cancel()
			_, err = p.Probe(ctx, path, target)
		})
		return err
	}
	// A resolver and a web server on the server, for the dns and http
	// probes.
	l.Server.Start("dnsmasq", "--keep-in-foreground", "--no-resolv", "--no-hosts", "--conf-file=/dev/null",
		"--pid-file="+filepath.Join(dir, "dns.pid"), "--listen-address="+netnstest.ServerAddr, "--bind-interfaces",
		"--address=/example.com/192.0.2.1")
	web := l.Server.Listen(netnstest.ServerAddr + ":8080")
	go func() {
		_ = http.Serve(web, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path == "/generate_204" {
				w.WriteHeader(http.StatusNoContent)
				return
			}
			http.Redirect(w, r, "http://portal.example/", http.StatusFound)
		}))
	}()
	probers := map[string]Prober{"icmp": ICMP{}, "tcp": TCP{Port: 80}, "dns": DNS{Name: "example.com"},
		"http": HTTP{Port: 8080, Path: "/generate_204", Status: 204}}
	// dnsmasq takes a moment to listen.
	deadline := time.Now().Add(5 * time.Second)
	for probe(probers["dns"], paths[0]) != nil && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	// A captive portal's redirect is no answer.
	if err := probe(HTTP{Port: 8080, Path: "/portal", Status: 204}, paths[0]); err == nil {
		t.Error("an http probe took a redirect for the status it expects")
	}
	for name, p := range probers {
		for _, path := range paths {
			if err := probe(p, path); err != nil {
				t.Errorf("%s probe via %s: %v", name, path.Device, err)
			}
		}
	}
	l.ISPs[1].Run("iptables", "-I", "FORWARD", "-j", "DROP")
	for name, p := range probers {
		if err := probe(p, paths[0]); err != nil {
			t.Errorf("%s probe via the healthy wan0: %v", name, err)
		}
		if err := probe(p, paths[1]); err == nil {
			t.Errorf("%s probe via wan1 answered although ispB drops everything", name)
		}
	}
	// A probe whose context is cancelled (a reload) ends at once, not at
	// its deadline.
	for name, p := range probers {
		var err error
		start := time.Now()
		l.Router.Do(func() {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			time.AfterFunc(100*time.Millisecond, cancel)
			_, err = p.Probe(ctx, paths[1], target)
		})
		if took := time.Since(start); err == nil || took > 2*time.Second {
			t.Errorf("%s probe cancelled after 100 ms returned after %s (%v); want at once", name, took, err)
		}
	}
}
