package uplink

import (
	"fmt"
	"strings"
)

// tableBatch is the iptables-restore input for one table, and the input
// that puts the table back as it was.
type tableBatch struct {
	table         string
	apply, revert []byte
}

// iptablesBatches builds one batch per table that has changes. A chain
// declaration (":CHAIN - [0:0]") with --noflush creates the chain or
// empties it, so a changed chain is rewritten whole, atomically with the
// rest of its table.
func iptablesBatches(c *Changes) []tableBatch {
	var out []tableBatch
	for _, table := range []string{"mangle", "nat"} {
		var fwd, back batchWriter
		for _, ch := range c.Chains {
			if ch.Chain.Table != table {
				continue
			}
			fwd.declare(ch.Chain.Name)
			back.declare(ch.Chain.Name)
			if !ch.Delete {
				fwd.rules(ch.Chain.specs())
			} else {
				fwd.drop(ch.Chain.Name)
			}
			if ch.Exists {
				back.rules(ch.Old)
			} else {
				back.drop(ch.Chain.Name)
			}
		}
		for _, j := range c.AddJumps {
			if j.Table == table {
				fwd.line(fmt.Sprintf("-I %s 1 -j %s", j.Chain, j.Target))
				back.first(fmt.Sprintf("-D %s -j %s", j.Chain, j.Target))
			}
		}
		for _, j := range c.DelJumps {
			if j.Table == table {
				fwd.first(fmt.Sprintf("-D %s -j %s", j.Chain, j.Target))
				back.line(fmt.Sprintf("-I %s 1 -j %s", j.Chain, j.Target))
			}
		}
		if fwd.empty() {
			continue
		}
		out = append(out, tableBatch{table: table, apply: fwd.bytes(table), revert: back.bytes(table)})
	}
	return out
}

// batchWriter orders a batch: chain declarations, then rules and jump
// insertions, then jump deletions, then chain deletions (which need the
// chain empty and unreferenced).
type batchWriter struct {
	decls, body, dels, drops []string
}

func (w *batchWriter) declare(chain string) { w.decls = append(w.decls, ":"+chain+" - [0:0]") }
func (w *batchWriter) rules(specs []string) { w.body = append(w.body, specs...) }
func (w *batchWriter) line(l string)        { w.body = append(w.body, l) }
func (w *batchWriter) first(l string)       { w.dels = append(w.dels, l) }
func (w *batchWriter) drop(chain string)    { w.drops = append(w.drops, "-X "+chain) }

func (w *batchWriter) empty() bool {
	return len(w.decls)+len(w.body)+len(w.dels)+len(w.drops) == 0
}

func (w *batchWriter) bytes(table string) []byte {
	var b strings.Builder
	b.WriteString("*" + table + "\n")
	for _, part := range [][]string{w.decls, w.dels, w.body, w.drops} {
		for _, l := range part {
			b.WriteString(l + "\n")
		}
	}
	b.WriteString("COMMIT\n")
	return []byte(b.String())
}
