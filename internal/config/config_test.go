package config

import (
	"fmt"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

func TestExamplesParse(t *testing.T) {
	seed, err := Load("../../examples/seed.yaml")
	if err != nil {
		t.Fatal(err)
	}
	want := []Uplink{
		{Name: "talktalk", Interface: "eth0", Gateway: netip.MustParseAddr("192.168.1.254"), Weight: 1, Table: 101, Mark: 0x100, Line: 5, Failback: Failback{Hold: DefaultFailbackHold}},
		{Name: "plusnet", Weight: 1, Table: 102, Mark: 0x200, Line: 9, Failback: Failback{Hold: DefaultFailbackHold}, PPPoE: &PPPoE{
			Interface: "eth1", VLAN: 1000, Username: "someone@plus.net", PasswordFile: "/etc/pathpin/plusnet.password",
			IfName: "ppp1", MTU: 1492, LCPEchoInterval: 2, LCPEchoFailure: 3,
		}},
	}
	if diff := cmp.Diff(want, seed.Uplinks, cmp.Comparer(func(a, b netip.Addr) bool { return a == b }), cmpopts.IgnoreFields(Uplink{}, "Health")); diff != "" {
		t.Fatalf("seed uplinks (-want +got):\n%s", diff)
	}
	if seed.MarkMask != 0xff00 || seed.Health.Interval != time.Second || seed.Health.DownAfter != 3 {
		t.Fatalf("seed defaults wrong: %+v", seed)
	}
	if seed.Uplinks[1].PPPoE.LinkName() != "eth1.1000" || seed.Uplinks[1].DeviceName() != "ppp1" {
		t.Fatal("seed PPPoE link names wrong")
	}

	dhcp, err := Load("../../examples/dhcp.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if d := dhcp.Uplinks[0].DHCP; d == nil || d.Hostname != "pathpin" || d.ClientID != "" || !d.Release || dhcp.Uplinks[0].Interface != "eth0" || dhcp.Uplinks[0].Gateway.IsValid() {
		t.Fatalf("dhcp example parsed wrongly: %+v", dhcp.Uplinks[0])
	}

	ref, err := Load("../../examples/reference.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if len(ref.Policies) != 6 || ref.Policies[1].Sticky != 30*time.Minute || !ref.Policies[2].Drop || !ref.Policies[3].Match.Router ||
		len(ref.Policies[4].Match.Domains) != 1 || ref.Policies[5].Match.Program != "backup" {
		t.Fatalf("reference policies parsed wrongly: %+v", ref.Policies)
	}
	if len(ref.Programs) != 1 || ref.DNS != (DNS{Queue: DefaultDNSQueue, MinTTL: DefaultDNSMinTTL, MaxTTL: DefaultDNSMaxTTL}) {
		t.Fatalf("reference programs and dns parsed wrongly: %+v %+v", ref.Programs, ref.DNS)
	}
	if len(ref.Uplinks) != 2 || ref.Uplinks[1].Weight != 2 || len(ref.Health.Targets) != 2 || ref.Health.Timeout != 500*time.Millisecond {
		t.Fatalf("reference parsed wrongly: %+v", ref)
	}
}

const good = `lan:
  interfaces: [eth1]
uplinks:
  - name: a
    interface: eth0
    gateway: 192.168.1.254
  - name: b
    interface: eth2
    gateway: 10.0.0.1
`

func TestDefaultsByPosition(t *testing.T) {
	cfg, err := Parse("good.yaml", []byte(good))
	if err != nil {
		t.Fatal(err)
	}
	for i, u := range cfg.Uplinks {
		if u.Table != 101+i || u.Mark != uint32(i+1)<<8 || u.Weight != 1 {
			t.Errorf("uplink %d: table %d mark %#x weight %d", i, u.Table, u.Mark, u.Weight)
		}
	}
}

func TestHealthOverride(t *testing.T) {
	y := good + "health:\n  targets: [1.1.1.1, 9.9.9.9]\n  interval: 200ms\n  timeout: 100ms\n"
	y = strings.Replace(y, "name: b", "name: b\n    health:\n      method: tcp\n      port: 80\n      targets: [203.0.113.10]\n      down-after: 5", 1)
	cfg, err := Parse("h.yaml", []byte(y))
	if err != nil {
		t.Fatal(err)
	}
	a, b := cfg.Uplinks[0].Health, cfg.Uplinks[1].Health
	if a.Method != "icmp" || len(a.Targets) != 2 || a.Interval != 200*time.Millisecond || a.DownAfter != 3 {
		t.Errorf("uplink a health %+v", a)
	}
	if b.Method != "tcp" || b.Port != 80 || len(b.Targets) != 1 || b.Interval != 200*time.Millisecond || b.DownAfter != 5 || b.UpAfter != 3 {
		t.Errorf("uplink b health %+v", b)
	}
	bad := strings.Replace(y, "method: tcp", "method: udp", 1)
	if _, err := Parse("h.yaml", []byte(bad)); err == nil || !strings.Contains(err.Error(), `uplinks[1].health.method: "udp" is not a probe method`) {
		t.Fatalf("bad method: %v", err)
	}
}

func TestConfigErrors(t *testing.T) {
	tests := []struct {
		name string
		yaml string
		want []string // each must appear in the error
	}{
		{"unknown key", strings.Replace(good, "gateway: 10.0.0.1", "gateway: 10.0.0.1\n    gatway: 1.2.3.4", 1),
			[]string{`bad.yaml:10: unknown key "gatway"`}},
		{"wrong type", strings.Replace(good, "name: b", "name: b\n    weight: lots", 1),
			[]string{`bad.yaml:8: "lots" is a string where a whole number is wanted`}},
		{"duplicate names", strings.Replace(good, "name: b", "name: a", 1),
			[]string{`bad.yaml:7: uplinks[1].name: name a is also used by uplink "a"`}},
		{"bad gateway", strings.Replace(good, "10.0.0.1", "10.0.0.300", 1),
			[]string{`bad.yaml:9: uplinks[1].gateway: "10.0.0.300" is not an IPv4 address`}},
		{"missing gateway", strings.Replace(good, "    gateway: 10.0.0.1\n", "", 1),
			[]string{`bad.yaml:7: uplinks[1]: static uplink "b" needs gateway:`}},
		{"missing interface", strings.Replace(good, "    interface: eth2\n", "", 1),
			[]string{`bad.yaml:7: uplinks[1]: uplink "b" needs interface: (static or dhcp:) or a pppoe: section`}},
		{"dhcp with gateway", strings.Replace(good, "gateway: 10.0.0.1", "gateway: 10.0.0.1\n    dhcp: {}", 1),
			[]string{`uplinks[1].gateway: a DHCP uplink's gateway comes with its lease (option 3); drop gateway:`}},
		{"dhcp and pppoe", good + "  - name: c\n    dhcp: {}\n    pppoe:\n      interface: eth3\n      username: u\n      password-file: /p\n",
			[]string{`uplinks[2].dhcp: an uplink is either pppoe: or dhcp:, not both`}},
		{"dhcp bad hostname", strings.Replace(good, "    gateway: 10.0.0.1\n", "    dhcp:\n      hostname: not a name\n", 1),
			[]string{`uplinks[1].dhcp.hostname: "not a name" is not a host name`}},
		{"clashing tables", strings.Replace(good, "name: b", "name: b\n    table: 101", 1),
			[]string{`bad.yaml:8: uplinks[1].table: table 101 is also used by uplink "a"`}},
		{"clashing marks", strings.Replace(good, "name: b", "name: b\n    mark: 0x100", 1),
			[]string{`bad.yaml:8: uplinks[1].mark: mark 0x100 is also used by uplink "a"`}},
		{"mark outside mask", strings.Replace(good, "name: b", "name: b\n    mark: 0x1", 1),
			[]string{`bad.yaml:8: uplinks[1].mark: 0x1 must be non-zero and lie inside mark-mask 0xff00`}},
		{"main table", strings.Replace(good, "name: b", "name: b\n    table: 254", 1),
			[]string{`uplinks[1].table: 254 is the kernel's default/main/local table`}},
		{"all standby", strings.ReplaceAll(good, "interface: eth", "weight: 0\n    interface: eth"),
			[]string{`every uplink has weight 0`}},
		{"uplink on the LAN", strings.Replace(good, "interface: eth2", "interface: eth1", 1),
			[]string{`bad.yaml:8: uplinks[1].interface: eth1 is also a LAN interface`}},
		{"no LAN", strings.Replace(good, "  interfaces: [eth1]\n", "", 1),
			[]string{`lan.interfaces: list at least one LAN interface`}},
		{"bad name", strings.Replace(good, "name: b", "name: Big Line", 1),
			[]string{`uplinks[1].name: "Big Line" must be 1-11 lower-case letters`}},
		{"pppoe without login", good + "  - name: c\n    pppoe:\n      interface: eth3\n",
			[]string{`bad.yaml:11: uplinks[2].pppoe.username: the PPP login is required`, `uplinks[2].pppoe.password-file`}},
		{"pppoe with gateway", good + "  - name: c\n    gateway: 1.2.3.4\n    pppoe:\n      interface: eth3\n      username: u\n      password-file: /p\n",
			[]string{`uplinks[2].pppoe: a PPPoE uplink takes no interface or gateway`}},
		{"pppoe on untagged LAN", good + "  - name: c\n    pppoe:\n      interface: eth1\n      username: u\n      password-file: /p\n",
			[]string{`uplinks[2].pppoe.interface: eth1 carries the LAN untagged`}},
		{"pppoe bad vlan", good + "  - name: c\n    pppoe:\n      interface: eth3\n      vlan: 5000\n      username: u\n      password-file: /p\n",
			[]string{`bad.yaml:13: uplinks[2].pppoe.vlan: 5000 must be from 1 to 4094`}},
		{"health timeout", good + "health:\n  interval: 1s\n  timeout: 2s\n",
			[]string{`bad.yaml:12: health.timeout: 2s must be positive and no longer than interval (1s)`}},
		{"health bad target", good + "health:\n  targets: [one.one.one.one]\n",
			[]string{`bad.yaml:11: health.targets[0]: "one.one.one.one" is not an IPv4 address`}},
		{"bad duration", good + "health:\n  interval: soon\n",
			[]string{`bad.yaml:11: "soon" is a string where a duration such as 1s or 500ms is wanted`}},
		{"duplicate key", strings.Replace(good, "name: b", "name: b\n    name: c", 1),
			[]string{`bad.yaml:8: mapping key "name" already defined at line 7`}},
		{"not yaml", "lan: [", []string{`bad.yaml:1: not valid YAML`}},
		{"empty", "", []string{`bad.yaml: the file is empty`}},
		{"iptables backend", good + "iptables: nft\n", []string{`bad.yaml:10: iptables: pathpin writes only its own nftables table now; remove this line`}},
		{"iptables firewall", good + "firewall: iptables\n", []string{`bad.yaml:10: firewall: pathpin's iptables backend is gone`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse("bad.yaml", []byte(tt.yaml))
			if err == nil {
				t.Fatalf("Parse accepted:\n%s", tt.yaml)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error\n%s\ndoes not contain\n%s", err, w)
				}
			}
		})
	}
}

func TestValidHostname(t *testing.T) {
	for _, tc := range []struct {
		name string
		ok   bool
	}{
		{"pathpin", true}, {"pathpin-2.home.arpa", true}, {"A1", true}, {strings.Repeat("a", 63), true},
		{"", false}, {"-pathpin", false}, {"pathpin-", false}, {"two..dots", false}, {"under_score", false},
		{"not a name", false}, {strings.Repeat("a", 64), false}, {strings.Repeat("a.", 127) + "a", false},
	} {
		if got := validHostname(tc.name); got != tc.ok {
			t.Errorf("validHostname(%q) = %v, want %v", tc.name, got, tc.ok)
		}
	}
}

// TestFailbackConfig: failback: never, a mapping, and what is refused.
func TestFailbackConfig(t *testing.T) {
	for _, tt := range []struct {
		yaml string
		want Failback
		err  string
	}{
		{"failback: never", Failback{Never: true}, ""},
		{"failback: {hold: 2m, move-back: true}", Failback{Hold: 2 * time.Minute, MoveBack: true}, ""},
		{"failback: sometimes", Failback{}, `"sometimes" is not a failback`},
		{"failback: {hold: 48h}", Failback{}, "must be from 0s to 24h"},
		{"failback: {hodl: 1m}", Failback{}, `unknown key "hodl"`},
	} {
		cfg, err := Parse("f.yaml", []byte(strings.Replace(good, "    gateway: 192.168.1.254\n", "    gateway: 192.168.1.254\n    "+tt.yaml+"\n", 1)))
		switch {
		case tt.err != "":
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("%s: error %v, want %q", tt.yaml, err, tt.err)
			}
		case err != nil:
			t.Errorf("%s: %v", tt.yaml, err)
		case cfg.Uplinks[0].Failback != tt.want:
			t.Errorf("%s: %+v, want %+v", tt.yaml, cfg.Uplinks[0].Failback, tt.want)
		}
	}
}

