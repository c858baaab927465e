package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/pathpin/pathpin/internal/notify"
	"gopkg.in/yaml.v3"
)

// Load reads and validates the file at path.
func Load(path string) (*Config, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading config: %w (create it from examples/seed.yaml, or pass -c FILE)", err)
	}
	return Parse(path, b)
}

// Parse validates a configuration held in memory; path names it in errors.
func Parse(path string, b []byte) (*Config, error) {
	var root yaml.Node
	if err := yaml.Unmarshal(b, &root); err != nil {
		return nil, fromYAML(path, err)
	}
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	var raw rawConfig
	if err := dec.Decode(&raw); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, Errors{{Path: path, Msg: "the file is empty; start from examples/seed.yaml"}}
		}
		return nil, fromYAML(path, err)
	}
	v := &validator{path: path, root: &root}
	cfg := v.config(&raw)
	if len(v.errs) > 0 {
		return nil, v.errs
	}
	return cfg, nil
}

// validator collects every problem in one pass, each with its line.
type validator struct {
	path string
	root *yaml.Node
	errs Errors
}

// fail records a problem at the field named by path (keys and indexes).
func (v *validator) fail(path []any, format string, args ...any) {
	v.errs = append(v.errs, &Error{Path: v.path, Line: lineOf(v.root, path), Field: fieldName(path), Msg: fmt.Sprintf(format, args...)})
}

func (v *validator) config(raw *rawConfig) *Config {
	cfg := &Config{Path: v.path, MarkMask: DefaultMarkMask, RunPPPScripts: raw.RunPPPScripts == nil || *raw.RunPPPScripts}
	// nftables is pathpin's one firewall; the keys that chose another are
	// refused with what to do, not ignored.
	if raw.IPTables != "" {
		v.fail([]any{"iptables"}, "pathpin writes only its own nftables table now; remove this line (other software's iptables rules, legacy or nft, keep working beside it)")
	}
	switch raw.Firewall {
	case "", "auto", "nftables":
	case "iptables":
		v.fail([]any{"firewall"}, "pathpin's iptables backend is gone: it writes its own nftables table; remove this line (run pathpin down with the older pathpin first if it is still running; down also removes the PATHPIN-* chains it left)")
	default:
		v.fail([]any{"firewall"}, "%q is not a firewall; pathpin uses nftables (remove this line)", raw.Firewall)
	}
	if raw.MarkMask != nil {
		m := *raw.MarkMask
		if m <= 0 || m > 0xffffffff {
			v.fail([]any{"mark-mask"}, "%#x must be a non-zero 32-bit mask, e.g. 0xff00", m)
		} else {
			cfg.MarkMask = uint32(m)
		}
	}
	if len(raw.LAN.Interfaces) == 0 {
		v.fail([]any{"lan", "interfaces"}, "list at least one LAN interface, e.g. interfaces: [eth1]")
	}
	lan := map[string]bool{}
	for i, name := range raw.LAN.Interfaces {
		if !validIfName(name) {
			v.fail([]any{"lan", "interfaces", i}, "%q is not an interface name (1-15 characters, no spaces or /)", name)
		}
		if lan[name] {
			v.fail([]any{"lan", "interfaces", i}, "%s is listed twice", name)
		}
		lan[name] = true
	}
	cfg.LAN.Interfaces = raw.LAN.Interfaces

	if len(raw.Uplinks) == 0 {
		v.fail([]any{"uplinks"}, "list at least one uplink (see examples/seed.yaml)")
	}
	weighted := false
	for i := range raw.Uplinks {
		u := v.uplink(i, &raw.Uplinks[i], cfg.MarkMask, lan)
		cfg.Uplinks = append(cfg.Uplinks, u)
		weighted = weighted || u.Weight > 0
	}
	if len(raw.Uplinks) > 0 && !weighted {
		v.fail([]any{"uplinks"}, "every uplink has weight 0 (standby); give at least one a weight of 1 or more")
	}
	v.unique(cfg)
	cfg.Protect = v.protect(&raw.Protect, cfg.Uplinks)
	cfg.Programs = v.programs(raw.Programs)
	cfg.DNS = v.dns(&raw.DNS)
	cfg.Policies = v.policies(raw.Policies, cfg.Uplinks, lan, cfg.Programs)
	cfg.Balance = v.balance(&raw.Balance)
	cfg.Web = v.web(&raw.Web)
	for i := range raw.Notify {
		cfg.Notify = append(cfg.Notify, v.notify(i, &raw.Notify[i]))
	}
	cfg.Public = v.public(&raw.Public)
	cfg.Health = v.health([]any{"health"}, &raw.Health, defaultHealth())
	for i := range cfg.Uplinks {
		cfg.Uplinks[i].Health = cfg.Health
		if o := raw.Uplinks[i].Health; o != nil {
			cfg.Uplinks[i].Health = v.health([]any{"uplinks", i, "health"}, o, cfg.Health)
		}
	}
	return cfg
}

