package uplink

import (
	"bytes"
	"context"
	"fmt"
	"os/exec"
	"strings"

	"github.com/coreos/go-iptables/iptables"
)

// IPTables is the part of *iptables.IPTables pathpin checks rules with.
type IPTables interface {
	Exists(table, chain string, rulespec ...string) (bool, error)
}

var _ IPTables = (*iptables.IPTables)(nil)

// A RuleSet reads and writes whole iptables tables.
type RuleSet interface {
	// Save returns iptables-save's output for every table.
	Save(ctx context.Context) ([]byte, error)
	// Check parses and validates a restore batch without committing it.
	Check(ctx context.Context, batch []byte) error
	// Restore commits a batch; each table in it is committed atomically
	// at its COMMIT line.
	Restore(ctx context.Context, batch []byte) error
}

// Backend is one iptables flavour (nft or legacy): go-iptables for rule
// checks, and iptables-save/iptables-restore for reading and writing
// pathpin's chains in one exec each. (go-iptables reads one chain per
// exec; reading pathpin's five chains and their jumps that way took about
// fourteen execs, which made apply several times slower.)
type Backend struct {
	IPT   IPTables
	Rules RuleSet
	Name  string // "nft" or "legacy"
	// Tables, when set, is the nftables firewall: pathpin's own table
	// instead of iptables chains (IPT and Rules are unused).
	Tables NFTables
}

// NewBackend opens the iptables backend: "nft", "legacy", or "auto" for
// whatever `iptables` is on this host.
func NewBackend(kind string) (*Backend, error) {
	bin := map[string]string{"auto": "iptables", "": "iptables", "nft": "iptables-nft", "legacy": "iptables-legacy"}[kind]
	if bin == "" {
		return nil, fmt.Errorf("iptables backend %q: use auto, nft or legacy", kind)
	}
	path, err := exec.LookPath(bin)
	if err != nil {
		return nil, fmt.Errorf("%s is not installed (Debian: apt-get install iptables): %w", bin, err)
	}
	ipt, err := iptables.New(iptables.Path(path))
	if err != nil {
		return nil, fmt.Errorf("opening iptables (%s): %w", path, err)
	}
	version, err := exec.Command(path, "--version").Output()
	if err != nil {
		return nil, fmt.Errorf("running %s --version: %w", path, err)
	}
	name := "legacy"
	if strings.Contains(string(version), "nf_tables") {
		name = "nft"
	}
	rs := execRuleSet{}
	for _, tool := range []string{"save", "restore"} {
		p, err := exec.LookPath("iptables-" + name + "-" + tool)
		if err != nil {
			return nil, fmt.Errorf("iptables-%s-%s is not installed (Debian: apt-get install iptables): %w", name, tool, err)
		}
		if tool == "save" {
			rs.save = p
		} else {
			rs.restore = p
		}
	}
	return &Backend{IPT: ipt, Rules: rs, Name: name}, nil
}

type execRuleSet struct{ save, restore string }

func (r execRuleSet) Save(ctx context.Context) ([]byte, error) {
	out, err := exec.CommandContext(ctx, r.save).Output()
	if err != nil {
		return nil, fmt.Errorf("%s: %w", r.save, err)
	}
	return out, nil
}

func (r execRuleSet) Check(ctx context.Context, batch []byte) error {
	return r.run(ctx, batch, "--test")
}

func (r execRuleSet) Restore(ctx context.Context, batch []byte) error {
	return r.run(ctx, batch)
}

func (r execRuleSet) run(ctx context.Context, batch []byte, extra ...string) error {
	cmd := exec.CommandContext(ctx, r.restore, append([]string{"--noflush", "--wait"}, extra...)...)
	cmd.Stdin = bytes.NewReader(batch)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("%s: %w: %s\nbatch:\n%s", r.restore, err, strings.TrimSpace(string(out)), batch)
	}
	return nil
}

// parseChains picks pathpin's chains, and the jumps into them, out of
// iptables-save output.
func parseChains(save []byte) ([]Chain, []Jump) {
	var chains []Chain
	var jumps []Jump
	table := ""
	index := map[string]int{}
	owned := map[string]Jump{}
	for _, j := range ownedChains {
		owned[j.Table+"/"+j.Target] = j
	}
	for _, line := range strings.Split(string(save), "\n") {
		switch {
		case strings.HasPrefix(line, "*"):
			table = line[1:]
		case strings.HasPrefix(line, ":"):
			name, _, _ := strings.Cut(line[1:], " ")
			if _, ok := owned[table+"/"+name]; ok {
				index[table+"/"+name] = len(chains)
				chains = append(chains, Chain{Table: table, Name: name})
			}
		case strings.HasPrefix(line, "-A "):
			chain, rest, _ := strings.Cut(line[3:], " ")
			if i, ok := index[table+"/"+chain]; ok {
				chains[i].Rules = append(chains[i].Rules, Rule4{Spec: line})
				continue
			}
			if target, ok := strings.CutPrefix(rest, "-j "); ok {
				if j, ok := owned[table+"/"+target]; ok && j.Chain == chain {
					jumps = append(jumps, j)
				}
			}
		}
	}
	return chains, jumps
}