// TestProbeMethods: dns and http probes with their settings and
// defaults, and what is refused.
func TestProbeMethods(t *testing.T) {
	for _, tt := range []struct {
		health string
		check  func(Health) bool
		err    string
	}{
		{"{targets: [9.9.9.9], method: dns}", func(h Health) bool { return h.Method == "dns" && h.DNSName == "example.com" }, ""},
		{"{targets: [9.9.9.9], method: dns, dns-name: pathpin.example.}", func(h Health) bool { return h.DNSName == "pathpin.example" }, ""},
		{"{targets: [192.0.2.80], method: http}", func(h Health) bool { return h.Port == 80 && h.HTTPPath == "/" && h.HTTPStatus == 200 }, ""},
		{"{targets: [192.0.2.80], method: http, port: 8080, http-path: /generate_204, http-status: 204}", func(h Health) bool {
			return h.Port == 8080 && h.HTTPPath == "/generate_204" && h.HTTPStatus == 204
		}, ""},
		{"{targets: [192.0.2.80], method: gopher}", nil, `"gopher" is not a probe method`},
		{"{targets: [192.0.2.80], method: http, http-path: generate_204}", nil, "is not a path"},
		{"{targets: [192.0.2.80], method: http, http-status: 99}", nil, "is not an HTTP status"},
		{"{targets: [9.9.9.9], method: dns, dns-name: 1.2.3.4}", nil, "is not a name to ask for"},
	} {
		cfg, err := Parse("h.yaml", []byte(good+"health: "+tt.health+"\n"))
		switch {
		case tt.err != "":
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("%s: error %v, want %q", tt.health, err, tt.err)
			}
		case err != nil:
			t.Errorf("%s: %v", tt.health, err)
		case !tt.check(cfg.Health):
			t.Errorf("%s: %+v", tt.health, cfg.Health)
		}
	}
}

