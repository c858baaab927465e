package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/netip"
	"strings"
	"time"

	"github.com/pathpin/pathpin/internal/config"
	"github.com/pathpin/pathpin/internal/daemon"
	"github.com/pathpin/pathpin/internal/status"
)

// isDomainName tells a name from an address among why's arguments.
func isDomainName(s string) bool {
	if _, err := netip.ParseAddr(s); err == nil {
		return false
	}
	return strings.Contains(s, ".") && !strings.ContainsAny(s, "/: ")
}

// whyDomain shows the domain policies whose domains hold name, and the
// addresses their sets hold now with the answers that gave them. It
// resolves nothing itself: what counts is what the clients were told.
func whyDomain(ctx context.Context, env *cliEnv, f *engineFlags, name string, asJSON bool) error {
	name = strings.TrimSuffix(strings.ToLower(name), ".")
	r, err := daemon.QueryStatus(ctx, f.stateDir)
	if err != nil {
		return fmt.Errorf("why %s: the domain sets are pathpin up's to tell: %w", name, err)
	}
	var hits []status.Domain
	for _, d := range r.Domains {
		for _, dom := range d.Domains {
			if config.InDomain(name, dom) {
				hits = append(hits, d)
				break
			}
		}
	}
	if asJSON {
		enc := json.NewEncoder(env.stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(hits)
	}
	writeDomainAnswer(env.stdout, name, hits)
	return nil
}

func writeDomainAnswer(w io.Writer, name string, hits []status.Domain) {
	if len(hits) == 0 {
		fmt.Fprintf(w, "%s: no domain policy names it or a domain above it; its connections are steered by address like any other\n", name)
		return
	}
	for _, d := range hits {
		fmt.Fprintf(w, "%s: policy %s (domains %s), set %s holds %d addresses\n", name, d.Policy, strings.Join(d.Domains, ", "), d.Set, d.Size)
		shown := 0
		for _, a := range d.Addrs {
			if len(a.Names) > 0 && !namedBy(a.Names, name) {
				continue
			}
			by := "an answer pathpin did not read (dnsmasq's nftset=, or one from before a restart)"
			if len(a.Names) > 0 {
				by = "answers for " + strings.Join(a.Names, ", ")
			}
			fmt.Fprintf(w, "  %-15s  %8s left  from %s\n", a.Addr, (time.Duration(a.Expires) * time.Second).String(), by)
			shown++
		}
		if shown == 0 {
			fmt.Fprintf(w, "  no address from an answer for %s yet: a client that asked for it will fill it on its next lookup\n", name)
		}
		fmt.Fprintf(w, "  a dnsmasq on the router fills the same set with: %s\n", d.Dnsmasq)
	}
	fmt.Fprintln(w, "pathpin reads DNS answers that pass through the router in the clear (UDP and TCP port 53); a client using DNS over TLS or HTTPS fills no set, and its connections are steered by address.")
}

// namedBy reports whether one of names is name or below it.
func namedBy(names []string, name string) bool {
	for _, n := range names {
		if config.InDomain(n, name) || config.InDomain(name, n) {
			return true
		}
	}
	return false
}
