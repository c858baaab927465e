package setup

import (
	"context"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/pathpin/pathpin/internal/config"
	"github.com/pathpin/pathpin/internal/golden"
)

func testHost() Host {
	return Host{Root: "testdata/pppoeconf", Processes: func() []Process {
		return []Process{
			{PID: 1, Comm: "systemd", Args: "/sbin/init"},
			{PID: 412, Comm: "dhcpcd", Args: "/usr/sbin/dhcpcd -q -b"},
			{PID: 977, Comm: "pppd", Args: "/usr/sbin/pppd call dsl-provider"},
			{PID: 978, Comm: "pppd", Args: "pppd file /run/pathpin/ppp-dsl.options"},
		}
	}}
}

func TestConflicts(t *testing.T) {
	got := Conflicts(context.Background(), testHost(), Links{PPPoE: "enx00e04c534458", Parent: "enx00e04c534458"})
	var b strings.Builder
	for _, c := range got {
		b.WriteString(c.What + "\n    " + c.Fix + "\n")
	}
	golden.Check(t, "conflicts.txt", b.String())
}

// TestAPeerNothingStartsIsANote: Debian's pppoe package ships
// /etc/ppp/peers/dsl-provider, which nothing dials until someone starts
// it; reported as a note, not a conflict, until something does.
func TestAPeerNothingStartsIsANote(t *testing.T) {
	root := t.TempDir()
	peers := filepath.Join(root, "etc", "ppp", "peers")
	if err := os.MkdirAll(peers, 0o755); err != nil {
		t.Fatal(err)
	}
	peer, err := os.ReadFile("testdata/pppoeconf/etc/ppp/peers/dsl-provider")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(peers, "dsl-provider"), peer, 0o640); err != nil {
		t.Fatal(err)
	}
	units := filepath.Join(root, "etc", "systemd", "system", "multi-user.target.wants")
	for _, tc := range []struct {
		name    string
		prepare func(h *Host)
		note    bool
		starter string
	}{
		{name: "nothing starts it", prepare: func(*Host) {}, note: true},
		{name: "a running pppd called it", prepare: func(h *Host) {
			h.Processes = func() []Process { return []Process{{PID: 77, Comm: "pppd", Args: "/usr/sbin/pppd call dsl-provider"}} }
		}, starter: "the running pppd 77"},
		{name: "an enabled unit", prepare: func(h *Host) {
			if err := os.MkdirAll(units, 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(units, "ppp@dsl-provider.service"), nil, 0o644); err != nil {
				t.Fatal(err)
			}
		}, starter: "the enabled unit ppp@dsl-provider.service"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := Host{Root: root}
			tc.prepare(&h)
			got := peerConflicts(h)
			if len(got) != 1 || got[0].Note != tc.note || !strings.Contains(got[0].What, tc.starter) {
				t.Fatalf("peer report: %+v", got)
			}
			if tc.note && !strings.Contains(got[0].What, "nothing starts it") {
				t.Fatalf("the note does not say nothing starts it: %s", got[0].What)
			}
		})
	}
}

func TestConflictsOnAVLANUseNmcli(t *testing.T) {
	h := testHost()
	h.NMDevices = func(context.Context) (string, bool) {
		return "eth1:connected:LAN\neth1.101:connecting (getting IP configuration):Wired connection 3\neth0:unmanaged:\n", true
	}
	got := Conflicts(context.Background(), h, Links{PPPoE: "eth1.101", Parent: "eth1"})
	var nm []string
	for _, c := range got {
		if strings.HasPrefix(c.What, "NetworkManager") {
			nm = append(nm, c.What)
		}
	}
	want := []string{"NetworkManager manages eth1 (connected)", "NetworkManager manages eth1.101 (connecting (getting IP configuration))"}
	if diff := cmp.Diff(want, nm); diff != "" {
		t.Errorf("NetworkManager conflicts (-want +got):\n%s", diff)
	}
}

