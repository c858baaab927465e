package nft

import (
	"fmt"
	"net/netip"
	"time"

	"github.com/google/nftables"
)

// Fill is one address for a timed set (a domain policy's), kept for
// Timeout. Refresh: the set may hold it already, with less time left; it
// is taken out and put in again, because kernels before 6.10 keep an
// element's first timeout when it is added again.
type Fill struct {
	Set     string
	Addr    netip.Addr
	Timeout time.Duration
	Refresh bool
}

// FillSets puts fills into their sets in one transaction. A refresh
// whose address has left its set meanwhile (its time ran out, or the
// table was written again) fails the transaction; it is then sent again
// with additions alone.
func (c *Conn) FillSets(fills []Fill) error {
	if len(fills) == 0 {
		return nil
	}
	err := c.fill(fills, true)
	if err != nil {
		err = c.fill(fills, false)
	}
	if err != nil {
		return fmt.Errorf("nftables: adding DNS answers' addresses to the domain sets: %w", err)
	}
	return nil
}

func (c *Conn) fill(fills []Fill, refresh bool) error {
	t := table()
	sets := map[string]*nftables.Set{}
	set := func(name string) *nftables.Set {
		if s, ok := sets[name]; ok {
			return s
		}
		s := &nftables.Set{Table: t, Name: name, KeyType: nftables.TypeIPAddr, HasTimeout: true}
		sets[name] = s
		return s
	}
	for _, f := range fills {
		a := f.Addr.As4()
		e := []nftables.SetElement{{Key: a[:], Timeout: max(f.Timeout, time.Second)}}
		if refresh && f.Refresh {
			if err := c.c.SetDeleteElements(set(f.Set), e); err != nil {
				c.discard()
				return err
			}
		}
		if err := c.c.SetAddElements(set(f.Set), e); err != nil {
			c.discard()
			return err
		}
	}
	return c.c.Flush()
}

// FlushSets empties the named sets of pathpin's table in one
// transaction; a set that is not there is skipped.
func (c *Conn) FlushSets(names []string) error {
	live, err := c.c.GetSets(table())
	if err != nil {
		return fmt.Errorf("nftables: listing pathpin's sets: %w", err)
	}
	for _, name := range names {
		for _, s := range live {
			if s.Name == name {
				c.c.FlushSet(s)
			}
		}
	}
	if err := c.c.Flush(); err != nil {
		return fmt.Errorf("nftables: emptying sets %v: %w", names, err)
	}
	return nil
}