// TestStandbyCapMetered: standby: cold on DHCP and PPPoE uplinks (weight
// 0), a data cap, metered probing, and what is refused.
func TestStandbyCapMetered(t *testing.T) {
	dhcpB := strings.Replace(good, "    interface: eth2\n    gateway: 10.0.0.1\n", "    interface: eth2\n    dhcp: {}\n", 1)
	for _, tt := range []struct {
		name, yaml string
		check      func(Uplink) bool
		err        string
	}{
		{"cold dhcp", strings.Replace(dhcpB, "dhcp: {}", "dhcp: {}\n    standby: cold", 1), func(u Uplink) bool { return u.Cold && u.Weight == 0 }, ""},
		{"cold static", strings.Replace(good, "gateway: 10.0.0.1", "gateway: 10.0.0.1\n    standby: cold", 1), nil, "a static uplink has nothing to dial or lease"},
		{"cold weighted", strings.Replace(dhcpB, "dhcp: {}", "dhcp: {}\n    standby: cold\n    weight: 2", 1), nil, "drop weight"},
		{"standby typo", strings.Replace(dhcpB, "dhcp: {}", "dhcp: {}\n    standby: frozen", 1), nil, `"frozen" is not a standby`},
		{"cap", strings.Replace(good, "gateway: 10.0.0.1", "gateway: 10.0.0.1\n    cap: {bytes: 50G, reset-day: 15}", 1), func(u Uplink) bool {
			return u.Cap != nil && u.Cap.Bytes == 50e9 && u.Cap.Period == "monthly" && u.Cap.ResetDay == 15
		}, ""},
		{"cap daily GiB", strings.Replace(good, "gateway: 10.0.0.1", "gateway: 10.0.0.1\n    cap: {bytes: 1.5GiB, period: daily}", 1), func(u Uplink) bool {
			return u.Cap.Bytes == 3<<29 && u.Cap.Period == "daily"
		}, ""},
		{"cap junk", strings.Replace(good, "gateway: 10.0.0.1", "gateway: 10.0.0.1\n    cap: {bytes: lots}", 1), nil, `"lots" is not an amount of data`},
		{"cap day", strings.Replace(good, "gateway: 10.0.0.1", "gateway: 10.0.0.1\n    cap: {bytes: 5G, reset-day: 32}", 1), nil, "must be a day of the month"},
		{"cap daily day", strings.Replace(good, "gateway: 10.0.0.1", "gateway: 10.0.0.1\n    cap: {bytes: 5G, period: daily, reset-day: 3}", 1), nil, "drop reset-day"},
		{"metered", strings.Replace(good, "gateway: 10.0.0.1", "gateway: 10.0.0.1\n    health: {targets: [9.9.9.9], metered: true}", 1), func(u Uplink) bool {
			return u.Health.Metered && u.Health.MeteredInterval == DefaultMeteredInterval
		}, ""},
		{"metered fast", strings.Replace(good, "gateway: 10.0.0.1", "gateway: 10.0.0.1\n    health: {metered: true, metered-interval: 10ms}", 1), nil, "metered-interval"},
	} {
		if cfg := parseCase(t, tt.name, tt.yaml, tt.err); cfg != nil && !tt.check(cfg.Uplinks[1]) {
			t.Errorf("%s: %+v", tt.name, cfg.Uplinks[1])
		}
	}
}

