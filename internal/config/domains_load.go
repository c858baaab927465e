package config

import (
	"regexp"
	"strings"
	"time"
)

// DNS is how domain policies fill their address sets from the DNS answers
// that pass through the router.
type DNS struct {
	// Queue is the nfqueue number DNS answers wait in while pathpin reads
	// them.
	Queue uint16
	// MinTTL and MaxTTL bound how long an answer's address stays in a
	// domain set: at least MinTTL (a client may use an answer a little
	// past its TTL), at most MaxTTL.
	MinTTL, MaxTTL time.Duration
}

// Program is a group of programs on the router: pathpin exec --program
// runs commands in it, and policies match its connections.
type Program struct {
	Name string
	Line int
}

// Defaults of the dns: section.
const (
	DefaultDNSQueue  = 5353
	DefaultDNSMinTTL = 5 * time.Minute
	DefaultDNSMaxTTL = 24 * time.Hour
	// maxDomains bounds one policy's domains.
	maxDomains = 256
)

type rawDNS struct {
	Queue  *int           `yaml:"queue"`
	MinTTL *time.Duration `yaml:"min-ttl"`
	MaxTTL *time.Duration `yaml:"max-ttl"`
}

type rawProgram struct {
	Name string `yaml:"name"`
}

// HasDomains reports whether a policy matches by domain: only then does
// pathpin read DNS answers.
func (c *Config) HasDomains() bool {
	for i := range c.Policies {
		if len(c.Policies[i].Match.Domains) > 0 {
			return true
		}
	}
	return false
}

func (v *validator) dns(r *rawDNS) DNS {
	d := DNS{Queue: DefaultDNSQueue, MinTTL: DefaultDNSMinTTL, MaxTTL: DefaultDNSMaxTTL}
	if r.Queue != nil {
		if *r.Queue < 0 || *r.Queue > 65535 {
			v.fail([]any{"dns", "queue"}, "%d is not an nfqueue number; write 0-65535 (one no other program on the router uses)", *r.Queue)
		} else {
			d.Queue = uint16(*r.Queue)
		}
	}
	ttl := func(key string, p *time.Duration, into *time.Duration) {
		if p == nil {
			return
		}
		if *p < time.Second || *p > 7*24*time.Hour || *p%time.Second != 0 {
			v.fail([]any{"dns", key}, "%s must be whole seconds from 1s to 168h", *p)
			return
		}
		*into = *p
	}
	ttl("min-ttl", r.MinTTL, &d.MinTTL)
	ttl("max-ttl", r.MaxTTL, &d.MaxTTL)
	if d.MinTTL > d.MaxTTL {
		v.fail([]any{"dns", "min-ttl"}, "min-ttl %s is above max-ttl %s; an address would have to stay longer than it may", d.MinTTL, d.MaxTTL)
	}
	return d
}

func (v *validator) programs(raw []rawProgram) []Program {
	var out []Program
	seen := map[string]bool{}
	for i, r := range raw {
		at := []any{"programs", i, "name"}
		switch {
		case !policyName.MatchString(r.Name):
			v.fail(at, "%q must be 1-24 lower-case letters, digits, - or _, starting with a letter or digit (e.g. backup)", r.Name)
		case strings.Contains(r.Name, "-"):
			// A dash nests systemd slices: pathpin-a-b.slice would be a
			// child of pathpin-a.slice.
			v.fail(at, "%q: a program's name holds no - (it names a systemd slice, where - nests); write %s", r.Name, strings.ReplaceAll(r.Name, "-", "_"))
		case seen[r.Name]:
			v.fail(at, "%s is listed twice", r.Name)
		default:
			seen[r.Name] = true
			out = append(out, Program{Name: r.Name, Line: lineOf(v.root, []any{"programs", i})})
		}
	}
	return out
}

// hostname is one name of the DNS: labels of letters, digits, - and _.
var hostname = regexp.MustCompile(`^([a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9_])?\.)*[a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9_])?$`)

// domains reads a policy's domain names: lower-cased, without a final
// dot; a name listed under another of the list is refused (it adds
// nothing).
func (v *validator) domains(at []any, in []string) []string {
	if len(in) > maxDomains {
		v.fail(at, "%d domains; a policy takes at most %d (a name matches its subdomains too)", len(in), maxDomains)
		return nil
	}
	var out []string
	for j, s := range in {
		d := strings.TrimSuffix(strings.ToLower(strings.TrimSpace(s)), ".")
		if len(d) > 253 || !hostname.MatchString(d) || !strings.Contains(d, ".") {
			v.fail(append(at, j), "%q is not a domain name; write one like stream.example (it matches its subdomains too)", s)
			continue
		}
		dup := false
		for k, o := range out {
			if InDomain(d, o) || InDomain(o, d) {
				v.fail(append(at, j), "%s and %s ([%d]) overlap: a name matches its subdomains already; keep the shorter", d, o, k)
				dup = true
			}
		}
		if !dup {
			out = append(out, d)
		}
	}
	return out
}
