package config

import (
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

const policyBase = `lan:
  interfaces: [eth1, eth3]
uplinks:
  - name: talktalk
    interface: eth0
    gateway: 192.168.1.254
  - name: plusnet
    interface: eth2
    gateway: 10.0.0.1
policies:
`

// TestPoliciesParse: the three policies, and the forms of via.
func TestPoliciesParse(t *testing.T) {
	cfg, err := Parse("p.yaml", []byte(policyBase+`  - name: phone
    match: {source: [10.1.0.20], protocol: udp, port: [5060, 10000-20000]}
    via: [talktalk, plusnet]
  - name: laptop
    match: {mac: [aa:bb:cc:dd:ee:ff]}
    via: {plusnet: 2, talktalk: 1}
    sticky: 30m
  - name: backups
    match: {destination: [198.51.100.0/24, 203.0.113.1-203.0.113.9], port: 22, interface: eth3}
    via: [{plusnet: 1}, talktalk]
    otherwise: drop
  - name: ntp
    match: {router: true, protocol: udp, port: 123}
    via: plusnet
balance: {sticky: 10m}
`))
	if err != nil {
		t.Fatal(err)
	}
	ps := cfg.Policies
	if len(ps) != 4 {
		t.Fatalf("%d policies", len(ps))
	}
	if diff := cmp.Diff([][]Member{{{"talktalk", 1}}, {{"plusnet", 1}}}, ps[0].Tiers); diff != "" {
		t.Errorf("phone tiers: %s", diff)
	}
	if diff := cmp.Diff([]PortRange{{5060, 5060}, {10000, 20000}}, ps[0].Match.Ports); diff != "" || ps[0].Match.Protos[0] != 17 {
		t.Errorf("phone ports %v protos %v", ps[0].Match.Ports, ps[0].Match.Protos)
	}
	if diff := cmp.Diff([][]Member{{{"plusnet", 2}, {"talktalk", 1}}}, ps[1].Tiers); diff != "" || ps[1].Sticky != 30*time.Minute {
		t.Errorf("laptop: %s sticky %s", diff, ps[1].Sticky)
	}
	b := ps[2]
	if !b.Drop || len(b.Match.Protos) != 2 || b.Match.Interfaces[0] != "eth3" || b.Match.Dests[1] != (AddrRange{netip.MustParseAddr("203.0.113.1"), netip.MustParseAddr("203.0.113.9")}) {
		t.Errorf("backups parsed as %+v", b)
	}
	if !ps[3].Match.Router || ps[3].Tiers[0][0].Uplink != "plusnet" || cfg.Balance.Sticky != 10*time.Minute {
		t.Errorf("ntp %+v, balance %+v", ps[3], cfg.Balance)
	}
	if ps[0].Line != 11 || ps[3].Line != 22 {
		t.Errorf("lines %d, %d", ps[0].Line, ps[3].Line)
	}
}

// TestPolicyErrors: each mistake is refused at its file, line and field,
// with what to do.
func TestPolicyErrors(t *testing.T) {
	tests := []struct {
		name, policies, want string
	}{
		{"unknown uplink", "  - name: x\n    match: {source: [10.0.0.1]}\n    via: [bt]\n", `p.yaml:13: policies[0].via[0]: "bt" names no uplink`},
		{"unknown uplink in weights", "  - name: x\n    match: {source: [10.0.0.1]}\n    via: {bt: 2}\n", `p.yaml:13: policies[0].via.bt: "bt" names no uplink`},
		{"empty match", "  - name: x\n    match: {}\n    via: [plusnet]\n", `p.yaml:12: policies[0].match: an empty match would take every connection`},
		{"no match", "  - name: x\n    via: [plusnet]\n", `p.yaml:11: policies[0].match: a policy needs a match`},
		{"no via", "  - name: x\n    match: {source: [10.0.0.1]}\n", `policies[0].via: a policy needs uplinks`},
		{"overlapping ports", "  - name: x\n    match: {protocol: tcp, port: [80-90, 85]}\n    via: [plusnet]\n", `p.yaml:12: policies[0].match.port[1]: 85 overlaps 80-90 (port[0]); merge them`},
		{"overlapping sources", "  - name: x\n    match: {source: [10.0.0.0/8, 10.1.0.0/16]}\n    via: [plusnet]\n", `policies[0].match.source[1]: 10.1.0.0/16 overlaps 10.0.0.0/8`},
		{"shadowed", "  - name: all-ten\n    match: {source: [10.0.0.0/8]}\n    via: [plusnet]\n  - name: one\n    match: {source: [10.1.2.3], port: [443]}\n    via: [talktalk]\n",
			`p.yaml:15: policies[1].match: this policy can never match: every connection it matches, policy "all-ten" above matches first`},
		{"same match twice", "  - name: a\n    match: {mac: [aa:bb:cc:dd:ee:ff]}\n    via: [plusnet]\n  - name: b\n    match: {mac: [aa:bb:cc:dd:ee:ff]}\n    via: [talktalk]\n", `policies[1].match: this policy can never match`},
		{"bad name", "  - name: Phone!\n    match: {source: [10.0.0.1]}\n    via: [plusnet]\n", `policies[0].name: "Phone!" must be`},
		{"duplicate name", "  - name: a\n    match: {source: [10.0.0.1]}\n    via: [plusnet]\n  - name: a\n    match: {source: [10.0.0.2]}\n    via: [plusnet]\n", `policies[1].name: "a" is also the name of policies[0]`},
		{"bad address", "  - name: x\n    match: {destination: [example.com]}\n    via: [plusnet]\n", `policies[0].match.destination[0]: "example.com" is not an IPv4 address`},
		{"bad port", "  - name: x\n    match: {port: [70000]}\n    via: [plusnet]\n", `policies[0].match.port[0]: "70000" is not a port`},
		{"icmp port", "  - name: x\n    match: {protocol: icmp, port: [1]}\n    via: [plusnet]\n", `policies[0].match.port: ICMP has no ports`},
		{"bad protocol", "  - name: x\n    match: {protocol: gre}\n    via: [plusnet]\n", `policies[0].match.protocol: "gre" is not a protocol`},
		{"bad mac", "  - name: x\n    match: {mac: [aa:bb]}\n    via: [plusnet]\n", `policies[0].match.mac[0]: "aa:bb" is not an Ethernet address`},
		{"not a LAN interface", "  - name: x\n    match: {interface: [eth0]}\n    via: [plusnet]\n", `policies[0].match.interface[0]: "eth0" is not a LAN interface`},
		{"router with mac", "  - name: x\n    match: {router: true, mac: [aa:bb:cc:dd:ee:ff]}\n    via: [plusnet]\n", `policies[0].match.router: the router's own connections arrive on no interface`},
		{"uplink twice", "  - name: x\n    match: {source: [10.0.0.1]}\n    via: [plusnet, {plusnet: 2}]\n", `policies[0].via[1].plusnet: plusnet is named twice`},
		{"bad weight", "  - name: x\n    match: {source: [10.0.0.1]}\n    via: {plusnet: 0}\n", `policies[0].via.plusnet: weight 0 must be from 1 to 1000`},
		{"bad sticky", "  - name: x\n    match: {source: [10.0.0.1]}\n    via: [plusnet]\n    sticky: 10ms\n", `policies[0].sticky: 10ms must be whole seconds from 1s to 168h0m0s`},
		{"sticky not whole seconds", "  - name: x\n    match: {source: [10.0.0.1]}\n    via: [plusnet]\n    sticky: 1001ms\n", `policies[0].sticky: 1.001s must be whole seconds`},
		{"empty via", "  - name: x\n    match: {source: [10.0.0.1]}\n    via: {}\n", `policies[0].via: via names no uplink`},
		{"empty tier", "  - name: x\n    match: {source: [10.0.0.1]}\n    via: [{}]\n", `policies[0].via[0]: this tier names no uplink`},
		{"bad otherwise", "  - name: x\n    match: {source: [10.0.0.1]}\n    via: [plusnet]\n    otherwise: leak\n", `policies[0].otherwise: "leak" is not what to do`},
		{"unknown key", "  - name: x\n    match: {src: [10.0.0.1]}\n    via: [plusnet]\n", `unknown key "src"`},
		{"too many in all", manyHosts(500), `the policies are 80000 combinations`},
		{"bad domain", "  - name: x\n    match: {domains: [\"not a name\"]}\n    via: [plusnet]\n", `policies[0].match.domains[0]: "not a name" is not a domain name`},
		{"single label", "  - name: x\n    match: {domains: [example]}\n    via: [plusnet]\n", `"example" is not a domain name`},
		{"nested domains", "  - name: x\n    match: {domains: [stream.example, cdn.stream.example]}\n    via: [plusnet]\n", `policies[0].match.domains[1]: cdn.stream.example and stream.example ([0]) overlap`},
		{"domains with destination", "  - name: x\n    match: {domains: [a.example], destination: [10.0.0.1]}\n    via: [plusnet]\n", `policies[0].match.destination: a policy with domains takes its destinations from the DNS answers`},
		{"domain shadowed", "  - name: a\n    match: {domains: [stream.example]}\n    via: [plusnet]\n  - name: b\n    match: {domains: [www.stream.example]}\n    via: [talktalk]\n", `policies[1].match: this policy can never match`},
		{"unknown program", "  - name: x\n    match: {program: backup}\n    via: [plusnet]\n", `policies[0].match.program: "backup" is no entry of programs:`},
		{"program with interface", "  - name: x\n    match: {program: backup, interface: [eth1]}\n    via: [plusnet]\nprograms: [{name: backup}]\n", `a program's connections are the router's own`},
		{"program with a dash", "  - name: x\n    match: {source: [10.0.0.1]}\n    via: [plusnet]\nprograms: [{name: off-site}]\n", `programs[0].name: "off-site": a program's name holds no -`},
		{"bad ttl", "  - name: x\n    match: {source: [10.0.0.1]}\n    via: [plusnet]\ndns: {min-ttl: 500ms}\n", `dns.min-ttl: 500ms must be whole seconds`},
		{"min above max", "  - name: x\n    match: {source: [10.0.0.1]}\n    via: [plusnet]\ndns: {min-ttl: 2h, max-ttl: 1h}\n", `dns.min-ttl: min-ttl 2h0m0s is above max-ttl 1h0m0s`},
		{"too many combinations", "  - name: x\n    match: {source: [" + addrs(70) + "], port: [" + ports(70) + "]}\n    via: [plusnet]\n", `combinations of its values`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse("p.yaml", []byte(policyBase+tt.policies))
			if err == nil {
				t.Fatal("accepted")
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error:\n%s\nwant it to contain:\n%s", err, tt.want)
			}
		})
	}
}

