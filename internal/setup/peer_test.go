package setup

import (
	"os"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

func intp(v int) *int { return &v }

func TestParsePeer(t *testing.T) {
	template, err := os.ReadFile("testdata/rp-pppoe-dsl-provider")
	if err != nil {
		t.Fatal(err)
	}
	usb, err := os.ReadFile("testdata/pppoeconf/etc/ppp/peers/dsl-provider")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name    string
		text    string
		want    Peer
		unknown []string
		err     string
	}{
		{
			name: "pppoeconf, eth0 on the plugin line",
			text: "noipdefault\ndefaultroute\nreplacedefaultroute\nhide-password\nnoauth\npersist\nplugin rp-pppoe.so eth0\nuser \"someone@plus.net\"\nusepeerdns\n",
			want: Peer{Interface: "eth0", User: "someone@plus.net"},
		},
		{
			name: "pppoeconf, a USB NIC on a nic- line",
			text: string(usb),
			want: Peer{Interface: "enx00e04c534458", User: "someone@plus.net"}, unknown: []string{"noccp"},
		},
		{
			name: "pppoe.so (pppd 2.5) with a bare VLAN interface line",
			text: "plugin pppoe.so\neth1.101\nuser bob@isp\nmtu 1500\npppoe-service BT\npppoe-ac acc1\n",
			want: Peer{Interface: "eth1", VLAN: 101, User: "bob@isp", MTU: 1500, Service: "BT", ACName: "acc1"},
		},
		{
			name: "full plugin path, old option names, LCP echo, ifname",
			text: "plugin /usr/lib/pppd/2.4.9/rp-pppoe.so\nnic-wan0\nuser 'x y'\nrp_pppoe_service \"\"\nrp_pppoe_ac bras-7\nlcp-echo-interval 10\nlcp-echo-failure 5\nifname ppp0\nmru 1480\n",
			want: Peer{Interface: "wan0", User: "x y", ACName: "bras-7", LCPEchoInterval: intp(10), LCPEchoFailure: intp(5), IfName: "ppp0", MTU: 1480},
		},
		{
			name: "rp-pppoe's template with the user filled in: the old pty form",
			text: strings.Replace(string(template), "#user myusername@myprovider.net", "user myusername@myprovider.net", 1),
			want: Peer{Interface: "eth0", User: "myusername@myprovider.net", MTU: 1492, LCPEchoInterval: intp(20), LCPEchoFailure: intp(3)},
		},
		{
			name: "a password in the peer, an unknown option with an argument",
			text: "plugin rp-pppoe.so eth0\nuser u\npassword \"p w\"\nidle 300\n+ipv6\n",
			want: Peer{Interface: "eth0", User: "u", Password: "p w"}, unknown: []string{"idle 300", "+ipv6"},
		},
		{name: "rp-pppoe's template as installed", text: string(template), err: "no `user` line"},
		{name: "not PPPoE", text: "/dev/ttyUSB0\n115200\nuser u\n", err: "does not use PPPoE"},
		{name: "no interface", text: "plugin rp-pppoe.so\nuser u\n", err: "names no interface"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, err := ParsePeer(tc.text)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("err = %v, want %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(&tc.want, p, cmpopts.IgnoreFields(Peer{}, "Handled", "Unknown")); diff != "" {
				t.Errorf("peer (-want +got):\n%s", diff)
			}
			var unknown []string
			for _, o := range p.Unknown {
				unknown = append(unknown, o.Text)
			}
			if diff := cmp.Diff(tc.unknown, unknown); diff != "" {
				t.Errorf("unknown options (-want +got):\n%s", diff)
			}
			for _, o := range p.Handled {
				if o.Note == "" {
					t.Errorf("handled option %s says nothing of how", o.Text)
				}
			}
		})
	}
}

func TestSecrets(t *testing.T) {
	chap, err := os.ReadFile("testdata/pppoeconf/etc/ppp/chap-secrets")
	if err != nil {
		t.Fatal(err)
	}
	pap, err := os.ReadFile("testdata/pppoeconf/etc/ppp/pap-secrets")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, text, user, want string
		found                  bool
	}{
		{"pppoeconf's chap-secrets: the commented old entry is skipped", string(chap), "someone@plus.net", "n3w p@ss #1", true},
		{"Debian's pap-secrets with pppoeconf's entry", string(pap), "someone@plus.net", "n3w p@ss #1", true},
		{"Debian's pap-secrets: system users are not the login", string(pap), "root", "*", true},
		{"unquoted, tabs, addresses", "bob\t*\tsecret\t*\n", "bob", "secret", true},
		{"a wildcard server wins over a named one", "bob isp-a one\nbob * two\n", "bob", "two", true},
		{"escapes in quotes", `"bob" * "a\"b\\c"` + "\n", "bob", `a"b\c`, true},
		{"missing", "alice * x\n", "bob", "", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, ok := FindSecret(ParseSecrets(tc.text), tc.user)
			if ok != tc.found || s.Secret != tc.want {
				t.Errorf("FindSecret = %q, %v; want %q, %v", s.Secret, ok, tc.want, tc.found)
			}
		})
	}
}

func TestSplitVLAN(t *testing.T) {
	for in, want := range map[string]struct {
		parent string
		id     int
	}{
		"eth1.101": {"eth1", 101}, "eth1": {"eth1", 0}, "eth1.0": {"eth1.0", 0}, "eth1.5000": {"eth1.5000", 0}, "a.b": {"a.b", 0},
	} {
		if p, id := splitVLAN(in); p != want.parent || id != want.id {
			t.Errorf("splitVLAN(%q) = %q, %d", in, p, id)
		}
	}
}
