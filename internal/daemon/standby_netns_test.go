package daemon

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pathpin/pathpin/internal/netnstest"
)

// TestColdStandbyDHCP: a DHCP cold standby asks for no lease (no
// DISCOVER at the server) while the static uplink is in service; when
// that one loses its carrier the standby is leased and carries the LAN's
// new connections; once the static uplink is back and its failback hold
// has passed, the standby releases its lease and is idle again, and the
// on-change command is told.
func TestColdStandbyDHCP(t *testing.T) {
	netnstest.RequireRoot(t, "dnsmasq")
	l := prepareLab(t, 1, 1, "")
	l.Router.Run("ip", "addr", "flush", "dev", "wan0")
	srv := l.ISPs[0].StartDHCPServer(netnstest.DHCPServer{Interface: "cpe", Range: "192.168.1.10,192.168.1.20,255.255.255.0,2m",
		Router: "192.168.1.254", Extra: []string{"--no-ping"}})
	events := filepath.Join(t.TempDir(), "events")
	const hold = 2 * time.Second
	cfg := `lan:
  interfaces: [lan0]
uplinks:
  - name: ispa
    interface: wan0
    standby: cold
    dhcp: {}
  - name: ispb
    interface: wan1
    gateway: 192.168.2.254
    failback: {hold: 2s}
health:
  targets: [203.0.113.10]
  interval: 100ms
  timeout: 80ms
  on-change: [sh, -c, 'echo "$PATHPIN_UPLINK $PATHPIN_FROM $PATHPIN_TO $PATHPIN_REASON" >> ` + events + `']
`
	if err := os.WriteFile(l.cfg, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	l.start()
	l.waitState("ispb", "up", 10*time.Second)
	// Idle: 30 of ispb's rounds (3 s) and not one DISCOVER.
	for deadline := time.Now().Add(20 * time.Second); l.state("ispb").Probes < 30; time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("ispb made no 30 probe rounds:\n%s", l.logText())
		}
	}
	if a := l.state("ispa"); !strings.Contains(a.Reason, "cold standby") || !strings.Contains(a.Standby, "cold") || a.Local != "" {
		t.Fatalf("ispa while ispb serves: %+v", a)
	}
	if strings.Contains(srv.LogText(), "DHCPDISCOVER") {
		t.Fatalf("the cold standby asked for a lease while ispb was in service:\n%s", srv.LogText())
	}
	if got := l.connect(10); got[l.UplinkAddrs[1]] != 10 {
		t.Fatalf("connections while ispb serves: %v", got)
	}

	l.ISPs[1].Run("ip", "link", "set", "cpe", "down")
	a := l.waitState("ispa", "up", 20*time.Second)
	if !strings.Contains(srv.LogText(), "DHCPDISCOVER") {
		t.Fatalf("ispa is up without a DISCOVER:\n%s", srv.LogText())
	}
	if got := l.connect(20); got[a.Local] != 20 {
		t.Fatalf("with ispb dead, connections went %v; want all 20 by the standby's %s", got, a.Local)
	}

	l.ISPs[1].Run("ip", "link", "set", "cpe", "up")
	back := time.Now()
	l.waitState("ispb", "up", 20*time.Second)
	for deadline := time.Now().Add(20 * time.Second); !strings.Contains(srv.LogText(), "DHCPRELEASE"); time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("the standby did not release its lease after ispb came back:\n%s\n%s", srv.LogText(), l.logText())
		}
	}
	if held := time.Since(back); held < hold {
		t.Errorf("the standby was released %s after ispb's link came back: before the hold of %s", held, hold)
	}
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		if a := l.state("ispa"); a.State == "down" && strings.Contains(a.Reason, "cold standby") && a.Local == "" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("ispa after the release: %+v", l.state("ispa"))
		}
	}
	if got := l.connect(20); got[l.UplinkAddrs[1]] != 20 {
		t.Fatalf("after failback, connections went %v; want all by ispb", got)
	}
	b, _ := os.ReadFile(events)
	if !strings.Contains(string(b), "ispa up standby cold standby taken down: ispb is in service again") {
		t.Errorf("the on-change command was not told of the standby going idle:\n%s", b)
	}
	if c := l.state("ispa").LastChange; c == nil || c.To != "standby" && c.To != "down" {
		t.Errorf("ispa's last change: %+v", c)
	}
}