var uplinkName = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,10}$`)

func (v *validator) uplink(i int, r *rawUplink, mask uint32, lan map[string]bool) Uplink {
	at := func(keys ...any) []any { return append([]any{"uplinks", i}, keys...) }
	u := Uplink{Name: r.Name, Interface: r.Interface, MTU: r.MTU, Weight: 1, Line: lineOf(v.root, at())}
	if !uplinkName.MatchString(r.Name) {
		v.fail(at("name"), "%q must be 1-11 lower-case letters, digits, - or _, starting with a letter or digit (e.g. plusnet)", r.Name)
	}
	if r.Weight != nil {
		u.Weight = *r.Weight
		if u.Weight < 0 || u.Weight > 1000 {
			v.fail(at("weight"), "%d must be from 0 (standby) to 1000", u.Weight)
		}
	}
	u.Failback = v.failback(at("failback"), &r.Failback)
	switch r.Standby {
	case "", "warm":
	case "cold":
		u.Cold = true
		switch {
		case r.PPPoE == nil && r.DHCP == nil:
			v.fail(at("standby"), "a static uplink has nothing to dial or lease; drop standby: cold (weight: 0 makes it a standby that stays up)")
		case r.Weight != nil && *r.Weight > 0:
			v.fail(at("standby"), "a cold standby carries only when no weighted uplink is in service; drop weight: (or make it 0)")
		}
		u.Weight = 0
	default:
		v.fail(at("standby"), "%q is not a standby; write cold (not dialled or leased until needed) or leave it out", r.Standby)
	}
	if r.Cap != nil {
		u.Cap = v.cap(at("cap"), r.Cap)
	}
	u.Table = FirstTable + i
	if r.Table != nil {
		t := *r.Table
		switch {
		case t < 1 || t > 0x7fffffff:
			v.fail(at("table"), "%d must be from 1 to 2147483647", t)
		case t == 253 || t == 254 || t == 255:
			v.fail(at("table"), "%d is the kernel's default/main/local table; pick another, e.g. %d", t, FirstTable+i)
		default:
			u.Table = int(t)
		}
	}
	u.Mark = defaultMark(i, mask)
	if r.Mark != nil {
		m := *r.Mark
		if m <= 0 || m > 0xffffffff || uint32(m)&^mask != 0 {
			v.fail(at("mark"), "%#x must be non-zero and lie inside mark-mask %#x, e.g. %#x", m, mask, defaultMark(i, mask))
		} else {
			u.Mark = uint32(m)
		}
	}
	if u.Mark == 0 {
		v.fail(at("mark"), "mark-mask %#x has no room for uplink %d's mark; widen mark-mask", mask, i+1)
	}
	if r.MTU != 0 && (r.MTU < 576 || r.MTU > 9000) {
		v.fail(at("mtu"), "%d must be from 576 to 9000", r.MTU)
	}

	if r.PPPoE != nil && r.DHCP != nil {
		v.fail(at("dhcp"), "an uplink is either pppoe: or dhcp:, not both")
	}
	if r.PPPoE != nil {
		if r.Interface != "" || r.Gateway != "" {
			v.fail(at("pppoe"), "a PPPoE uplink takes no interface or gateway of its own; put the Ethernet interface under pppoe: and drop gateway")
		}
		u.PPPoE = v.pppoe(at("pppoe"), r.PPPoE, r.Name, lan)
		return u
	}
	if r.Interface == "" {
		v.fail(at(), "uplink %q needs interface: (static or dhcp:) or a pppoe: section", r.Name)
	} else if !validIfName(r.Interface) {
		v.fail(at("interface"), "%q is not an interface name (1-15 characters, no spaces or /)", r.Interface)
	} else if lan[r.Interface] {
		v.fail(at("interface"), "%s is also a LAN interface; an uplink needs its own", r.Interface)
	}
	if r.DHCP != nil {
		if r.Gateway != "" {
			v.fail(at("gateway"), "a DHCP uplink's gateway comes with its lease (option 3); drop gateway:")
		}
		u.DHCP = v.dhcp(at("dhcp"), r.DHCP)
		return u
	}
	gw, err := netip.ParseAddr(r.Gateway)
	switch {
	case r.Gateway == "":
		v.fail(at(), "static uplink %q needs gateway: (its ISP router's address, e.g. 192.168.1.254)", r.Name)
	case err != nil || !gw.Is4():
		v.fail(at("gateway"), "%q is not an IPv4 address; write it like 192.168.1.254", r.Gateway)
	default:
		u.Gateway = gw
	}
	return u
}

// validHostname reports whether s is one DNS label or several (RFC 1123),
// as option 12 carries.
func validHostname(s string) bool {
	if len(s) == 0 || len(s) > 253 {
		return false
	}
	for _, label := range strings.Split(s, ".") {
		if len(label) == 0 || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return false
		}
		for _, c := range label {
			if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-') {
				return false
			}
		}
	}
	return true
}

func (v *validator) dhcp(at []any, r *rawDHCP) *DHCP {
	field := func(k string) []any { return append(append([]any{}, at...), k) }
	d := &DHCP{Hostname: r.Hostname, ClientID: r.ClientID, Release: r.Release == nil || *r.Release}
	if r.Hostname != "" && !validHostname(r.Hostname) {
		v.fail(field("hostname"), "%q is not a host name (letters, digits and -, e.g. pathpin)", r.Hostname)
	}
	if len(r.ClientID) > 253 {
		v.fail(field("client-id"), "a client identifier has at most 253 characters")
	}
	return d
}

func defaultMark(i int, mask uint32) uint32 {
	// The (i+1)-th value in the mask's lowest set bits: 0x100, 0x200, ... for 0xff00.
	shift := 0
	for shift < 32 && mask&(1<<shift) == 0 {
		shift++
	}
	m := uint32(i+1) << shift
	if m&^mask != 0 {
		return 0
	}
	return m
}

func (v *validator) pppoe(at []any, r *rawPPPoE, uplink string, lan map[string]bool) *PPPoE {
	field := func(k string) []any { return append(append([]any{}, at...), k) }
	p := &PPPoE{
		Interface: r.Interface, VLAN: r.VLAN, Username: r.Username, PasswordFile: r.PasswordFile,
		Service: r.Service, ACName: r.ACName, IfName: r.IfName, MTU: r.MTU,
		LCPEchoInterval: 2, LCPEchoFailure: 3,
	}
	if p.Interface == "" || !validIfName(p.Interface) {
		v.fail(field("interface"), "%q: name the Ethernet interface facing the modem/bridge, e.g. eth1", p.Interface)
	}
	if p.VLAN < 0 || p.VLAN > 4094 {
		v.fail(field("vlan"), "%d must be from 1 to 4094 (or 0 / left out for untagged)", p.VLAN)
	}
	if p.VLAN == 0 && lan[p.Interface] {
		v.fail(field("interface"), "%s carries the LAN untagged; run PPPoE on a VLAN (vlan: 1000) or on another interface", p.Interface)
	}
	if p.Username == "" {
		v.fail(field("username"), "the PPP login is required, e.g. someone@plus.net")
	}
	if p.PasswordFile == "" || !filepath.IsAbs(p.PasswordFile) {
		v.fail(field("password-file"), "%q: give the absolute path of a file holding only the password (mode 0600)", p.PasswordFile)
	}
	if p.IfName == "" {
		p.IfName = "ppp-" + uplink
	}
	if !validIfName(p.IfName) {
		v.fail(field("ifname"), "%q is not an interface name (1-15 characters)", p.IfName)
	}
	if p.MTU == 0 {
		p.MTU = DefaultPPPMTU
	}
	if p.MTU < 576 || p.MTU > 1500 {
		v.fail(field("mtu"), "%d must be from 576 to 1500 (1500 needs RFC 4638 from the ISP)", p.MTU)
	}
	if r.LCPEchoInterval != nil {
		p.LCPEchoInterval = *r.LCPEchoInterval
	}
	if r.LCPEchoFailure != nil {
		p.LCPEchoFailure = *r.LCPEchoFailure
	}
	if p.LCPEchoInterval < 0 || p.LCPEchoFailure < 0 {
		v.fail(field("lcp-echo-interval"), "LCP echo settings must not be negative (0 turns echoes off)")
	}
	return p
}

// unique reports names, tables, marks and devices used twice.
func (v *validator) unique(cfg *Config) {
	seen := map[string]int{}
	check := func(i int, key, kind, value string) {
		k := kind + "\x00" + value
		if j, dup := seen[k]; dup {
			v.fail([]any{"uplinks", i, key}, "%s %s is also used by uplink %q; each uplink needs its own", kind, value, cfg.Uplinks[j].Name)
			return
		}
		seen[k] = i
	}
	for i, u := range cfg.Uplinks {
		check(i, "name", "name", u.Name)
		check(i, "table", "table", strconv.Itoa(u.Table))
		check(i, "mark", "mark", fmt.Sprintf("%#x", u.Mark))
		if u.PPPoE != nil {
			check(i, "pppoe", "interface", u.PPPoE.IfName)
			check(i, "pppoe", "interface", u.PPPoE.LinkName())
		} else if u.Interface != "" {
			check(i, "interface", "interface", u.Interface)
		}
	}
}

// DefaultMeteredInterval is the pace of a metered uplink's probes while it
// carries nothing: one ICMP round of one target a minute is 72 bytes, about
// 104 KB a day, against 6.2 MB a day per target at the 1 s interval.
const DefaultMeteredInterval = time.Minute

// defaultHealth detects a silent failure within about 4 s (1 s interval,
// 3 misses) without flapping on a single lost probe.
func defaultHealth() Health {
	return Health{Method: "icmp", Port: 443, DNSName: "example.com", HTTPPath: "/", HTTPStatus: 200, Interval: time.Second, FastInterval: 200 * time.Millisecond, Timeout: 500 * time.Millisecond,
		DownAfter: 3, UpAfter: 3, MinAnswers: 1, OnChangeTimeout: 10 * time.Second, MeteredInterval: DefaultMeteredInterval}
}

// health validates a health section; fields it leaves out come from base.
func (v *validator) health(at []any, r *rawHealth, base Health) Health {
	field := func(k string, more ...any) []any { return append(append(append([]any{}, at...), k), more...) }
	h := base
	if r.Targets != nil {
		h.Targets = nil
	}
	for i, t := range r.Targets {
		a, err := netip.ParseAddr(t)
		if err != nil || !a.Is4() {
			v.fail(field("targets", i), "%q is not an IPv4 address, e.g. 1.1.1.1", t)
			continue
		}
		h.Targets = append(h.Targets, a)
	}
	switch r.Method {
	case "":
	case "icmp", "tcp", "dns":
		h.Method = r.Method
	case "http":
		h.Method = r.Method
		if r.Port == 0 && h.Port == 443 {
			h.Port = 80
		}
	default:
		v.fail(field("method"), "%q is not a probe method; use icmp, tcp, dns (a query to a resolver) or http (a GET expecting a status)", r.Method)
	}
	if r.DNSName != "" {
		h.DNSName = strings.TrimSuffix(r.DNSName, ".")
		if _, err := netip.ParseAddr(h.DNSName); err == nil || !strings.Contains(h.DNSName, ".") || len(h.DNSName) > 253 {
			v.fail(field("dns-name"), "%q is not a name to ask for; write one like example.com", r.DNSName)
		}
	}
	if r.HTTPPath != "" {
		h.HTTPPath = r.HTTPPath
		if !strings.HasPrefix(h.HTTPPath, "/") || strings.ContainsAny(h.HTTPPath, " \r\n") {
			v.fail(field("http-path"), "%q is not a path; write one like /generate_204", r.HTTPPath)
		}
	}
	if r.HTTPStatus != 0 {
		h.HTTPStatus = r.HTTPStatus
		if h.HTTPStatus < 100 || h.HTTPStatus > 599 {
			v.fail(field("http-status"), "%d is not an HTTP status", r.HTTPStatus)
		}
	}
	if r.Port != 0 {
		h.Port = r.Port
		if r.Port < 1 || r.Port > 65535 {
			v.fail(field("port"), "%d is not a TCP port", r.Port)
		}
	}
	if r.MinAnswers != nil {
		h.MinAnswers = *r.MinAnswers
	}
	if len(h.Targets) > 0 && (h.MinAnswers < 1 || h.MinAnswers > len(h.Targets)) {
		v.fail(field("min-answers"), "%d must be from 1 to the number of targets (%d)", h.MinAnswers, len(h.Targets))
	}
	if r.OnChange != nil {
		h.OnChange = r.OnChange
	}
	if r.OnChangeTimeout != nil {
		h.OnChangeTimeout = *r.OnChangeTimeout
	}
	if r.Interval != nil {
		h.Interval = *r.Interval
	}
	if r.Timeout != nil {
		h.Timeout = *r.Timeout
	}
	if r.FastInterval != nil {
		h.FastInterval = *r.FastInterval
	}
	h.FastInterval = min(h.FastInterval, h.Interval)
	if r.FastInterval != nil && (h.FastInterval < 10*time.Millisecond || *r.FastInterval > h.Interval) {
		v.fail(field("fast-interval"), "%s must be from 10ms to interval (%s)", *r.FastInterval, h.Interval)
	}
	if h.Interval < 10*time.Millisecond {
		v.fail(field("interval"), "%s is too short; use 10ms or more (1s is the default)", h.Interval)
	}
	if h.Timeout <= 0 || h.Timeout > h.Interval {
		v.fail(field("timeout"), "%s must be positive and no longer than interval (%s)", h.Timeout, h.Interval)
	}
	if r.DownAfter != nil {
		h.DownAfter = *r.DownAfter
	}
	if r.UpAfter != nil {
		h.UpAfter = *r.UpAfter
	}
	if h.DownAfter < 1 {
		v.fail(field("down-after"), "%d must be 1 or more", h.DownAfter)
	}
	if h.UpAfter < 1 {
		v.fail(field("up-after"), "%d must be 1 or more", h.UpAfter)
	}
	if r.Metered != nil {
		h.Metered = *r.Metered
	}
	if r.MeteredInterval != nil {
		h.MeteredInterval = *r.MeteredInterval
		if h.MeteredInterval < h.Interval || h.MeteredInterval > 24*time.Hour {
			v.fail(field("metered-interval"), "%s must be from interval (%s) to 24h", h.MeteredInterval, h.Interval)
		}
	}
	h.MeteredInterval = max(h.MeteredInterval, h.Interval)
	return h
}

func validIfName(s string) bool {
	if s == "" || len(s) > 15 || s == "." || s == ".." {
		return false
	}
	for _, r := range s {
		if r == '/' || r == ' ' || r == ':' || r < 0x21 || r > 0x7e {
			return false
		}
	}
	return true
}

// lineOf returns the line of the node at path (mapping keys and sequence
// indexes), or of the deepest node that exists on the way.
func lineOf(root *yaml.Node, path []any) int {
	n := root
	if n.Kind == yaml.DocumentNode && len(n.Content) > 0 {
		n = n.Content[0]
	}
	line := n.Line
	for _, p := range path {
		var next *yaml.Node
		switch k := p.(type) {
		case string:
			if n.Kind == yaml.MappingNode {
				for i := 0; i+1 < len(n.Content); i += 2 {
					if n.Content[i].Value == k {
						next = n.Content[i+1]
						line = n.Content[i].Line
					}
				}
			}
		case int:
			if n.Kind == yaml.SequenceNode && k < len(n.Content) {
				next = n.Content[k]
				line = next.Line
			}
		}
		if next == nil {
			break
		}
		n = next
	}
	return line
}

func fieldName(path []any) string {
	s := ""
	for _, p := range path {
		switch k := p.(type) {
		case string:
			if s != "" {
				s += "."
			}
			s += k
		case int:
			s += "[" + strconv.Itoa(k) + "]"
		}
	}
	return s
}

// failback reads an uplink's failback: never, or {hold: 2m, move-back:
// true}.
// notify validates one webhook: the ranges here, with the file's lines;
// the body's template (run once on a sample event) and the headers as the
// sender checks them.
func (v *validator) notify(i int, r *rawNotify) notify.Hook {
	at := func(k string) []any { return []any{"notify", i, k} }
	h := notify.NewHook(r.URL)
	h.Headers, h.Body = r.Headers, r.Body
	if u, err := url.Parse(r.URL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		v.fail(at("url"), "give the webhook's http:// or https:// URL, e.g. https://ntfy.sh/my-router")
		return h
	}
	if r.Timeout != nil {
		h.Timeout = *r.Timeout
		if h.Timeout < time.Second || h.Timeout > time.Minute {
			v.fail(at("timeout"), "%s must be from 1s to 1m", h.Timeout)
		}
	}
	if r.Retries != nil {
		h.Retries = *r.Retries
		if h.Retries < 0 || h.Retries > 10 {
			v.fail(at("retries"), "%d must be from 0 to 10", h.Retries)
		}
	}
	if r.Debounce != nil {
		h.Debounce = *r.Debounce
		if h.Debounce < 0 || h.Debounce > 10*time.Minute {
			v.fail(at("debounce"), "%s must be from 0s to 10m", h.Debounce)
		}
	}
	if err := h.Validate(); err != nil {
		v.fail([]any{"notify", i}, "%v (the body is a Go template over the event: {{.Uplink}} {{.From}} {{.To}} {{.Reason}} {{.At}}, with json and rfc3339)", err)
	}
	return h
}

// public validates where public addresses are asked.
func (v *validator) public(r *rawPublic) PublicAddress {
	p := PublicAddress{Interval: 5 * time.Minute}
	for i, s := range r.STUN {
		if _, port, err := net.SplitHostPort(s); err != nil || port == "" {
			v.fail([]any{"public-address", "stun", i}, "%q is not host:port; write one like stun.example.net:3478", s)
			continue
		}
		p.STUN = append(p.STUN, s)
	}
	for i, s := range r.HTTP {
		if u, err := url.Parse(s); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			v.fail([]any{"public-address", "http", i}, "%q is not an http:// or https:// URL of an endpoint that answers with the caller's address", s)
			continue
		}
		p.HTTP = append(p.HTTP, s)
	}
	if r.Interval != nil {
		p.Interval = *r.Interval
		if p.Interval < time.Second || p.Interval > 24*time.Hour {
			v.fail([]any{"public-address", "interval"}, "%s must be from 1s to 24h", p.Interval)
		}
	}
	return p
}

// web validates where pathpin web listens. Whether an address is an
// uplink's is for pathpin web to check when it starts: addresses come and
// go.
func (v *validator) web(r *rawWeb) Web {
	w := Web{Port: DefaultWebPort}
	if r.Port != nil {
		w.Port = *r.Port
		if w.Port < 1 || w.Port > 65535 {
			v.fail([]any{"web", "port"}, "%d is not a TCP port", w.Port)
		}
	}
	for i, l := range r.Listen {
		ap, err := netip.ParseAddrPort(l)
		if err != nil {
			if a, aerr := netip.ParseAddr(l); aerr == nil {
				ap, err = netip.AddrPortFrom(a, uint16(w.Port)), nil
			}
		}
		switch {
		case err != nil:
			v.fail([]any{"web", "listen", i}, "%q is not an address to listen on; write one like 10.0.0.1:9430 or 10.0.0.1", l)
		case ap.Addr().IsUnspecified():
			v.fail([]any{"web", "listen", i}, "%s would listen on the uplinks' side too; name the LAN's address (or leave listen out)", l)
		default:
			w.Listen = append(w.Listen, ap)
		}
	}
	return w
}

// cap validates a data cap: bytes like 50G (powers of 1000, as ISPs
// count) or 50GiB, a period, and for monthly the day it starts again.
func (v *validator) cap(at []any, r *rawCap) *Cap {
	field := func(k string) []any { return append(append([]any{}, at...), k) }
	c := &Cap{Period: "monthly", ResetDay: 1}
	n, err := ParseBytes(r.Bytes)
	switch {
	case r.Bytes == "":
		v.fail(field("bytes"), "give the allowance, e.g. bytes: 50G")
	case err != nil:
		v.fail(field("bytes"), "%v", err)
	default:
		c.Bytes = n
	}
	switch r.Period {
	case "", "monthly":
	case "daily":
		c.Period = "daily"
	default:
		v.fail(field("period"), "%q is not a period; write monthly or daily", r.Period)
	}
	if r.ResetDay != nil {
		c.ResetDay = *r.ResetDay
		switch {
		case c.Period != "monthly":
			v.fail(field("reset-day"), "a daily cap starts again every midnight; drop reset-day")
		case c.ResetDay < 1 || c.ResetDay > 31:
			v.fail(field("reset-day"), "%d must be a day of the month, 1 to 31 (a short month ends its period on its last day)", c.ResetDay)
		}
	}
	return c
}

func (v *validator) failback(at []any, n *yaml.Node) Failback {
	f := Failback{Hold: DefaultFailbackHold}
	switch n.Kind {
	case 0:
	case yaml.ScalarNode:
		if n.Value != "never" {
			v.fail(at, "%q is not a failback; write never, or {hold: 2m, move-back: true}", n.Value)
		}
		f.Never = true
	case yaml.MappingNode:
		var raw struct {
			Hold     *time.Duration `yaml:"hold"`
			MoveBack bool           `yaml:"move-back"`
			Never    bool           `yaml:"never"`
		}
		if err := n.Decode(&raw); err != nil {
			v.fail(at, "%v; write {hold: 2m, move-back: true}", err)
			return f
		}
		for k := 0; k+1 < len(n.Content); k += 2 {
			if key := n.Content[k].Value; key != "hold" && key != "move-back" && key != "never" {
				v.fail(append(at, key), "unknown key %q; failback takes hold, move-back and never", key)
			}
		}
		if raw.Hold != nil {
			f.Hold = *raw.Hold
			if f.Hold < 0 || f.Hold > 24*time.Hour {
				v.fail(append(at, "hold"), "%s must be from 0s to 24h", f.Hold)
			}
		}
		f.MoveBack, f.Never = raw.MoveBack, raw.Never
	default:
		v.fail(at, "a failback is never, or {hold: 2m, move-back: true}")
	}
	return f
}
