package config

import (
	"fmt"
	"regexp"
	"strconv"
)

// Protect is what pathpin drops, since it turns forwarding on.
type Protect struct {
	// LAN: new connections arriving on an uplink are dropped unless the
	// kernel destination-NATed them (port forwards), whether they head for
	// the LAN or for another uplink; packets arriving on an uplink from a
	// LAN address or one of the router's own are dropped. Default true.
	LAN bool
	// Router: new connections from the uplinks to the router itself are
	// dropped, but for AllowIn. Default false: pathpin did not open those
	// ports.
	Router  bool
	AllowIn []AllowIn
}

// AllowIn is a port on the router that new connections from the uplinks
// may reach while Router is on: from every uplink, or from Uplink only.
type AllowIn struct {
	Proto  string // tcp or udp
	Port   uint16
	Uplink string // "" for every uplink
}

// String is the entry as the file says it, e.g. "tcp/22 on isp1".
func (a AllowIn) String() string {
	s := fmt.Sprintf("%s/%d", a.Proto, a.Port)
	if a.Uplink != "" {
		s += " on " + a.Uplink
	}
	return s
}

type rawProtect struct {
	LAN     *bool    `yaml:"lan"`
	Router  *bool    `yaml:"router"`
	AllowIn []string `yaml:"allow-in"`
}

var allowInForm = regexp.MustCompile(`^(tcp|udp)/([0-9]{1,5})(?: on ([a-z0-9][a-z0-9_-]{0,10}))?$`)

// protect validates the protect: section; uplinks are the configured ones.
func (v *validator) protect(r *rawProtect, uplinks []Uplink) Protect {
	p := Protect{LAN: r.LAN == nil || *r.LAN, Router: r.Router != nil && *r.Router}
	for i, s := range r.AllowIn {
		at := []any{"protect", "allow-in", i}
		m := allowInForm.FindStringSubmatch(s)
		if m == nil {
			v.fail(at, "%q is not a port to allow; write tcp/22, udp/51820 or tcp/22 on UPLINK", s)
			continue
		}
		port, _ := strconv.Atoi(m[2])
		if port < 1 || port > 65535 {
			v.fail(at, "port %d is not 1-65535", port)
			continue
		}
		a := AllowIn{Proto: m[1], Port: uint16(port), Uplink: m[3]}
		if a.Uplink != "" {
			found := false
			for _, u := range uplinks {
				found = found || u.Name == a.Uplink
			}
			if !found {
				v.fail(at, "%q names no uplink of this file", a.Uplink)
				continue
			}
		}
		p.AllowIn = append(p.AllowIn, a)
	}
	if len(p.AllowIn) > 0 && !p.Router {
		v.fail([]any{"protect", "allow-in"}, "allow-in opens ports only while router: true drops the rest; set router: true or drop allow-in")
	}
	return p
}
