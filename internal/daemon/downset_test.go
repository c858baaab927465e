package daemon

import (
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/pathpin/pathpin/internal/config"
	"github.com/pathpin/pathpin/internal/health"
	"github.com/pathpin/pathpin/uplink"
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
	d := &Daemon{cfg: cfg, log: slog.New(slog.DiscardHandler)}
	d.resetUplinks()
	return d
}

func miss(d *Daemon, name string, n int) {
	for i := 0; i < n; i++ {
		answer(d, name)
		d.handle(event{kind: evProbe, uplink: name, round: health.Round{Detail: "silent"}})
	}
}

// answer has every uplink but name, still usable, answer a round: the
// fresh evidence a suspect uplink's miss is judged against.
func answer(d *Daemon, name string) {
	for other, s := range d.uplinks {
		if st, _, _ := s.machine.State(); other != name && st.Usable() {
			d.handle(event{kind: evProbe, uplink: other, round: health.Round{OK: true, Answered: 1, RTT: time.Millisecond}})
		}
	}
}

// TestMissWaitsForTheOthers: a miss that would take an uplink down while
// the other uplinks have not been probed since it became suspect is held
// back (they were asked for a round); once they answer, it counts.
func TestMissWaitsForTheOthers(t *testing.T) {
	d := testDaemon(t)
	for i := 0; i < 3; i++ {
		d.handle(event{kind: evProbe, uplink: "a", round: health.Round{Detail: "silent"}})
	}
	if st, _, _ := d.uplinks["a"].machine.State(); st == health.Down {
		t.Fatal("a went down on its own misses before any other uplink was probed")
	}
	answer(d, "a")
	d.handle(event{kind: evProbe, uplink: "a", round: health.Round{Detail: "silent"}})
	if st, _, _ := d.uplinks["a"].machine.State(); st != health.Down {
		t.Fatalf("a is %s after the others answered and it missed again", st)
	}
}

func TestDownSetKeepsTheLastConfigurationWhenAllAreDown(t *testing.T) {
	d := testDaemon(t)
	miss(d, "a", 3)
	if got := d.holds(); len(got) != 1 || got["a"].Cause != uplink.HealthDown || !strings.Contains(got["a"].String(), "health down") {
		t.Fatalf("one uplink down: %v", got)
	}
	miss(d, "b", 3)
	if got := d.holds(); len(got) != 2 {
		t.Fatalf("two down, the standby left: %v", got)
	}
	miss(d, "spare", 3)
	if got := d.holds(); len(got) != 0 {
		t.Fatalf("with every uplink down by its probes the last configuration must stay: %v", got)
	}
	// PPP state still counts: an uplink whose PPP is down stays down.
	d.uplinks["b"].ppp = uplink.Down(uplink.PPPDown, "pppd exited")
	if got := d.holds(); len(got) != 1 || got["b"].String() != "pppd exited" {
		t.Fatalf("PPP down while all are sick: %v", got)
	}
}

func TestHandleReportsWhatNeedsAnApply(t *testing.T) {
	d := testDaemon(t)
	if apply, _ := d.handle(event{kind: evProbe, uplink: "a", round: health.Round{OK: true, Answered: 1, RTT: time.Millisecond}}); apply {
		t.Fatal("a passing probe on a healthy uplink asked for an apply")
	}
	if apply, _ := d.handle(event{kind: evProbe, uplink: "a", round: health.Round{Detail: "x"}}); apply {
		t.Fatal("one miss (degraded, still usable) asked for an apply")
	}
	if apply, left := d.handle(event{kind: evLink, uplink: "b", reason: uplink.Down(uplink.NoCarrier, "carrier lost on wan1")}); !apply || !left {
		t.Fatalf("carrier loss: apply %v, left service %v; want both", apply, left)
	}
	if apply, _ := d.handle(event{kind: evPPP, uplink: "a", reason: uplink.Down(uplink.PPPDown, "pppd ip-down")}); !apply {
		t.Fatal("a PPP event did not ask for an apply")
	}
	if st, _, _ := d.uplinks["b"].machine.State(); st != health.Down {
		t.Fatalf("b is %s after carrier loss", st)
	}
}
