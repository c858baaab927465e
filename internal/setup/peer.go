package setup

import (
	"fmt"
	"path"
	"regexp"
	"strconv"
	"strings"
)

// Peer is what pathpin takes from a pppd peers file (pppoeconf's
// /etc/ppp/peers/dsl-provider and the forms people write by hand).
type Peer struct {
	// Interface is the Ethernet link PPPoE runs on; VLAN is its 802.1Q
	// tag when the peer names a VLAN link such as eth1.101.
	Interface string
	VLAN      int
	User      string
	// Password is set when the peer file itself holds one (`password`).
	Password        string
	Service, ACName string
	IfName          string
	MTU             int
	LCPEchoInterval *int
	LCPEchoFailure  *int
	// Handled lists options pathpin sets itself, with why.
	Handled []Option
	// Unknown lists what pathpin does not understand: nothing is dropped
	// without a word.
	Unknown []Option
}

// An Option is one option of the peer file as written, with its line.
type Option struct {
	Line int
	Text string
	Note string
}

func (o Option) String() string {
	if o.Note == "" {
		return fmt.Sprintf("line %d: %s", o.Line, o.Text)
	}
	return fmt.Sprintf("line %d: %s (%s)", o.Line, o.Text, o.Note)
}

// handledOptions are pppd options pathpin sets itself, each with what
// pathpin does instead.
var handledOptions = map[string]string{
	"defaultroute":        "pathpin owns the routes: each uplink has its table",
	"replacedefaultroute": "pathpin owns the routes: each uplink has its table",
	"nodefaultroute":      "pathpin owns the routes: each uplink has its table",
	"persist":             "pathpin redials with back-off",
	"maxfail":             "pathpin redials with back-off",
	"holdoff":             "pathpin redials with back-off",
	"usepeerdns":          "pathpin never rewrites /etc/resolv.conf; the host's resolver stays as it is",
	"noipdefault":         "pathpin sets it",
	"noauth":              "pathpin sets it",
	"hide-password":       "pathpin never logs the password",
	"nodetach":            "pathpin runs pppd itself",
	"updetach":            "pathpin runs pppd itself",
	"debug":               "use pathpin up --debug",
	"noipv6":              "pathpin sets it",
	"ipparam":             "pathpin sets it to the uplink's name",
	"linkname":            "pathpin sets it",
	"lock":                "pathpin runs one pppd per uplink",
	"noaccomp":            "the PPPoE plugin sets it (RFC 2516)",
	"default-asyncmap":    "the PPPoE plugin sets it (RFC 2516)",
	"connect":             "not used with the PPPoE plugin",
}

// optionArgs is how many words each option pathpin reads or knows takes.
var optionArgs = map[string]int{
	"plugin": 1, "user": 1, "password": 1, "mtu": 1, "mru": 1, "pty": 1, "ifname": 1,
	"lcp-echo-interval": 1, "lcp-echo-failure": 1,
	"rp_pppoe_service": 1, "pppoe-service": 1, "rp_pppoe_ac": 1, "pppoe-ac": 1,
	"maxfail": 1, "holdoff": 1, "ipparam": 1, "linkname": 1, "connect": 1,
	"name": 1, "remotename": 1, "disconnect": 1, "kdebug": 1, "logfile": 1,
	"idle": 1, "demand": 0, "call": 1, "file": 1, "lcp-max-configure": 1, "lcp-restart": 1,
	"ipcp-accept-local": 0, "ipcp-accept-remote": 0,
}

// pppoePlugins are the names of pppd's PPPoE plugin across versions.
var pppoePlugins = map[string]bool{"rp-pppoe.so": true, "pppoe.so": true}

// linkLike matches the names Ethernet links get (eth0, enp1s0, enx…, usb0,
// wan, a VLAN link eth1.101): a bare word after the plugin with such a name
// is the plugin's interface, as pppd reads it.
var linkLike = regexp.MustCompile(`^(eth|en|usb|wan|lan|veth|br|bond)[A-Za-z0-9_-]*(\.[0-9]+)?$`)

