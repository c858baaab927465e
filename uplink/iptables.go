package uplink

import (
	"bytes"
	"context"
	"fmt"
	"os/exec"
	"strings"

	"github.com/coreos/go-iptables/iptables"
)

// IPTables is the part of *iptables.IPTables the engine reads with.
type IPTables interface {
	ChainExists(table, chain string) (bool, error)
	List(table, chain string) ([]string, error)
	Exists(table, chain string, rulespec ...string) (bool, error)
}

var _ IPTables = (*iptables.IPTables)(nil)

// A Restorer applies one iptables-restore batch to one table, atomically.
type Restorer interface {
	// Check parses and validates the batch without committing it.
	Check(ctx context.Context, table string, batch []byte) error
	// Restore commits the batch.
	Restore(ctx context.Context, table string, batch []byte) error
}

// Backend is one iptables flavour: go-iptables for reads and the matching
// iptables-restore for writes.
type Backend struct {
	IPT     IPTables
	Restore Restorer
	Name    string // "nft" or "legacy"
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
	restore := "iptables-" + name + "-restore"
	rpath, err := exec.LookPath(restore)
	if err != nil {
		return nil, fmt.Errorf("%s is not installed (Debian: apt-get install iptables): %w", restore, err)
	}
	return &Backend{IPT: ipt, Restore: execRestorer{path: rpath}, Name: name}, nil
}

type execRestorer struct{ path string }

// Check runs iptables-restore --test: the batch is parsed and checked
// against the kernel, and nothing is committed.
func (r execRestorer) Check(ctx context.Context, table string, batch []byte) error {
	return r.run(ctx, table, batch, "--test")
}

// Restore runs iptables-restore --noflush with the batch on stdin; the
// kernel commits the table's changes at COMMIT or not at all.
func (r execRestorer) Restore(ctx context.Context, table string, batch []byte) error {
	return r.run(ctx, table, batch)
}

func (r execRestorer) run(ctx context.Context, table string, batch []byte, extra ...string) error {
	cmd := exec.CommandContext(ctx, r.path, append([]string{"--noflush", "--wait"}, extra...)...)
	cmd.Stdin = bytes.NewReader(batch)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("%s (table %s): %w: %s\nbatch:\n%s", r.path, table, err, strings.TrimSpace(string(out)), batch)
	}
	return nil
}

// readChains returns the rules of pathpin's chains that exist, and the
// jumps into them that exist.
func readChains(ipt IPTables) ([]Chain, []Jump, error) {
	var chains []Chain
	var jumps []Jump
	for _, j := range ownedChains {
		ok, err := ipt.ChainExists(j.Table, j.Target)
		if err != nil {
			return nil, nil, fmt.Errorf("reading iptables table %s: %w", j.Table, err)
		}
		if !ok {
			continue
		}
		lines, err := ipt.List(j.Table, j.Target)
		if err != nil {
			return nil, nil, fmt.Errorf("listing chain %s: %w", j.Target, err)
		}
		c := Chain{Table: j.Table, Name: j.Target}
		for _, l := range lines {
			if strings.HasPrefix(l, "-A ") {
				c.Rules = append(c.Rules, Rule4{Spec: l})
			}
		}
		chains = append(chains, c)
		if j.Chain == "" {
			continue
		}
		ok, err = ipt.Exists(j.Table, j.Chain, "-j", j.Target)
		if err != nil {
			return nil, nil, fmt.Errorf("checking the jump from %s to %s: %w", j.Chain, j.Target, err)
		}
		if ok {
			jumps = append(jumps, j)
		}
	}
	return chains, jumps, nil
}
