package uplink

import (
	"slices"
	"strings"
	"testing"

	"github.com/google/nftables/binaryutil"
	"github.com/google/nftables/expr"
	"github.com/pathpin/pathpin/internal/config"
	"github.com/vishvananda/netlink"
)

func TestIptablesMarkUsers(t *testing.T) {
	for _, tc := range []struct {
		line        string
		bits, value uint32
		sets, whole bool
		owner       string
	}{
		{"-A KUBE-MARK-MASQ -j MARK --set-xmark 0x4000/0x4000", 0x4000, 0x4000, true, false, "kube-proxy"},
		{"-A KUBE-POSTROUTING -m mark ! --mark 0x4000/0x4000 -j RETURN", 0x4000, 0x4000, false, false, "kube-proxy"},
		{"-A CILIUM_PRE_mangle -m socket --transparent -m mark ! --mark 0xe00/0xf00 -j MARK --set-xmark 0x200/0xffffffff", 0xf00, 0xe00, false, false, "Cilium"},
		{"-A CILIUM_PRE_mangle -m socket --transparent -m mark ! --mark 0xe00/0xf00 -j MARK --set-xmark 0x200/0xffffffff", 0x200, 0x200, true, true, "Cilium"},
		{"-A ts-forward -i tailscale0 -j MARK --set-xmark 0x40000/0xff0000", 0xff0000, 0x40000, true, false, "Tailscale"},
		{"-A PREROUTING -j MARK --or-mark 0x1", 0x1, 0, true, false, ""},
		{"-A PREROUTING -j MARK --and-mark 0xfffffffe", 0x1, 0, true, false, ""},
		{"-A FORWARD -j DOCKER-USER", 0, 0, false, false, ""},
	} {
		users, _ := iptablesMarkUsers("iptables-nft", "mangle", []string{tc.line})
		if tc.bits == 0 {
			if len(users) != 0 {
				t.Errorf("%q: found %+v, want nothing", tc.line, users)
			}
			continue
		}
		found := false
		for _, u := range users {
			if u.Bits == tc.bits && u.Sets == tc.sets {
				found = true
				if u.Value != tc.value || u.Whole != tc.whole || u.Owner != tc.owner || !strings.Contains(u.Where, "iptables-nft -t mangle "+tc.line) {
					t.Errorf("%q: %+v, want value %#x whole %v owner %q", tc.line, u, tc.value, tc.whole, tc.owner)
				}
			}
		}
		if !found {
			t.Errorf("%q: %+v has no use of bits %#x (sets %v)", tc.line, users, tc.bits, tc.sets)
		}
	}
	if users, _ := iptablesMarkUsers("iptables-nft", "mangle", []string{"-A PREROUTING -p udp -j CONNMARK --restore-mark --nfmask 0xffffffff --ctmask 0xffffffff"}); len(users) != 1 || !users[0].Copy || !users[0].Whole || users[0].Hook != "prerouting" {
		t.Errorf("a whole CONNMARK restore: %+v", users)
	}
	if users, _ := iptablesMarkUsers("iptables-nft", "mangle", []string{"-A PREROUTING -j CONNMARK --restore-mark --nfmask 0xffffffff --ctmask 0xff"}); len(users) != 1 || !users[0].Copy || !users[0].Whole {
		t.Errorf("a restore writes the packet's bits of --nfmask: %+v", users)
	}
	if users, _ := iptablesMarkUsers("iptables-nft", "mangle", []string{"-A POSTROUTING -j CONNMARK --save-mark --nfmask 0xffffffff --ctmask 0xff"}); len(users) != 1 || users[0].Bits != 0xff || users[0].Whole {
		t.Errorf("a save writes the connection's bits of --ctmask: %+v", users)
	}
	if users, _ := iptablesMarkUsers("iptables-nft", "mangle", []string{"-A PATHPIN-BALANCE -j MARK --set-xmark 0x100/0xff00", "-A PREROUTING -j PATHPIN-PRE"}); len(users) != 0 {
		t.Errorf("an older pathpin's chains are counted: %+v", users)
	}
	if users, _ := iptablesMarkUsers("iptables-nft", "nat", []string{"-A POSTROUTING -m mark ! --mark 0x0 -j MASQUERADE"}); len(users) != 1 || !users[0].Negate || users[0].Bits != 0 {
		t.Errorf("a negated test of no mark: %+v", users)
	}
	_, drops := iptablesMarkUsers("iptables-legacy", "filter", []string{"-P INPUT ACCEPT", "-P FORWARD DROP", "-N DOCKER"})
	if len(drops) != 1 || drops[0] != "iptables-legacy -t filter -P FORWARD DROP" {
		t.Errorf("drops %q", drops)
	}
}

