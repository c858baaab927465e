package main

import (
	"bufio"
	"encoding/json"
	"io"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/pathpin/pathpin/internal/netnstest"
)

// pppoeLab is a client namespace joined to one or more access
// concentrators running rp-pppoe's pppoe-server.
type pppoeLab struct {
	client  *netnstest.NS
	acs     []*netnstest.NS
	servers []*netnstest.RunningPPPoEServer
	bin     string
}

// newPPPoELab starts one pppoe-server per AC name. With one AC the client
// is wired to it directly; with more, all sit on a bridge.
func newPPPoELab(t *testing.T, acNames ...string) *pppoeLab {
	return newPPPoELabWith(t, nil, acNames...)
}

// newPPPoELabWith passes extra flags to every pppoe-server.
func newPPPoELabWith(t *testing.T, extra []string, acNames ...string) *pppoeLab {
	netnstest.RequireRoot(t, "pppoe-server")
	lab := &pppoeLab{client: netnstest.New(t), bin: netnstest.Binary(t)}
	var seg *netnstest.NS
	if len(acNames) > 1 {
		seg = netnstest.New(t)
		seg.Run("ip", "link", "add", "br0", "type", "bridge")
		seg.Run("ip", "link", "set", "br0", "up")
		netnstest.Veth(t, lab.client, "wan0", seg, "p-client")
		seg.Run("ip", "link", "set", "p-client", "master", "br0")
	}
	for i, name := range acNames {
		ac := netnstest.New(t)
		if seg == nil {
			netnstest.Veth(t, lab.client, "wan0", ac, "isp0")
		} else {
			port := "p-ac" + string(rune('0'+i))
			netnstest.Veth(t, ac, "isp0", seg, port)
			seg.Run("ip", "link", "set", port, "master", "br0")
		}
		lab.acs = append(lab.acs, ac)
		lab.servers = append(lab.servers, ac.StartPPPoEServer(netnstest.PPPoEServer{
			Interface: "isp0", ACName: name, Service: "isp", RecordSessions: true, Extra: extra,
		}))
	}
	return lab
}

// pathpin runs the binary in the client namespace.
func (l *pppoeLab) pathpin(args ...string) (stdout, stderr string, err error) {
	cmd := l.client.Command(l.bin, args...)
	var out, errb strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &errb
	err = cmd.Run()
	return out.String(), errb.String(), err
}

func (l *pppoeLab) mac(ns *netnstest.NS, ifname string) string {
	return strings.TrimSpace(ns.Run("cat", "/sys/class/net/"+ifname+"/address"))
}

func TestDiscoverListsTheAC(t *testing.T) {
	lab := newPPPoELab(t, "isp-ac")
	out, errOut, err := lab.pathpin("discover", "-i", "wan0")
	if err != nil {
		t.Fatalf("discover: %v\n%s", err, errOut)
	}
	for _, want := range []string{"Access-Concentrator: isp-ac", "AC-Ethernet-Address: " + lab.mac(lab.acs[0], "isp0"), "Service-Name: isp"} {
		if !strings.Contains(out, want) {
			t.Errorf("discover output lacks %q:\n%s", want, out)
		}
	}
}

func TestDiscoverSelectsOneOfTwoACs(t *testing.T) {
	lab := newPPPoELab(t, "ac-one", "ac-two")
	out, errOut, err := lab.pathpin("discover", "-i", "wan0", "--json")
	if err != nil {
		t.Fatalf("discover: %v\n%s", err, errOut)
	}
	var offers []struct {
		ACName string `json:"ac_name"`
		ACMAC  string `json:"ac_mac"`
	}
	if err := json.Unmarshal([]byte(out), &offers); err != nil {
		t.Fatalf("discover --json: %v\n%s", err, out)
	}
	var names []string
	for _, o := range offers {
		names = append(names, o.ACName)
	}
	slices.Sort(names)
	if !slices.Equal(names, []string{"ac-one", "ac-two"}) {
		t.Fatalf("discover listed %v, want both ACs", names)
	}

	out, errOut, err = lab.pathpin("discover", "-i", "wan0", "--ac", "ac-two", "--session", "--keep")
	if err != nil {
		t.Fatalf("discover --ac ac-two --session: %v\n%s", err, errOut)
	}
	wantMAC := lab.mac(lab.acs[1], "isp0")
	if !strings.HasSuffix(strings.TrimSpace(out), ":"+wantMAC) {
		t.Fatalf("session %q is not with ac-two (%s)", out, wantMAC)
	}
	waitFor(t, "ac-two to log the session", func() bool { return len(lab.servers[1].Sessions()) == 1 })
	if got := lab.servers[0].Sessions(); len(got) != 0 {
		t.Fatalf("ac-one granted sessions %v, want none", got)
	}
}