// TestParseBytes: units of 1000 and of 1024, and junk.
func TestParseBytes(t *testing.T) {
	for _, tt := range []struct {
		in   string
		want uint64
	}{{"50G", 50e9}, {"1.5TB", 1.5e12}, {"500MiB", 500 << 20}, {"1000000", 1e6}, {"2K", 2000}, {"0", 0}, {"-1G", 0}, {"G", 0}, {"1e30G", 0}} {
		got, err := ParseBytes(tt.in)
		if got != tt.want || (err != nil) != (tt.want == 0) {
			t.Errorf("ParseBytes(%q) = %d, %v; want %d", tt.in, got, err, tt.want)
		}
	}
	if s := FormatBytes(50e9); s != "50 GB" {
		t.Errorf("FormatBytes(50e9) = %q", s)
	}
}

// TestWebConfig: listen addresses with and without a port, the default
// port, and what is refused.
func TestWebConfig(t *testing.T) {
	for _, tt := range []struct {
		yaml, want, err string
	}{
		{"", "[] 9430", ""},
		{"web: {listen: [10.0.0.1, 127.0.0.1:8080], port: 9000}", "[10.0.0.1:9000 127.0.0.1:8080] 9000", ""},
		{"web: {listen: [0.0.0.0:9430]}", "", "would listen on the uplinks' side too"},
		{"web: {listen: [lan]}", "", "is not an address to listen on"},
		{"web: {port: 70000}", "", "is not a TCP port"},
	} {
		if cfg := parseCase(t, tt.yaml, good+tt.yaml+"\n", tt.err); cfg != nil && fmt.Sprint(cfg.Web.Listen, " ", cfg.Web.Port) != tt.want {
			t.Errorf("%s: %v %d, want %s", tt.yaml, cfg.Web.Listen, cfg.Web.Port, tt.want)
		}
	}
}

