package pppd

import (
	"bytes"
	"context"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pathpin/pathpin/pppoe"
)

func testOptions() *Options {
	return &Options{
		Uplink:   "plusnet",
		Session:  pppoe.Session{Interface: "eth1.1000", ACMAC: net.HardwareAddr{2, 0, 0, 0, 0xac, 1}, ID: 4660},
		Username: "someone@plus.net", Password: `p"a\ss word`,
		IfName: "ppp1", MTU: 1492, LCPEchoInterval: 2, LCPEchoFailure: 3,
		IPUpScript: "/run/pathpin/hooks/ip-up", IPDownScript: "/run/pathpin/hooks/ip-down",
		Env:    map[string]string{"PATHPIN_STATE_DIR": "/run/pathpin", "PATHPIN_CONFIG": "/etc/pathpin/pathpin.yaml"},
		Plugin: "pppoe.so", SessionOption: "pppoe-sess",
	}
}

func TestOptionsRender(t *testing.T) {
	got := testOptions().Render()
	for _, want := range []string{
		"plugin pppoe.so\n", "nic-eth1.1000\n", "pppoe-sess 4660:02:00:00:00:ac:01\n",
		`password "p\"a\\ss word"` + "\n", "ifname ppp1\n", "ipparam plusnet\n", "noipdefault\n", "nodefaultroute\n",
		"nodetach\n", "lcp-echo-interval 2\n", "lcp-echo-failure 3\n", "ip-up-script /run/pathpin/hooks/ip-up\n",
		`set "PATHPIN_CONFIG=/etc/pathpin/pathpin.yaml"` + "\n",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("options lack %q:\n%s", want, got)
		}
	}
	for _, line := range strings.Split(got, "\n") {
		if f := strings.Fields(line); len(f) > 0 && (f[0] == "defaultroute" || f[0] == "replacedefaultroute" || f[0] == "usepeerdns") {
			t.Errorf("options ask pppd for %q: pathpin owns the routes and resolv.conf", line)
		}
	}
}

func TestOptionsWriteIsPrivate(t *testing.T) {
	dir := t.TempDir()
	path, err := testOptions().Write(dir)
	if err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(path)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("options file mode %v, %v; want 0600", fi.Mode(), err)
	}
}

func TestDetectPlugin(t *testing.T) {
	dir := t.TempDir()
	if _, _, err := DetectPlugin(dir); err == nil {
		t.Fatal("no plugin found nothing?")
	}
	os.WriteFile(filepath.Join(dir, "rp-pppoe.so"), []byte("...rp_pppoe_sess..."), 0o644)
	if p, o, _ := DetectPlugin(dir); p != "rp-pppoe.so" || o != "rp_pppoe_sess" {
		t.Fatalf("old plugin: %s %s", p, o)
	}
	os.WriteFile(filepath.Join(dir, "pppoe.so"), []byte("...pppoe-sess...rp_pppoe_sess"), 0o644)
	if p, o, _ := DetectPlugin(dir); p != "pppoe.so" || o != "pppoe-sess" {
		t.Fatalf("new plugin: %s %s", p, o)
	}
}

func TestBackoff(t *testing.T) {
	b := &Backoff{Initial: time.Second, Max: 8 * time.Second, StableAfter: time.Minute}
	var got []time.Duration
	for i := 0; i < 6; i++ {
		got = append(got, b.Next(time.Second))
	}
	bases := []time.Duration{1, 2, 4, 8, 8, 8}
	for i, d := range got {
		base := bases[i] * time.Second
		if d < base*8/10 || d > base*12/10 {
			t.Errorf("retry %d waited %s, want %s ±20%%", i, d, base)
		}
	}
	if d := b.Next(2 * time.Minute); d > 1200*time.Millisecond {
		t.Errorf("after a stable session the wait is %s, want about 1s", d)
	}
}

func TestStore(t *testing.T) {
	s := Store{Dir: t.TempDir()}
	if got, err := s.Load("x"); got != nil || err != nil {
		t.Fatalf("empty store: %v %v", got, err)
	}
	sess := &pppoe.Session{Interface: "eth1.1000", ACMAC: net.HardwareAddr{2, 0, 0, 0, 0xac, 1}, ID: 7, ACName: "bras"}
	if err := s.Save("x", sess); err != nil {
		t.Fatal(err)
	}
	got, err := s.Load("x")
	if err != nil || got.String() != "7:02:00:00:00:ac:01" || got.Interface != "eth1.1000" {
		t.Fatalf("Load = %+v, %v", got, err)
	}
	s.Clear("x")
	if got, _ := s.Load("x"); got != nil {
		t.Fatal("Clear kept the session")
	}
}

// stand-in pppd programs for Run.
func script(t *testing.T, body string) string {
	path := filepath.Join(t.TempDir(), "pppd")
	if err := os.WriteFile(path, []byte("#!/bin/sh\n"+body), 0o755); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestRunRelaysLogAndExitStatus(t *testing.T) {
	var buf bytes.Buffer
	log := slog.New(slog.NewTextHandler(&buf, nil))
	res, err := Run(context.Background(), script(t, "echo \"options: $2\"; echo oops >&2; exit 16\n"), "/opts", time.Second, log, nil)
	if err != nil {
		t.Fatal(err)
	}
	if res.Code != ExitHangup || res.Stopped || !res.EndedCleanly() {
		t.Fatalf("Run = %+v", res)
	}
	if !strings.Contains(buf.String(), "pppd: options: /opts") || !strings.Contains(buf.String(), "pppd: oops") {
		t.Fatalf("log:\n%s", buf.String())
	}
}

// cancelWhenReady cancels once the script has made ready: its trap is set.
func cancelWhenReady(t *testing.T, ready string, cancel func()) {
	go func() {
		for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
			if _, err := os.Stat(ready); err == nil {
				break
			}
		}
		cancel()
	}()
}

func TestRunStops(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	ready := filepath.Join(t.TempDir(), "ready")
	pppd := script(t, "trap 'exit 5' TERM\ntouch "+ready+"\nsleep 30 & wait\n")
	var pid int
	cancelWhenReady(t, ready, cancel)
	res, err := Run(ctx, pppd, "/opts", 2*time.Second, slog.New(slog.DiscardHandler), func(p int) { pid = p })
	if err != nil || pid == 0 {
		t.Fatal(err, pid)
	}
	if !res.Stopped || res.Code != ExitUserRequest || !res.EndedCleanly() {
		t.Fatalf("Run = %+v", res)
	}

	// One that ignores SIGTERM is killed after the grace period, and its
	// session is not taken as closed.
	ctx, cancel = context.WithCancel(context.Background())
	ready = filepath.Join(t.TempDir(), "ready")
	cancelWhenReady(t, ready, cancel)
	start := time.Now()
	res, err = Run(ctx, script(t, "trap '' TERM\ntouch "+ready+"\nwhile :; do sleep 0.05; done\n"), "/opts", 300*time.Millisecond, slog.New(slog.DiscardHandler), nil)
	if err != nil {
		t.Fatal(err)
	}
	if res.EndedCleanly() || time.Since(start) > 3*time.Second {
		t.Fatalf("stubborn pppd: %+v after %s", res, time.Since(start))
	}
}
