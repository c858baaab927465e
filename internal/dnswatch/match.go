package dnswatch

import (
	"slices"
	"strings"
)

// Domains maps each domain a policy names to the policies that name it.
// A Domains is not changed after NewDomains, so any number of goroutines
// may use one at once.
type Domains struct {
	policies map[string][]string // domain → policies, sorted, each once
}

// NewDomains indexes the domains of each policy (byPolicy maps a policy's
// name to its domains). Domains are compared without regard to ASCII case
// and to a trailing dot; an empty domain names nothing.
func NewDomains(byPolicy map[string][]string) *Domains {
	d := &Domains{policies: make(map[string][]string)}
	for policy, domains := range byPolicy {
		for _, domain := range domains {
			if domain = canonical(domain); domain != "" {
				d.policies[domain] = append(d.policies[domain], policy)
			}
		}
	}
	for domain, ps := range d.policies {
		slices.Sort(ps)
		d.policies[domain] = slices.Compact(ps)
	}
	return d
}

// Match returns the policies (sorted, no duplicates) one of whose domains
// is one of names or a parent of one: a domain matches itself and its
// subdomains, so "stream.example" matches "stream.example" and
// "a.b.stream.example" but not "xstream.example". It looks up each name's
// suffixes at label boundaries, whatever the number of domains.
func (d *Domains) Match(names []string) []string {
	if d == nil || len(d.policies) == 0 {
		return nil
	}
	var out []string
	for _, name := range names {
		for s := canonical(name); s != ""; {
			out = append(out, d.policies[s]...)
			i := strings.IndexByte(s, '.')
			if i < 0 {
				break
			}
			s = s[i+1:]
		}
	}
	if len(out) == 0 {
		return nil
	}
	slices.Sort(out)
	return slices.Compact(out)
}