// TestDomainsAndPrograms: domains are lower-cased without their final dot,
// a program policy is the router's own, and the dns: defaults.
func TestDomainsAndPrograms(t *testing.T) {
	cfg, err := Parse("p.yaml", []byte(policyBase+`  - name: stream
    match: {domains: [Stream.Example., video.example], protocol: tcp}
    via: [plusnet]
  - name: backup
    match: {program: backup}
    via: talktalk
  - name: all-router
    match: {router: true}
    via: plusnet
programs:
  - name: backup
`))
	if err != nil {
		t.Fatal(err)
	}
	if got := cfg.Policies[0].Match.Domains; !slices.Equal(got, []string{"stream.example", "video.example"}) {
		t.Errorf("domains %v", got)
	}
	if m := cfg.Policies[1].Match; !m.Router || m.Program != "backup" {
		t.Errorf("program policy %+v", m)
	}
	if !cfg.HasDomains() || cfg.DNS != (DNS{Queue: DefaultDNSQueue, MinTTL: DefaultDNSMinTTL, MaxTTL: DefaultDNSMaxTTL}) {
		t.Errorf("dns %+v", cfg.DNS)
	}
	if len(cfg.Programs) != 1 || cfg.Programs[0].Name != "backup" {
		t.Errorf("programs %+v", cfg.Programs)
	}
}

// manyHosts is n single-host policies of 40 port ranges each, for TCP and
// UDP: 80 elements, 160 over the two LAN interfaces.
func manyHosts(n int) string {
	var b strings.Builder
	for i := 0; i < n; i++ {
		fmt.Fprintf(&b, "  - name: h%d\n    match: {source: [10.%d.%d.%d], port: [%s]}\n    via: [plusnet]\n", i, i/65536, i/256%256, i%256, ports(40))
	}
	return b.String()
}

func addrs(n int) string {
	var s []string
	for i := 0; i < n; i++ {
		s = append(s, netip.AddrFrom4([4]byte{10, 9, byte(i / 200), byte(i%200 + 1)}).String())
	}
	return strings.Join(s, ", ")
}

func ports(n int) string {
	var s []string
	for i := 0; i < n; i++ {
		s = append(s, strconv.Itoa(1000+i*2))
	}
	return strings.Join(s, ", ")
}