// TestDataCap: an uplink that carries more than its cap moves to standby
// (weight 0: new connections take the other), the on-change command is
// told, and its use is kept across a restart, which finds it capped
// still.
func TestDataCap(t *testing.T) {
	events := filepath.Join(t.TempDir(), "events")
	l := prepareLab(t, 1, 1, "")
	cfg := strings.Replace(l.Config(1, 1, fastHealth+"  on-change: [sh, -c, 'echo \"$PATHPIN_UPLINK $PATHPIN_FROM $PATHPIN_TO $PATHPIN_REASON\" >> "+events+"']\n"),
		"    gateway: 192.168.1.254\n", "    gateway: 192.168.1.254\n    cap: {bytes: 300K, period: daily}\n", 1)
	if !strings.Contains(cfg, "cap:") {
		t.Fatalf("no cap in:\n%s", cfg)
	}
	if err := os.WriteFile(l.cfg, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	l.start()
	l.waitState("ispa", "up", 10*time.Second)
	l.waitState("ispb", "up", 10*time.Second)
	if got := l.connect(40); got[l.UplinkAddrs[0]] == 0 || got[l.UplinkAddrs[1]] == 0 {
		t.Fatalf("before the cap, connections went %v; want both", got)
	}
	// About 400 KB each way from ispa's address.
	l.Router.Run("ping", "-q", "-c", "300", "-i", "0.005", "-s", "1300", "-I", l.UplinkAddrs[0], "203.0.113.10")
	capped := func() bool {
		u := l.state("ispa")
		return strings.Contains(u.Standby, "data cap reached") && u.Weight == 0
	}
	for deadline := time.Now().Add(20 * time.Second); !capped(); time.Sleep(100 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("ispa not capped: %+v %+v\n%s", l.state("ispa"), l.state("ispa").Usage, l.logText())
		}
	}
	u := l.state("ispa")
	if u.Usage == nil || u.Usage.In+u.Usage.Out < 300e3 || u.Usage.Cap != 300e3 || !u.Usage.Capped || u.State != "up" {
		t.Fatalf("ispa's usage: %+v %+v", u, u.Usage)
	}
	if got := l.connect(20); got[l.UplinkAddrs[1]] != 20 {
		t.Fatalf("after the cap, connections went %v; want all by ispb", got)
	}
	b, _ := os.ReadFile(events)
	if !strings.Contains(string(b), "ispa up standby data cap reached") {
		t.Errorf("the on-change command was not told of the cap:\n%s", b)
	}

	l.stop()
	var ledger struct {
		Uplinks map[string]struct {
			In  uint64 `json:"bytes_in"`
			Out uint64 `json:"bytes_out"`
		} `json:"uplinks"`
	}
	raw, err := os.ReadFile(filepath.Join(filepath.Dir(l.cfg), "lib", "usage.json"))
	if err != nil || json.Unmarshal(raw, &ledger) != nil || ledger.Uplinks["ispa"].In+ledger.Uplinks["ispa"].Out < 300e3 {
		t.Fatalf("the ledger after stopping: %v %s", err, raw)
	}
	before, _ := os.ReadFile(events)
	l.start()
	// Capped from the first apply, with no new event (nothing changed).
	l.waitState("ispa", "up", 10*time.Second)
	if !capped() {
		t.Fatalf("after a restart ispa is not capped at once: %+v\n%s", l.state("ispa"), l.logText())
	}
	if after, _ := os.ReadFile(events); string(after) != string(before) {
		t.Errorf("the restart told of the cap again:\n%s", after[len(before):])
	}
}
