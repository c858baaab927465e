package daemon

import (
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/pathpin/pathpin/internal/config"
	"github.com/pathpin/pathpin/internal/health"
)

func testDaemon(t *testing.T) *Daemon {
	cfg, err := config.Parse("t.yaml", []byte(`lan:
  interfaces: [lan0]
uplinks:
  - name: a
    interface: wan0
    gateway: 192.168.1.254
  - name: b
    interface: wan1
    gateway: 192.168.2.254
  - name: spare
    interface: wan2
    gateway: 192.168.3.254
    weight: 0
health:
  targets: [192.0.2.1]
`))
	if err != nil {
		t.Fatal(err)
	}
	d := &Daemon{cfg: cfg, log: slog.New(slog.DiscardHandler), pppDown: map[string]string{}}
	d.resetHealth()
	return d
}

func miss(d *Daemon, name string, n int) {
	for i := 0; i < n; i++ {
		d.handle(event{kind: evProbe, uplink: name, round: health.Round{Detail: "silent"}})
	}
}

func TestDownSetKeepsTheLastConfigurationWhenAllAreDown(t *testing.T) {
	d := testDaemon(t)
	miss(d, "a", 3)
	if got := d.downSet(); len(got) != 1 || !strings.Contains(got["a"], "health down") {
		t.Fatalf("one uplink down: %v", got)
	}
	miss(d, "b", 3)
	if got := d.downSet(); len(got) != 2 {
		t.Fatalf("two down, the standby left: %v", got)
	}
	miss(d, "spare", 3)
	if got := d.downSet(); len(got) != 0 {
		t.Fatalf("with every uplink down by its probes the last configuration must stay: %v", got)
	}
	// PPP state still counts: an uplink whose PPP is down stays down.
	d.pppDown["b"] = "pppd exited"
	if got := d.downSet(); len(got) != 1 || got["b"] != "pppd exited" {
		t.Fatalf("PPP down while all are sick: %v", got)
	}
}

func TestHandleReportsWhatNeedsAnApply(t *testing.T) {
	d := testDaemon(t)
	if d.handle(event{kind: evProbe, uplink: "a", round: health.Round{OK: true, Answered: 1, RTT: time.Millisecond}}) {
		t.Fatal("a passing probe on a healthy uplink asked for an apply")
	}
	if d.handle(event{kind: evProbe, uplink: "a", round: health.Round{Detail: "x"}}) {
		t.Fatal("one miss (degraded, still usable) asked for an apply")
	}
	if !d.handle(event{kind: evLink, uplink: "b", down: "carrier lost on wan1"}) {
		t.Fatal("carrier loss did not ask for an apply")
	}
	if !d.handle(event{kind: evPPP, uplink: "a", down: "pppd ip-down"}) {
		t.Fatal("a PPP event did not ask for an apply")
	}
	if st, _, _ := d.health["b"].machine.State(); st != health.Down {
		t.Fatalf("b is %s after carrier loss", st)
	}
}