func TestRenderRoundTrips(t *testing.T) {
	a := &Answers{
		LAN:    []string{"eth1", "wlan0"},
		Static: &StaticUplink{Name: "eth0", Interface: "eth0", Gateway: netip.MustParseAddr("192.168.1.254"), Comment: "the main table's default route"},
		PPPoE: &PPPoEUplink{Name: "dsl", Interface: "eth1", VLAN: 101, Username: "user: #1@isp", PasswordFile: "/etc/pathpin/dsl.password",
			Service: "BT", ACName: "bras 7", IfName: "ppp1", MTU: 1500, LCPEchoInterval: intp(10), LCPEchoFailure: intp(0)},
	}
	text := a.Render()
	cfg, err := config.Parse("pathpin.yaml", []byte(text))
	if err != nil {
		t.Fatalf("%v\n%s", err, text)
	}
	p := cfg.Uplinks[1].PPPoE
	got := []any{cfg.LAN.Interfaces, cfg.Uplinks[0].Name, cfg.Uplinks[0].Interface, cfg.Uplinks[0].Gateway.String(),
		cfg.Uplinks[1].Name, p.Interface, p.VLAN, p.Username, p.PasswordFile, p.Service, p.ACName, p.IfName, p.MTU, p.LCPEchoInterval, p.LCPEchoFailure}
	want := []any{[]string{"eth1", "wlan0"}, "eth0", "eth0", "192.168.1.254",
		"dsl", "eth1", 101, "user: #1@isp", "/etc/pathpin/dsl.password", "BT", "bras 7", "ppp1", 1500, 10, 0}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("read back (-want +got):\n%s\n%s", diff, text)
	}
}

// TestMigratePppoeconf: files exactly as pppoeconf leaves them for a USB
// NIC (secrets in both files, an older entry commented out) become the
// expected configuration; what pathpin does not understand is reported.
func TestMigratePppoeconf(t *testing.T) {
	dir := t.TempDir()
	var out, errOut strings.Builder
	opt := Options{
		ConfigPath: filepath.Join(dir, "pathpin.yaml"), FromPPPoEConf: true, PPPDir: "testdata/pppoeconf/etc/ppp", Peer: "dsl-provider",
		Static: "eth0:192.168.1.254", LAN: []string{"eth1"}, Host: testHost(), Out: &out, Err: &errOut,
	}
	res, err := Run(context.Background(), nil, opt)
	if err != nil {
		t.Fatalf("%v\n%s", err, out.String())
	}
	if !res.Written {
		t.Fatal("nothing was written")
	}
	report := out.String()
	for _, want := range []string{"line 19: noccp", "line 4: defaultroute (pathpin owns the routes", "password: taken from testdata/pppoeconf/etc/ppp/chap-secrets"} {
		if !strings.Contains(report, want) {
			t.Errorf("the report lacks %q:\n%s", want, report)
		}
	}
	if strings.Contains(report, "n3w p@ss") {
		t.Errorf("the report shows the password:\n%s", report)
	}
	written, err := os.ReadFile(opt.ConfigPath)
	if err != nil {
		t.Fatal(err)
	}
	golden.Check(t, "pppoeconf.yaml", strings.ReplaceAll(string(written), dir, "/etc/pathpin"))
	pw, err := os.ReadFile(filepath.Join(dir, "dsl.password"))
	if err != nil || string(pw) != "n3w p@ss #1\n" {
		t.Errorf("password file: %q, %v", pw, err)
	}
	if st, _ := os.Stat(filepath.Join(dir, "dsl.password")); st.Mode().Perm() != 0o600 {
		t.Errorf("password file mode %v", st.Mode().Perm())
	}
}

