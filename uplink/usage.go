package uplink

import (
	"fmt"

	"github.com/pathpin/pathpin/internal/config"
	"github.com/pathpin/pathpin/internal/nft"
)

// The chains that count each uplink's data: every packet that arrives on
// its interface, before anything drops it (what the ISP counts too), and
// every packet that leaves by it, after NAT.
const (
	chainUsageIn  = "usage_in"
	chainUsageOut = "usage_out"
	prioUsageOut  = 300
)

// usageChains count bytes in and out of each uplink's interface. The rules
// depend on the configuration alone, so an apply leaves them (and their
// counters) as they are.
func usageChains(cfg *config.Config) []nft.Chain {
	in := nft.Chain{Name: chainUsageIn, Type: "filter", Hook: "prerouting", Priority: prioRaw}
	out := nft.Chain{Name: chainUsageOut, Type: "filter", Hook: "postrouting", Priority: prioUsageOut}
	for i := range cfg.Uplinks {
		u := &cfg.Uplinks[i]
		in.Rules = append(in.Rules, nft.Rule{IIf: u.DeviceName(), Counter: true, Comment: fmt.Sprintf("%s's data in", u.Name)})
		out.Rules = append(out.Rules, nft.Rule{OIf: u.DeviceName(), Counter: true, Comment: fmt.Sprintf("%s's data out", u.Name)})
	}
	return []nft.Chain{in, out}
}

// Usage is what an uplink's interface carried, by the kernel's counters
// since pathpin's table was made.
type Usage struct {
	In, Out uint64
}

// CountUsage reads each uplink's counters from a table read back from the
// kernel, by name; an uplink without its rules is left out.
func CountUsage(cfg *config.Config, t *nft.Table) map[string]Usage {
	out := map[string]Usage{}
	if t == nil {
		return out
	}
	byDev := map[string]string{}
	for i := range cfg.Uplinks {
		byDev[cfg.Uplinks[i].DeviceName()] = cfg.Uplinks[i].Name
	}
	for _, c := range t.Chains {
		for _, r := range c.Rules {
			if !r.Counter {
				continue
			}
			switch {
			case c.Name == chainUsageIn && byDev[r.IIf] != "":
				u := out[byDev[r.IIf]]
				u.In = r.Bytes
				out[byDev[r.IIf]] = u
			case c.Name == chainUsageOut && byDev[r.OIf] != "":
				u := out[byDev[r.OIf]]
				u.Out = r.Bytes
				out[byDev[r.OIf]] = u
			}
		}
	}
	return out
}
