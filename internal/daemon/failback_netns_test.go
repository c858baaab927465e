package daemon

import (
	"os"
	"strings"
	"testing"
	"time"

	"github.com/pathpin/pathpin/internal/netnstest"
)

// failbackLab is the failover lab with ispa weighted and ispb on standby,
// ispa's failback as given.
func failbackLab(t *testing.T, failback string) *failoverLab {
	l := prepareLab(t, 1, 0, fastHealth)
	cfg := strings.Replace(l.Config(1, 0, fastHealth), "  - name: ispa\n", "  - name: ispa\n    failback: "+failback+"\n", 1)
	if err := os.WriteFile(l.cfg, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	l.start()
	l.waitState("ispa", "up", 10*time.Second)
	l.waitState("ispb", "up", 10*time.Second)
	return l
}

// failOver blackholes ispa until it is down, and opens n connections,
// which the standby carries.
func failOver(t *testing.T, l *failoverLab, n int) []*netnstest.SourceConn {
	l.ISPs[0].Run("iptables", "-I", "FORWARD", "-j", "DROP")
	l.waitState("ispa", "down", 5*time.Second)
	conns := l.longLived(n)[l.UplinkAddrs[1]]
	if len(conns) != n {
		t.Fatalf("with ispa down, %d of %d connections went by the standby", len(conns), n)
	}
	l.ISPs[0].Run("iptables", "-D", "FORWARD", "-j", "DROP")
	return conns
}

// TestFailbackHoldAndMoveBack: a recovered uplink is back in service only
// once it has answered for its hold (status says until when meanwhile);
// with move-back the standby's connections are deleted once it is back,
// and new ones go by it.
func TestFailbackHoldAndMoveBack(t *testing.T) {
	l := failbackLab(t, "{hold: 2s, move-back: true}")
	conns := failOver(t, l, 5)
	answering := time.Now()
	l.waitFor("the hold in status", func() bool { return strings.Contains(l.state("ispa").Reason, "failback hold until") })
	up := l.waitState("ispa", "up", 10*time.Second)
	if held := time.Since(answering); held < 2*time.Second {
		t.Errorf("ispa was back in service %s after its probes answered again, within its 2s hold (%s)", held, up.Reason)
	}
	l.waitFor("the standby's connections to be deleted", func() bool {
		for _, c := range conns {
			if _, err := c.Ask(); err == nil {
				return false
			}
		}
		return true
	})
	if got := l.connect(20); got[l.UplinkAddrs[0]] != 20 {
		t.Errorf("after failback, new connections went %v; want all by ispa", got)
	}
}

// TestFailbackNeverAndResume: failback: never keeps a recovered uplink
// out, its probes answering, until pathpin resume; without move-back the
// standby's connections live on.
func TestFailbackNeverAndResume(t *testing.T) {
	l := failbackLab(t, "never")
	conns := failOver(t, l, 5)
	l.waitFor("ispa held out in status", func() bool { return strings.Contains(l.state("ispa").Reason, "failback: never") })
	// Five more rounds: still out, new connections by the standby.
	until := time.Now().Add(500 * time.Millisecond)
	for time.Now().Before(until) {
		time.Sleep(100 * time.Millisecond)
	}
	if st := l.state("ispa"); st.State == "up" {
		t.Fatalf("ispa is back without pathpin resume: %s", st.Reason)
	}
	if got := l.connect(10); got[l.UplinkAddrs[1]] != 10 {
		t.Fatalf("with ispa held out, new connections went %v", got)
	}
	if out, err := l.Router.Command(l.bin, "resume", "--state-dir", l.runDir, "ispa").CombinedOutput(); err != nil {
		t.Fatalf("pathpin resume: %v\n%s", err, out)
	}
	l.waitState("ispa", "up", 5*time.Second)
	l.waitFor("new connections by ispa", func() bool { return l.connect(5)[l.UplinkAddrs[0]] == 5 })
	assertSurvive(t, conns)
}