// TestRouterLeftOpenWhenAnotherFirewallFiltersInput: init closes the
// router by default only when nothing else filters what reaches it.
func TestRouterLeftOpenWhenAnotherFirewallFiltersInput(t *testing.T) {
	for _, filtered := range []bool{false, true} {
		h := testHost()
		h.FiltersInput = func() bool { return filtered }
		opt := Options{
			ConfigPath: filepath.Join(t.TempDir(), "pathpin.yaml"), FromPPPoEConf: true, PPPDir: "testdata/pppoeconf/etc/ppp", Peer: "dsl-provider",
			Static: "eth0:192.168.1.254", LAN: []string{"eth1"}, Host: h, Out: &strings.Builder{}, Err: &strings.Builder{}, DryRun: true,
		}
		res, err := Run(context.Background(), nil, opt)
		if err != nil {
			t.Fatal(err)
		}
		if res.Answers.ProtectRouter == filtered || strings.Contains(res.YAML, "router: true") == filtered {
			t.Errorf("another firewall filters input: %v; protect.router written: %v", filtered, res.Answers.ProtectRouter)
		}
		if _, err := config.Parse(opt.ConfigPath, []byte(res.YAML)); err != nil {
			t.Errorf("init wrote what does not load: %v", err)
		}
	}
}

// TestRunAsks: with an Asker, every missing answer is asked; "no" at the
// end writes nothing.
func TestRunAsksAndNoWritesNothing(t *testing.T) {
	dir := t.TempDir()
	a := &scripted{answers: []string{"", "n"}}
	opt := Options{
		ConfigPath: filepath.Join(dir, "pathpin.yaml"), FromPPPoEConf: true, PPPDir: "testdata/pppoeconf/etc/ppp", Peer: "dsl-provider",
		Static: "eth0:192.168.1.254", LAN: []string{"eth1"}, Host: testHost(), Out: &strings.Builder{}, Err: &strings.Builder{}, Ask: a,
	}
	// The peer has a user and the secrets a password: only whether to
	// close the router, and the final question, are asked.
	if _, err := Run(context.Background(), nil, opt); err != ErrDeclined {
		t.Fatalf("err = %v, want ErrDeclined", err)
	}
	if _, err := os.Stat(opt.ConfigPath); err == nil {
		t.Error("declined, yet the configuration was written")
	}
	if diff := cmp.Diff([]string{"Close the router itself to the uplinks' side (new connections from them dropped; DHCP, PPP and probes keep working)",
		"Write " + opt.ConfigPath + " and " + filepath.Join(dir, "dsl.password")}, a.asked); diff != "" {
		t.Errorf("questions (-want +got):\n%s", diff)
	}
}

func TestAskPasswordTwice(t *testing.T) {
	a := &scripted{answers: []string{"one", "two", "", "three", "three"}}
	got, err := askPassword(a)
	if err != nil || got != "three" {
		t.Fatalf("askPassword = %q, %v", got, err)
	}
}

// scripted answers questions from a list and records them.
type scripted struct {
	answers []string
	asked   []string
}

func (s *scripted) next(q string) (string, error) {
	s.asked = append(s.asked, q)
	if len(s.answers) == 0 {
		return "", ErrAborted
	}
	a := s.answers[0]
	s.answers = s.answers[1:]
	return a, nil
}

func (s *scripted) Ask(q, def string) (string, error) {
	a, err := s.next(q)
	if a == "" {
		a = def
	}
	return a, err
}

func (s *scripted) Secret(q string) (string, error) { return s.next(q) }

func TestDHCPConflicts(t *testing.T) {
	h := testHost()
	procs := h.Processes
	h.Processes = func() []Process {
		return append(procs(), Process{PID: 501, Comm: "dhclient", Args: "/sbin/dhclient -4 -v -pf /run/dhclient.enx00e04c534458.pid enx00e04c534458"},
			Process{PID: 502, Comm: "dhclient", Args: "/sbin/dhclient -4 eth9"})
	}
	got := DHCPConflicts(context.Background(), h, "enx00e04c534458")
	var b strings.Builder
	for _, c := range got {
		b.WriteString(c.What + "\n    " + c.Fix + "\n")
	}
	golden.Check(t, "dhcp-conflicts.txt", b.String())
	if none := DHCPConflicts(context.Background(), Host{Root: t.TempDir()}, "eth0"); len(none) != 0 {
		t.Errorf("a clean host has DHCP conflicts: %v", none)
	}
}