// TestNotifyAndPublicConfig: webhooks with their defaults, public address
// sources, and what is refused.
func TestNotifyAndPublicConfig(t *testing.T) {
	for _, tt := range []struct {
		yaml  string
		check func(*Config) bool
		err   string
	}{
		{"notify: [{url: 'https://ntfy.sh/router'}]", func(c *Config) bool {
			n := c.Notify[0]
			return n.Timeout == 5*time.Second && n.Retries == 3 && n.Debounce == 10*time.Second
		}, ""},
		{"notify: [{url: 'http://10.0.0.5:8080/hook', retries: 0, debounce: 0s, body: '{{.Uplink}} is {{.To}}'}]", func(c *Config) bool {
			return c.Notify[0].Retries == 0 && c.Notify[0].Debounce == 0 && c.Notify[0].Body != ""
		}, ""},
		{"notify: [{url: 'ftp://x'}]", nil, "http:// or https:// URL"},
		{`notify: [{url: 'https://api.telegram.org/bot1:A/sendMessage', body: '{"chat_id": -100, "text": {{printf "%s: %s → %s (%s)" .Uplink .From .To .Reason | json}}}'}]`,
			func(c *Config) bool { return strings.Contains(c.Notify[0].Body, "json") }, ""},
		{"notify: [{url: 'https://x', headers: {'Bad Header': v}}]", nil, "notify"},
		{"notify: [{url: 'https://x', body: '{{.Uplnk}}'}]", nil, "Uplnk"},
		{"notify: [{url: 'https://x', body: '{{.Uplink'}]", nil, "the body is a Go template"},
		{"notify: [{url: 'https://x', retries: 11}]", nil, "must be from 0 to 10"},
		{"public-address: {stun: ['stun.example.net:3478'], http: ['https://api.example/ip']}", func(c *Config) bool {
			return c.Public.Enabled() && c.Public.Interval == 5*time.Minute
		}, ""},
		{"public-address: {stun: ['stun.example.net']}", nil, "is not host:port"},
		{"public-address: {http: ['api.example/ip']}", nil, "is not an http:// or https:// URL"},
	} {
		if cfg := parseCase(t, tt.yaml, good+tt.yaml+"\n", tt.err); cfg != nil && !tt.check(cfg) {
			t.Errorf("%s: %+v %+v", tt.yaml, cfg.Notify, cfg.Public)
		}
	}
}

// parseCase parses y and checks it fails with wantErr in its message, or
// (wantErr empty) that it parses; it returns the configuration only then.
func parseCase(t *testing.T, name, y, wantErr string) *Config {
	t.Helper()
	cfg, err := Parse(name+".yaml", []byte(y))
	switch {
	case wantErr != "":
		if err == nil || !strings.Contains(err.Error(), wantErr) {
			t.Errorf("%s: error %v, want %q", name, err, wantErr)
		}
	case err != nil:
		t.Errorf("%s: %v", name, err)
	default:
		return cfg
	}
	return nil
}
