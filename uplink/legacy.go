package uplink

import (
	"errors"
	"fmt"
	"os/exec"
	"slices"
	"strings"

	"github.com/coreos/go-iptables/iptables"
)

// legacyPrefix starts the name of every iptables chain an older pathpin
// (one with an iptables backend) made.
const legacyPrefix = "PATHPIN-"

// IPTables is the part of *iptables.IPTables that finds and removes the
// PATHPIN-* chains an older pathpin left behind.
type IPTables interface {
	ListChains(table string) ([]string, error)
	List(table, chain string) ([]string, error)
	Delete(table, chain string, rulespec ...string) error
	ClearChain(table, chain string) error
	DeleteChain(table, chain string) error
}

var _ IPTables = (*iptables.IPTables)(nil)

// LegacyIPTables is one iptables variant to look in for an older pathpin's
// chains.
type LegacyIPTables struct {
	Name string // "nft" or "legacy"
	IPT  IPTables
	// Tables are those of the tables an older pathpin wrote to (mangle,
	// nat) that may be listed without creating them; nil: both.
	Tables func() []string
}

// legacyTables are the iptables tables an older pathpin wrote to.
var legacyTables = []string{"mangle", "nat"}

// tables are the tables of v to look in.
func (v LegacyIPTables) tables() []string {
	if v.Tables == nil {
		return legacyTables
	}
	return v.Tables()
}

// OpenLegacyIPTables opens the iptables variants installed here, to find
// an older pathpin's chains and read other software's rules; each command
// waits lockWait seconds for another program's xtables lock (0: as long
// as it takes). A legacy table is only looked at when the
// kernel already has it (/proc/net/ip_tables_names): listing it with
// iptables-legacy would otherwise create it. iptables-nft lists without
// creating anything. A variant that is not installed is left out.
func OpenLegacyIPTables(lockWait int) []LegacyIPTables {
	var out []LegacyIPTables
	for _, v := range []string{"nft", "legacy"} {
		path, err := exec.LookPath("iptables-" + v)
		if err != nil {
			continue
		}
		ipt, err := iptables.New(iptables.Path(path), iptables.Timeout(lockWait))
		if err != nil {
			continue
		}
		l := LegacyIPTables{Name: v, IPT: ipt}
		if v == "legacy" {
			l.Tables = loadedLegacyTables
		}
		out = append(out, l)
	}
	return out
}

// loadedLegacyTables are the legacy tables among mangle and nat that the
// kernel holds in this network namespace.
func loadedLegacyTables() []string { return loadedAmong(legacyTables) }

// LegacyChain is one PATHPIN-* chain found.
type LegacyChain struct {
	Variant, Table, Chain string
}

func (c LegacyChain) String() string {
	return fmt.Sprintf("iptables-%s -t %s %s", c.Variant, c.Table, c.Chain)
}

// findLegacyChains lists the PATHPIN-* chains of every variant.
func findLegacyChains(variants []LegacyIPTables) ([]LegacyChain, error) {
	var out []LegacyChain
	for _, v := range variants {
		for _, table := range v.tables() {
			chains, err := v.IPT.ListChains(table)
			if err != nil {
				// A table this kernel does not have holds no chain of pathpin's.
				continue
			}
			for _, c := range chains {
				if strings.HasPrefix(c, legacyPrefix) {
					out = append(out, LegacyChain{Variant: v.Name, Table: table, Chain: c})
				}
			}
		}
	}
	return out, nil
}

// removeLegacyChains removes an older pathpin's chains: first every rule
// elsewhere that jumps to one, then their rules, then the chains (a chain
// still referenced cannot be deleted).
func removeLegacyChains(variants []LegacyIPTables) ([]LegacyChain, error) {
	found, err := findLegacyChains(variants)
	if err != nil || len(found) == 0 {
		return nil, err
	}
	var errs []error
	for _, v := range variants {
		for _, table := range v.tables() {
			var ours []string
			for _, c := range found {
				if c.Variant == v.Name && c.Table == table {
					ours = append(ours, c.Chain)
				}
			}
			if len(ours) == 0 {
				continue
			}
			all, err := v.IPT.ListChains(table)
			if err != nil {
				errs = append(errs, err)
				continue
			}
			for _, chain := range all {
				if strings.HasPrefix(chain, legacyPrefix) {
					continue
				}
				rules, err := v.IPT.List(table, chain)
				if err != nil {
					errs = append(errs, err)
					continue
				}
				for _, r := range rules {
					target, ok := strings.CutPrefix(r, "-A "+chain+" -j ")
					if ok && slices.Contains(ours, target) {
						errs = append(errs, v.IPT.Delete(table, chain, "-j", target))
					}
				}
			}
			for _, c := range ours {
				errs = append(errs, v.IPT.ClearChain(table, c))
			}
			for _, c := range ours {
				errs = append(errs, v.IPT.DeleteChain(table, c))
			}
		}
	}
	if err := errors.Join(errs...); err != nil {
		return found, fmt.Errorf("removing the iptables chains an older pathpin left: %w", err)
	}
	return found, nil
}
