package uplink

import (
	"fmt"
	"strings"
)

// iptablesBatch builds the iptables-restore input for the chain and jump
// changes in c, one section per table, or nil when there are none. A
// chain declaration (":CHAIN - [0:0]") under --noflush creates the chain
// or empties it, so a changed chain is rewritten whole, atomically with
// the rest of its table. Within a table: declarations, jump deletions,
// rules and jump insertions, then chain deletions (which need the chain
// empty and unreferenced).
func iptablesBatch(c *Changes) []byte {
	var b strings.Builder
	for _, table := range []string{"mangle", "nat"} {
		var decls, dels, body, drops []string
		for _, ch := range c.Chains {
			if ch.Chain.Table != table {
				continue
			}
			decls = append(decls, ":"+ch.Chain.Name+" - [0:0]")
			if ch.Delete {
				drops = append(drops, "-X "+ch.Chain.Name)
			} else {
				body = append(body, ch.Chain.specs()...)
			}
		}
		for _, j := range c.DelJumps {
			if j.Table == table {
				dels = append(dels, fmt.Sprintf("-D %s -j %s", j.Chain, j.Target))
			}
		}
		for _, j := range c.AddJumps {
			if j.Table == table {
				body = append(body, fmt.Sprintf("-I %s 1 -j %s", j.Chain, j.Target))
			}
		}
		if len(decls)+len(dels)+len(body)+len(drops) == 0 {
			continue
		}
		b.WriteString("*" + table + "\n")
		for _, part := range [][]string{decls, dels, body, drops} {
			for _, l := range part {
				b.WriteString(l + "\n")
			}
		}
		b.WriteString("COMMIT\n")
	}
	if b.Len() == 0 {
		return nil
	}
	return []byte(b.String())
}
