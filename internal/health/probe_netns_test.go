package health

import (
	"context"
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
	probers := map[string]Prober{"icmp": ICMP{}, "tcp": TCP{Port: 80}}
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