func u32(v uint32) []byte { return binaryutil.NativeEndian.PutUint32(v) }

func TestExprMarkUsers(t *testing.T) {
	for _, tc := range []struct {
		name  string
		es    []expr.Any
		wants []MarkUser
	}{
		{"meta mark set mark and 0xff00ffff xor 0x40000 (Tailscale)", []expr.Any{
			&expr.Meta{Key: expr.MetaKeyMARK, Register: 1},
			&expr.Bitwise{SourceRegister: 1, DestRegister: 1, Len: 4, Mask: u32(0xff00ffff), Xor: u32(0x40000)},
			&expr.Meta{Key: expr.MetaKeyMARK, SourceRegister: true, Register: 1},
		}, []MarkUser{{Bits: 0xff0000, Sets: true, Priority: -1}}},
		{"meta mark and 0xff0000 == 0x80000", []expr.Any{
			&expr.Meta{Key: expr.MetaKeyMARK, Register: 1},
			&expr.Bitwise{SourceRegister: 1, DestRegister: 1, Len: 4, Mask: u32(0xff0000), Xor: u32(0)},
			&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: u32(0x80000)},
		}, []MarkUser{{Bits: 0xff0000, Value: 0x80000, Priority: -1}}},
		{"ct mark 0xca6c meta mark set ct mark (wg-quick)", []expr.Any{
			&expr.Meta{Key: expr.MetaKeyL4PROTO, Register: 1},
			&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{17}},
			&expr.Ct{Key: expr.CtKeyMARK, Register: 1},
			&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: u32(0xca6c)},
			&expr.Ct{Key: expr.CtKeyMARK, Register: 1},
			&expr.Meta{Key: expr.MetaKeyMARK, SourceRegister: true, Register: 1},
		}, []MarkUser{{Bits: 0xca6c, Value: 0xca6c, Whole: true, Priority: -1}, {Bits: 0xca6c, Sets: true, Whole: true, Copy: true, Priority: -1}}},
		{"meta mark set 0x7", []expr.Any{
			&expr.Immediate{Register: 1, Data: u32(7)},
			&expr.Meta{Key: expr.MetaKeyMARK, SourceRegister: true, Register: 1},
		}, []MarkUser{{Bits: 7, Sets: true, Whole: true, Priority: -1}}},
		{"ct mark set mark or 0x4000", []expr.Any{
			&expr.Meta{Key: expr.MetaKeyMARK, Register: 1},
			&expr.Bitwise{SourceRegister: 1, DestRegister: 1, Len: 4, Mask: u32(0xffffbfff), Xor: u32(0x4000)},
			&expr.Ct{Key: expr.CtKeyMARK, SourceRegister: true, Register: 1},
		}, []MarkUser{{Bits: 0x4000, Sets: true, Copy: true, Priority: -1}}},
		{"no marks: tcp dport 22 accept", []expr.Any{
			&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseTransportHeader, Offset: 2, Len: 2},
			&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{0, 22}},
		}, nil},
	} {
		got := exprMarkUsers(tc.es)
		if len(got) != len(tc.wants) {
			t.Errorf("%s: %+v, want %+v", tc.name, got, tc.wants)
			continue
		}
		for i := range got {
			if got[i] != tc.wants[i] {
				t.Errorf("%s: use %d is %+v, want %+v", tc.name, i, got[i], tc.wants[i])
			}
		}
	}
}

func TestRuleMarkUsers(t *testing.T) {
	mask := func(m uint32) *uint32 { return &m }
	rules := []netlink.Rule{
		{Priority: 32764, Invert: true, Mark: 0xca6c, Mask: mask(0xffffffff), Table: 51820, SuppressPrefixlen: -1},
		{Priority: 5210, Mark: 0x80000, Mask: mask(0xff0000), Table: 254, SuppressPrefixlen: -1},
		{Priority: 5250, Mark: 0x80000, Mask: mask(0xff0000), SuppressPrefixlen: -1, Goto: -1}, // as listed: no table, no goto
		{Priority: 10100, Mark: 0x100, Mask: mask(0xff00), Table: 101, SuppressPrefixlen: -1},  // pathpin's
		{Priority: 9000, Mark: 0, Mask: mask(0xffffffff), Table: 51820, IifName: "lo", SuppressPrefixlen: -1},
		{Priority: 500, Table: 200, SuppressPrefixlen: -1},
	}
	got := ruleMarkUsers(rules)
	want := []MarkUser{
		{Owner: "wg-quick", Where: "ip rule 32764: not from all fwmark 0xca6c lookup 51820", Bits: 0xca6c, Value: 0xca6c, Whole: true, Negate: true, Priority: 32764, Table: 51820, Mask: 0xffffffff},
		{Owner: "Tailscale", Where: "ip rule 5210: from all fwmark 0x80000/0xff0000 lookup main", Bits: 0xff0000, Value: 0x80000, Priority: 5210, Table: 254, Mask: 0xff0000},
		{Owner: "Tailscale", Where: "ip rule 5250: from all fwmark 0x80000/0xff0000 unreachable", Bits: 0xff0000, Value: 0x80000, Priority: 5250, Refuses: true, Mask: 0xff0000, Goto: -1},
		{Owner: "wg-quick", Where: "ip rule 9000: from all fwmark 0x0 iif lo lookup 51820", Whole: true, Priority: 9000, Table: 51820, Mask: 0xffffffff},
	}
	if len(got) != len(want) {
		t.Fatalf("%+v, want %+v", got, want)
	}
	for i := range got {
		if got[i] != want[i] {
			t.Errorf("rule %d: %+v, want %+v", i, got[i], want[i])
		}
	}
}