func TestDiscoverSessionAndPADT(t *testing.T) {
	// One session at a time (-N 1), and PADIs ignored while it is taken
	// (-i): a session that was not closed blocks the next discovery.
	lab := newPPPoELabWith(t, []string{"-N", "1", "-i"}, "isp-ac")
	clientMAC := lab.mac(lab.client, "wan0")
	acMAC := lab.mac(lab.acs[0], "isp0")
	srv := lab.servers[0]

	out, errOut, err := lab.pathpin("discover", "-i", "wan0", "--session", "--keep")
	if err != nil {
		t.Fatalf("discover --session --keep: %v\n%s", err, errOut)
	}
	sid, mac, _ := strings.Cut(strings.TrimSpace(out), ":")
	if mac != acMAC {
		t.Fatalf("session %q: AC MAC %s, want %s", out, mac, acMAC)
	}
	want := sid + ":" + clientMAC
	waitFor(t, "the server to run session "+want, func() bool { return slices.Contains(srv.LiveSessions(), want) })

	if _, _, err := lab.pathpin("discover", "-i", "wan0", "--session", "--timeout", "1s"); err == nil {
		t.Fatal("a second session was granted while the first one was open; the -N 1 server is not limiting")
	}

	if _, errOut, err := lab.pathpin("padt", "-i", "wan0", "--session", sid, "--ac", acMAC); err != nil {
		t.Fatalf("padt: %v\n%s", err, errOut)
	}
	waitFor(t, "the server to end session "+want, func() bool { return !slices.Contains(srv.LiveSessions(), want) })

	// Without --keep, discover closes its own session, so the next one is granted.
	for _, args := range [][]string{{"--session"}, {"--session", "--keep"}} {
		if _, errOut, err := lab.pathpin(append([]string{"discover", "-i", "wan0", "--timeout", "3s"}, args...)...); err != nil {
			t.Fatalf("discover %v after the previous session: %v\n%s", args, err, errOut)
		}
	}
}

func TestDiscoverFailsCleanly(t *testing.T) {
	netnstest.RequireRoot(t)
	ns := netnstest.New(t)
	peer := netnstest.New(t)
	netnstest.Veth(t, ns, "wan0", peer, "nobody")
	bin := netnstest.Binary(t)

	tests := []struct {
		name    string
		args    []string
		setup   func()
		want    string
		maxTime time.Duration
	}{
		{"no server", []string{"discover", "-i", "wan0", "--timeout", "1500ms"}, nil,
			"no access concentrator answered", 3 * time.Second},
		{"no server, session", []string{"discover", "-i", "wan0", "--session", "--timeout", "1s"}, nil,
			"no access concentrator answered", 3 * time.Second},
		{"no such interface", []string{"discover", "-i", "wan9"}, nil,
			"interface wan9 does not exist", time.Second},
		{"no carrier", []string{"discover", "-i", "wan0", "--timeout", "1s"}, func() {
			peer.Run("ip", "link", "set", "nobody", "down")
			waitFor(t, "wan0 to lose carrier", func() bool { return !strings.Contains(ns.Run("ip", "link", "show", "wan0"), "LOWER_UP") })
		},
			"interface wan0 has no carrier", 2 * time.Second},
		{"interface down", []string{"discover", "-i", "wan0"}, func() { ns.Run("ip", "link", "set", "wan0", "down") },
			"interface wan0 is down", time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.setup != nil {
				tt.setup()
			}
			start := time.Now()
			out, err := ns.Command(bin, tt.args...).CombinedOutput()
			elapsed := time.Since(start)
			var ee *exec.ExitError
			if err == nil || !errorAs(err, &ee) || ee.ExitCode() != 1 {
				t.Fatalf("pathpin %v: err %v, want exit status 1\n%s", tt.args, err, out)
			}
			lines := strings.Split(strings.TrimSpace(string(out)), "\n")
			// Waiting for carrier is said once, before the error.
			if len(lines) == 2 && strings.Contains(lines[0], "has no carrier yet; waiting up to") {
				lines = lines[1:]
			}
			if len(lines) != 1 || !strings.Contains(lines[0], tt.want) {
				t.Fatalf("pathpin %v printed %q, want one line containing %q", tt.args, out, tt.want)
			}
			if elapsed > tt.maxTime {
				t.Fatalf("pathpin %v took %s, want under %s", tt.args, elapsed, tt.maxTime)
			}
		})
	}
}

// TestDiscoverWaitsForLateCarrier brings the link's carrier only once
// discover has said it is waiting: it must find the AC, not fail.
func TestDiscoverWaitsForLateCarrier(t *testing.T) {
	lab := newPPPoELab(t, "isp-ac")
	lab.acs[0].Run("ip", "link", "set", "isp0", "down")
	waitFor(t, "wan0 to lose carrier", func() bool { return !strings.Contains(lab.client.Run("ip", "link", "show", "wan0"), "LOWER_UP") })
	cmd := lab.client.Command(lab.bin, "discover", "-i", "wan0", "--timeout", "10s")
	var out strings.Builder
	cmd.Stdout = &out
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	line, err := bufio.NewReader(stderr).ReadString('\n')
	if err != nil || !strings.Contains(line, "wan0 has no carrier yet; waiting up to 10s") {
		t.Fatalf("discover's first word: %q, %v", line, err)
	}
	lab.acs[0].Run("ip", "link", "set", "isp0", "up")
	rest, _ := io.ReadAll(stderr)
	if err := cmd.Wait(); err != nil {
		t.Fatalf("discover after carrier came: %v\n%s", err, rest)
	}
	if !strings.Contains(out.String(), "Access-Concentrator: isp-ac") {
		t.Fatalf("discover found no AC:\n%s%s", out.String(), rest)
	}
}

func TestDiscoverNeedsPrivilege(t *testing.T) {
	netnstest.RequireRoot(t)
	ns := netnstest.New(t)
	peer := netnstest.New(t)
	netnstest.Veth(t, ns, "wan0", peer, "nobody")
	bin := netnstest.Binary(t)
	// setpriv drops every capability, as an unprivileged user would run it.
	if _, err := exec.LookPath("setpriv"); err != nil {
		t.Skip("skipping: setpriv (util-linux) is not installed")
	}
	out, err := ns.Command("setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "--inh-caps=-all", bin, "discover", "-i", "wan0").CombinedOutput()
	if err == nil || !strings.Contains(string(out), "not permitted; run as root or grant CAP_NET_RAW") {
		t.Fatalf("unprivileged discover: err %v, output %q", err, out)
	}
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
