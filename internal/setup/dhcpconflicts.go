package setup

import (
	"context"
	"fmt"
	"slices"
	"strings"
)

// DHCPConflicts returns the other DHCP clients that manage iface, a DHCP
// uplink's interface: two clients on one interface fight over its address
// and routes. Each comes with the command or edit that stops it.
func DHCPConflicts(ctx context.Context, h Host, iface string) []Conflict {
	l := Links{PPPoE: iface}
	var out []Conflict
	for _, s := range ifupdownStanzas(h) {
		if s.kind == "iface" && s.name == iface && s.method == "dhcp" {
			out = append(out, Conflict{
				What: fmt.Sprintf("ifupdown runs a DHCP client on %s (`iface %s inet dhcp`, %s line %d)", iface, iface, s.file, s.line),
				Fix:  fmt.Sprintf("ifdown %s; then change the stanza to `iface %s inet manual` (pathpin keeps the lease)", iface, iface),
			})
		}
	}
	for _, c := range networkManagerConflicts(ctx, h, l) {
		if strings.Contains(c.What, iface) {
			out = append(out, c)
		}
	}
	out = append(out, dhcpcdConflicts(h, l)...)
	out = append(out, networkdConflicts(h, l)...)
	for _, p := range h.processes() {
		if p.Comm != "dhclient" && p.Comm != "udhcpc" {
			continue
		}
		args := strings.Fields(p.Args)
		// dhclient with no interface named serves every one.
		named := slices.ContainsFunc(args[min(1, len(args)):], func(a string) bool {
			return !strings.HasPrefix(a, "-") && !strings.Contains(a, "/") && !strings.Contains(a, ".")
		})
		if slices.Contains(args, iface) || p.Comm == "dhclient" && !named {
			out = append(out, Conflict{
				What: fmt.Sprintf("%s runs on %s (pid %d: %s)", p.Comm, iface, p.PID, p.Args),
				Fix:  fmt.Sprintf("kill %d, and stop whatever starts it (ifupdown, NetworkManager)", p.PID),
			})
		}
	}
	return out
}
