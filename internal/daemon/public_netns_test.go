package daemon

import (
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pathpin/pathpin/internal/netnstest"
)

// natLab is the two-ISP lab with each ISP source-NATing what it forwards
// to the server to an address of its own (as an ISP router's NAT does),
// and a STUN server (coturn) on the server.
func natLab(t *testing.T, extra string) *failoverLab {
	netnstest.RequireRoot(t, "turnserver", "ss")
	l := prepareLab(t, 1, 1, "")
	for i, isp := range l.ISPs {
		public := []string{"198.51.100.7", "198.51.100.9"}[i]
		natTo(isp, public)
		l.Server.Run("ip", "route", "add", public+"/32", "via", []string{"172.16.1.1", "172.16.2.1"}[i])
	}
	l.Server.Run("ip", "route", "add", "198.51.100.8/32", "via", "172.16.1.1")
	l.Server.StartSTUN(netnstest.ServerAddr)
	l.writeConfig(1, 1, "public-address:\n  stun: ['"+netnstest.ServerAddr+":3478']\n  interval: 2s\n"+extra)
	l.start()
	l.waitState("ispa", "up", 10*time.Second)
	l.waitState("ispb", "up", 10*time.Second)
	return l
}

// natTo makes isp source-NAT what leaves towards the server to public,
// and forget the translations it made before.
func natTo(isp *netnstest.NS, public string) {
	isp.Run("nft", "add table ip ispnat; flush table ip ispnat; add chain ip ispnat post { type nat hook postrouting priority 100; }; add rule ip ispnat post oifname core snat to "+public)
	_ = isp.Command("conntrack", "-F").Run()
}

// TestPublicAddress: each uplink's public address is the one its ISP's
// NAT gives (found through it with a real STUN server), not its
// interface's; a change of the NAT's address is seen within an interval
// and told to the on-change command; a real ddclient with
// cmdv4='pathpin status --public-address ispa' sends it to a dyndns2
// receiver.
func TestPublicAddress(t *testing.T) {
	events := filepath.Join(t.TempDir(), "events")
	l := natLab(t, "health:\n  on-change: [sh, -c, 'echo \"$PATHPIN_UPLINK $PATHPIN_PUBLIC_ADDRESS $PATHPIN_REASON\" >> "+events+"']\n")
	waitPublic := func(name, want string, limit time.Duration) time.Duration {
		t.Helper()
		start := time.Now()
		for deadline := start.Add(limit); ; time.Sleep(50 * time.Millisecond) {
			u := l.state(name)
			if u.PublicAddress == want {
				if !strings.HasPrefix(u.PublicSource, "stun ") {
					t.Errorf("%s's public address came from %q", name, u.PublicSource)
				}
				return time.Since(start)
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s's public address is %q, not %s after %s\n%s", name, u.PublicAddress, want, limit, l.logText())
			}
		}
	}
	waitPublic("ispa", "198.51.100.7", 10*time.Second)
	waitPublic("ispb", "198.51.100.9", 10*time.Second)
	if out := l.Router.Run(l.bin, "status", "--public-address", "ispb", "-c", l.cfg, "--state-dir", l.runDir); strings.TrimSpace(out) != "198.51.100.9" {
		t.Fatalf("status --public-address ispb: %q", out)
	}

	natTo(l.ISPs[0], "198.51.100.8")
	took := waitPublic("ispa", "198.51.100.8", 6*time.Second)
	t.Logf("the NAT's new address seen after %s (interval 2s)", took.Round(time.Millisecond))
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		b, _ := os.ReadFile(events)
		if strings.Contains(string(b), "ispa 198.51.100.8 public address changed: 198.51.100.7 → 198.51.100.8") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the on-change command was not told of the new address:\n%s", b)
		}
	}

	// ddclient, as its documentation for pathpin says.
	netnstest.RequireRoot(t, "ddclient")
	var mu sync.Mutex
	var updates []string
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		user, pass, _ := r.BasicAuth()
		updates = append(updates, r.URL.Path+" "+r.URL.Query().Get("hostname")+" "+r.URL.Query().Get("myip")+" "+user+":"+pass)
		_, _ = w.Write([]byte("good " + r.URL.Query().Get("myip") + "\n"))
	})}
	go func() { _ = srv.Serve(l.Server.Listen(netnstest.ServerAddr + ":8245")) }()
	t.Cleanup(func() { srv.Close() })
	dir := t.TempDir()
	script := filepath.Join(dir, "public-ip")
	if err := os.WriteFile(script, []byte("#!/bin/sh\nexec "+l.bin+" status --public-address ispa -c "+l.cfg+" --state-dir "+l.runDir+"\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	conf := filepath.Join(dir, "ddclient.conf")
	if err := os.WriteFile(conf, []byte("daemon=0\nssl=no\nprotocol=dyndns2\nserver="+netnstest.ServerAddr+":8245\nlogin=home\npassword=secret\nusev4=cmdv4\ncmdv4="+script+"\nhome.example.net\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := l.Router.Command("ddclient", "-daemon=0", "-foreground", "-noquiet", "-verbose", "-file", conf, "-cache", filepath.Join(dir, "cache")).CombinedOutput()
	mu.Lock()
	defer mu.Unlock()
	if err != nil || len(updates) != 1 || updates[0] != "/nic/update home.example.net 198.51.100.8 home:secret" {
		t.Fatalf("ddclient sent %q (%v):\n%s", updates, err, out)
	}
}
