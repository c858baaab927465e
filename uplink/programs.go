package uplink

import (
	"fmt"
	"strings"

	"github.com/pathpin/pathpin/internal/config"
	"github.com/pathpin/pathpin/internal/nft"
)

// Cgroup is a cgroup v2: its path below the hierarchy's root, its level
// there (the root is 0) and its ID, as the kernel matches a socket's.
type Cgroup struct {
	Path  string
	Level uint32
	ID    uint64
}

// Exec is a command pathpin exec runs: every connection made in its
// cgroup leaves by Uplink; with Uplink out of service, by the balance when
// Fallback, else nowhere.
type Exec struct {
	Cgroup   Cgroup
	Uplink   string
	Fallback bool
}

// Cgroups are what steers the router's own programs: the cgroup of each
// programs: entry that exists now (by name), and the running execs.
type Cgroups struct {
	Programs map[string]Cgroup
	Execs    []Exec
}

// execChain holds one rule per running pathpin exec.
const execChain = "exec"

// matchOf is the nft match of cgroup c.
func matchOf(c Cgroup) *nft.CgroupMatch {
	return &nft.CgroupMatch{Level: c.Level, ID: c.ID, Path: c.Path}
}

// execRules give each exec's new connections its uplink: its mark when
// the uplink is in service; else a drop (the command's connections fail,
// never leave by another line) or, with fallback, nothing (the balance
// takes them).
func execRules(cfg *config.Config, execs []Exec, up map[string]Status) []nft.Rule {
	var rules []nft.Rule
	for _, x := range execs {
		st, ok := up[x.Uplink]
		switch {
		case ok:
			rules = append(rules, nft.Rule{Cgroup: matchOf(x.Cgroup), Mark: &nft.MarkMatch{Mask: cfg.MarkMask}, Jump: markChain(st.Uplink),
				Comment: fmt.Sprintf("pathpin exec --via %s: the command's connections leave by %s", x.Uplink, x.Uplink)})
		case !x.Fallback:
			rules = append(rules, nft.Rule{Cgroup: matchOf(x.Cgroup), Drop: true,
				Comment: fmt.Sprintf("pathpin exec --via %s: %s is out of service, and the command's connections never leave by another line", x.Uplink, x.Uplink)})
		}
	}
	return rules
}

// DnsmasqLine is the dnsmasq option that has a dnsmasq resolver on the
// router fill domain policy's set too (dnsmasq 2.87 or later, built with
// nftset): its elements get the set's own timeout.
func DnsmasqLine(policy string, domains []string) string {
	return "nftset=/" + strings.Join(domains, "/") + "/4#ip#" + nft.TableName + "#" + DomainSet(policy)
}