// ParsePeer reads a pppd peers file. It fails only when the file gives no
// PPPoE interface or no user: what pathpin needs to write an uplink.
func ParsePeer(text string) (*Peer, error) {
	p := &Peer{}
	ws := words(text)
	plugin := false
	for i := 0; i < len(ws); i++ {
		w := ws[i]
		name := strings.TrimPrefix(w.text, "+")
		n := optionArgs[name]
		if i+n >= len(ws) {
			n = len(ws) - 1 - i
		}
		args := ws[i+1 : i+1+n]
		arg := ""
		if n > 0 {
			arg = args[0].text
		}
		whole := strings.TrimSpace(w.text + " " + joinWords(args))
		known := true
		switch {
		case name == "plugin":
			if pppoePlugins[path.Base(arg)] {
				plugin = true
				p.Handled = append(p.Handled, Option{w.line, whole, "pathpin runs pppd with its PPPoE plugin on the session it found"})
				// pppoeconf's form: `plugin rp-pppoe.so eth0` on one line.
				if i+2 < len(ws) && ws[i+2].line == w.line && optionArgs[ws[i+2].text] == 0 && handledOptions[ws[i+2].text] == "" && !strings.HasPrefix(ws[i+2].text, "nic-") {
					p.setInterface(ws[i+2].text)
					i++
				}
			} else {
				known = false
			}
		case strings.HasPrefix(w.text, "nic-"):
			p.setInterface(strings.TrimPrefix(w.text, "nic-"))
		case name == "pty":
			known = p.readPty(arg)
			if known {
				plugin = true
				p.Handled = append(p.Handled, Option{w.line, whole, "pathpin does discovery itself and runs pppd with the kernel's PPPoE"})
			}
		case name == "user":
			p.User = arg
		case name == "password":
			p.Password = arg
			whole = "password ********"
		case name == "mtu" || name == "mru":
			v, err := strconv.Atoi(arg)
			if err != nil {
				known = false
				break
			}
			if name == "mtu" || p.MTU == 0 {
				p.MTU = v
			}
		case name == "lcp-echo-interval" || name == "lcp-echo-failure":
			v, err := strconv.Atoi(arg)
			if err != nil {
				known = false
				break
			}
			if name == "lcp-echo-interval" {
				p.LCPEchoInterval = &v
			} else {
				p.LCPEchoFailure = &v
			}
		case name == "rp_pppoe_service" || name == "pppoe-service":
			p.Service = arg
		case name == "rp_pppoe_ac" || name == "pppoe-ac":
			p.ACName = arg
		case name == "ifname":
			p.IfName = arg
		case handledOptions[name] != "":
			p.Handled = append(p.Handled, Option{w.line, whole, handledOptions[name]})
		case plugin && p.Interface == "" && linkLike.MatchString(w.text):
			// The plugin takes a bare interface name as an option.
			p.setInterface(w.text)
		default:
			known = false
		}
		if !known {
			p.Unknown = append(p.Unknown, Option{Line: w.line, Text: whole})
		}
		i += n
	}
	if !plugin {
		return p, fmt.Errorf("the peer does not use PPPoE (no `plugin rp-pppoe.so`, `plugin pppoe.so` or `pty \"pppoe ...\"`)")
	}
	if p.Interface == "" {
		return p, fmt.Errorf("the peer names no interface for PPPoE (`plugin rp-pppoe.so eth0`, `nic-eth0` or `pppoe -I eth0`); give it with --interface")
	}
	if p.User == "" {
		return p, fmt.Errorf("the peer has no `user` line; give the login with --username")
	}
	return p, nil
}

// setInterface takes eth1.101 as VLAN 101 on eth1.
func (p *Peer) setInterface(name string) {
	p.Interface, p.VLAN = splitVLAN(name)
}

// splitVLAN reads a VLAN link's conventional name: eth1.101 is VLAN 101
// on eth1. Any other name is untagged.
func splitVLAN(name string) (string, int) {
	if parent, id, ok := strings.Cut(name, "."); ok {
		if n, err := strconv.Atoi(id); err == nil && n >= 1 && n <= 4094 && parent != "" {
			return parent, n
		}
	}
	return name, 0
}

// readPty takes the interface, service and AC from rp-pppoe's old user
// mode: pty "pppoe -I eth0 -T 80 -m 1452".
func (p *Peer) readPty(cmd string) bool {
	f := strings.Fields(cmd)
	if len(f) == 0 || path.Base(f[0]) != "pppoe" {
		return false
	}
	for i := 1; i+1 < len(f); i++ {
		switch f[i] {
		case "-I":
			p.setInterface(f[i+1])
		case "-S":
			p.Service = f[i+1]
		case "-C":
			p.ACName = f[i+1]
		}
	}
	return true
}

func joinWords(ws []word) string {
	var s []string
	for _, w := range ws {
		if w.quoted || strings.ContainsAny(w.text, " \t") {
			s = append(s, strconv.Quote(w.text))
		} else {
			s = append(s, w.text)
		}
	}
	return strings.Join(s, " ")
}