func TestProposeMask(t *testing.T) {
	for _, tc := range []struct {
		used, current uint32
		uplinks       int
		want          uint32
	}{
		{0, 0xff00, 2, 0xff00},
		{0xca6c, 0xff00, 2, 0xff000000},                             // wg-quick
		{0xca6c | 0xff0000 | 0xc000 | 0xf00, 0xff00, 8, 0xff000000}, // with Tailscale, kube-proxy, Cilium
		{0xff000000 | 0xff0000 | 0xffff, 0xff00, 2, 0},
		{0xff000000 | 0xff0000 | 0xffff, 0xff00, 2, 0},
		{0xff00ffff, 0xff00, 2, 0xff0000},
		{0xfff0ffff, 0xff00, 3, 0x0f0000},
		{0xfff0ffff, 0xff00, 16, 0},
		{0x1, 0xf0, 2, 0xf0}, // the current mask, when free
	} {
		if got := ProposeMask(tc.used, tc.current, tc.uplinks); got != tc.want {
			t.Errorf("ProposeMask(%#x, %#x, %d) = %#x, want %#x", tc.used, tc.current, tc.uplinks, got, tc.want)
		}
	}
}

func TestMarkFindings(t *testing.T) {
	cfg := &config.Config{Path: "/etc/pathpin.yaml", MarkMask: 0xff00, Uplinks: []config.Uplink{{Name: "a"}, {Name: "b"}}, LAN: config.LAN{Interfaces: []string{"eth1"}}}
	h := HostMarks{
		Users: []MarkUser{
			{Owner: "WireGuard", Where: "WireGuard link wg0 (fwmark 0xca6c)", Bits: 0xca6c, Value: 0xca6c, Sets: true, Priority: -1},
			{Where: "nftables table inet x, chain y", Bits: 0x1, Sets: true, Whole: true, Priority: -1, Hook: "prerouting"},
			{Owner: "kube-proxy", Where: "iptables-nft -t nat -A KUBE-POSTROUTING -m mark ! --mark 0x4000/0x4000 -j RETURN", Bits: 0x4000, Value: 0x4000, Priority: -1},
			{Owner: "Tailscale", Where: "ip rule 5210: from all fwmark 0x80000/0xff0000 lookup main", Bits: 0xff0000, Value: 0x80000, Priority: 5210, Table: 254, Mask: 0xff0000},
			{Owner: "Tailscale", Where: "ip rule 5250: from all fwmark 0x80000/0xff0000 unreachable", Bits: 0xff0000, Value: 0x80000, Priority: 5250, Refuses: true, Mask: 0xff0000},
			{Where: "ip rule 9000: from all fwmark 0x0 lookup 51820", Whole: true, Priority: 9000, Mask: 0xffffffff},
			{Where: "iptables-nft -t nat -A POSTROUTING -m mark ! --mark 0x0 -j MASQUERADE", Whole: true, Negate: true, Priority: -1, Hook: "postrouting"},
			{Where: "iptables-nft -t mangle -A POSTROUTING -j MARK --set-xmark 0xa/0xffffffff", Bits: 0xa, Value: 0xa, Sets: true, Whole: true, Priority: -1, Hook: "postrouting"},
			{Where: "nftables table inet q, chain m", Bits: 0xf00, Unknown: true, Value: 0xffffffff, Priority: -1, Hook: "forward"},
			{Where: "iptables-nft -t mangle -A X -m mark --mark 0x0/0xf00 -j RETURN", Bits: 0xf00, Priority: -1},
			{Where: "nftables table inet lb, chain pick", Sets: true, Whole: true, Unknown: true, Priority: -1},
			{Where: "nftables table inet raw, chain pre", Bits: 0x1, Sets: true, Whole: true, Before: true, Priority: -1},
			{Where: "ip rule 900: from all fwmark 0x7 lookup 200", Bits: 0x7, Value: 0x7, Whole: true, Priority: 900},
		},
		ForwardDrops: []string{"iptables-nft -t filter -P FORWARD DROP"},
		SrcValidMark: []string{"all"},
		Links:        []string{"Tailscale link tailscale0"},
		Docker:       true,
		Unread:       []string{"iptables-legacy -t nat: permission denied"},
	}
	text := func(fs []Finding) string {
		var b strings.Builder
		for _, f := range fs {
			b.WriteString(f.Severity.String() + ": " + f.Text + "\n")
		}
		return b.String()
	}
	got := text(MarkFindings(cfg, h))
	for _, want := range []string{
		"warning: WireGuard link wg0 (fwmark 0xca6c) sets mark bits 0xca6c, inside pathpin's mark-mask 0xff00",
		"a tunnel among them does not follow a failover",
		"set mark-mask: 0xff000000 in /etc/pathpin.yaml",
		"warning: kube-proxy: iptables-nft -t nat -A KUBE-POSTROUTING -m mark ! --mark 0x4000/0x4000 -j RETURN tests mark bits 0x4000, inside pathpin's mark-mask 0xff00",
		"kube-proxy masquerades packets with 0x4000",
		"ok: Tailscale: ip rule 5210: from all fwmark 0x80000/0xff0000 lookup main uses mark bits 0xff0000, outside pathpin's mark-mask 0xff00",
		"ok: ip rule 9000: from all fwmark 0x0 lookup 51820 matches only packets with no mark at all",
		"warning: ip rule 900: from all fwmark 0x7 lookup 200 compares the whole mark with 0x7 where packets already carry pathpin's bits",
		"give it a mask (0x7/0xf), or move it after pathpin's rules (priority 11000 or more)",
		"warning: Tailscale: ip rule 5250: from all fwmark 0x80000/0xff0000 unreachable refuses the packets with its mark that the rules before it did not route",
		"ip rule add pref 5209 fwmark 0x80000/0xff0000 goto 10100",
		"ok: iptables-nft -t nat -A POSTROUTING -m mark ! --mark 0x0 -j MASQUERADE matches every packet that carries a mark",
		"ok: iptables-nft -t mangle -A POSTROUTING -j MARK --set-xmark 0xa/0xffffffff sets the whole mark (0xa) after routing",
		"warning: nftables table inet q, chain m tests mark bits 0xf00, inside pathpin's mark-mask 0xff00",
		"warning: iptables-nft -t mangle -A X -m mark --mark 0x0/0xf00 -j RETURN tests that mark bits 0xf00 are clear",
		"warning: nftables table inet lb, chain pick sets marks from values pathpin cannot read",
		"warning: could not read iptables-legacy -t nat: permission denied: the marks there are not checked",
		"warning: iptables-nft -t filter -P FORWARD DROP: forwarded traffic that none of its rules accepts is dropped",
		"iptables -I DOCKER-USER -i eth1 -j ACCEPT",
		"ok: net.ipv4.conf.{all}.src_valid_mark is 1",
		"warning: nftables table inet x, chain y sets the whole mark (0x1) where routing still reads it: on a packet pathpin has marked, it clears pathpin's bits",
		"ok: Tailscale link tailscale0",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("findings lack %q:\n%s", want, got)
		}
	}
	if strings.Contains(got, "warning: nftables table inet raw") {
		t.Errorf("a whole-mark write before pathpin's chains is reported:\n%s", got)
	}
	// With the proposed mask (and main's default back), nothing clashes.
	cfg.MarkMask = 0xff000000
	h.MainDefault = true
	h.Users = slices.DeleteFunc(h.Users, func(u MarkUser) bool { return u.Unknown })
	got = text(MarkFindings(cfg, h))
	if strings.Contains(got, "no default route") {
		t.Errorf("with a default in main, the Tailscale rule is still reported:\n%s", got)
	}
	if strings.Contains(got, ", inside pathpin's mark-mask") || !strings.Contains(got, "ok: WireGuard link wg0 (fwmark 0xca6c) uses mark bits 0xca6c, outside") {
		t.Errorf("with the proposed mask, a clash is still reported:\n%s", got)
	}
	if !strings.Contains(got, "no other software here uses mark bits inside pathpin's mark-mask 0xff000000") {
		t.Errorf("the all-clear is missing:\n%s", got)
	}
}
