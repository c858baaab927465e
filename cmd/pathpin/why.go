package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net"
	"net/netip"
	"strings"
	"time"

	"github.com/pathpin/pathpin/internal/conntrack"
	"github.com/pathpin/pathpin/internal/daemon"
	"github.com/pathpin/pathpin/internal/nft"
	"github.com/pathpin/pathpin/uplink"
)

// maxWhyFlows bounds the flows `why --flows` lists.
const maxWhyFlows = 1000

func runWhy(ctx context.Context, env *cliEnv, args []string) error {
	var f engineFlags
	fs := newFlagSet("why", env)
	f.register(fs)
	port := fs.Uint("port", 0, "the destination port")
	proto := fs.String("proto", "", "the protocol: tcp, udp or icmp")
	mac := fs.String("mac", "", "the LAN client's MAC address")
	in := fs.String("in", "", "the LAN interface the connection arrives on")
	router := fs.Bool("router", false, "a connection of the router's own")
	flows := fs.Bool("flows", false, "also list the source's live connections and where each is pinned")
	asJSON := fs.Bool("json", false, "print JSON")
	fs.Usage = func() {
		fmt.Fprintln(env.stderr, "usage: pathpin why SOURCE [DESTINATION] [--port N] [--proto tcp|udp|icmp] [--mac MAC] [--in IFACE] [--router] [--flows] [--json]")
		fmt.Fprintln(env.stderr, "       pathpin why DOMAIN [--json]   (the domain policies' addresses for it, from the DNS answers seen)")
		fs.PrintDefaults()
	}
	pos, err := parseInterleaved(fs, args)
	if err != nil || helpRequested(args) {
		return err
	}
	if len(pos) == 1 && isDomainName(pos[0]) {
		return whyDomain(ctx, env, &f, pos[0], *asJSON)
	}
	q, err := question(pos, *port, *proto, *mac, *in, *router)
	if err != nil {
		return &exitError{code: 2, msg: err.Error()}
	}
	cfg, e, err := f.open(env)
	if err != nil {
		return err
	}
	defer e.Close()
	live, err := e.Tables.Read()
	if err != nil {
		return err
	}
	states := map[string]string{}
	r, err := daemon.QueryStatus(ctx, f.stateDir)
	if err != nil {
		r, err = daemon.KernelReport(ctx, cfg, e)
	}
	if err == nil {
		for _, u := range r.Uplinks {
			states[u.Name] = u.State
		}
	}
	var fl []conntrack.Flow
	if *flows {
		if fl, err = conntrack.FlowsFrom(q.Src, maxWhyFlows); err != nil {
			return err
		}
	}
	a, err := uplink.Explain(cfg, live, states, q, e.Tables.Sticky, fl)
	if err != nil {
		return err
	}
	if *asJSON {
		enc := json.NewEncoder(env.stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(a)
	}
	writeAnswer(env.stdout, q, a, *flows)
	return nil
}

// parseInterleaved parses flags wherever they stand among the positional
// arguments, which it returns.
func parseInterleaved(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, parse(fs, args)
		}
		if fs.NArg() == 0 {
			return pos, nil
		}
		pos, args = append(pos, fs.Arg(0)), fs.Args()[1:]
	}
}

func question(pos []string, port uint, proto, mac, in string, router bool) (uplink.Question, error) {
	var q uplink.Question
	if len(pos) < 1 || len(pos) > 2 {
		return q, fmt.Errorf("why: give the source address, and the destination if you know it: pathpin why 10.1.0.20 203.0.113.7 --port 443 --proto tcp")
	}
	var err error
	if q.Src, err = netip.ParseAddr(pos[0]); err != nil || !q.Src.Is4() {
		return q, fmt.Errorf("why: %q is not an IPv4 source address", pos[0])
	}
	if len(pos) == 2 {
		if q.Dst, err = netip.ParseAddr(pos[1]); err != nil || !q.Dst.Is4() {
			return q, fmt.Errorf("why: %q is not an IPv4 destination address (pathpin why resolves no names)", pos[1])
		}
	}
	if port > 65535 {
		return q, fmt.Errorf("why: --port %d is not a port", port)
	}
	q.Port = uint16(port)
	switch proto {
	case "":
	case "tcp":
		q.Proto = 6
	case "udp":
		q.Proto = 17
	case "icmp":
		q.Proto = 1
	default:
		return q, fmt.Errorf("why: --proto %q: write tcp, udp or icmp", proto)
	}
	if mac != "" {
		if q.MAC, err = net.ParseMAC(mac); err != nil {
			return q, fmt.Errorf("why: --mac %q is not an Ethernet address", mac)
		}
	}
	q.In, q.Router = in, router
	return q, nil
}

func writeAnswer(w io.Writer, q uplink.Question, a *uplink.Answer, flows bool) {
	what := q.Src.String()
	if q.Dst.IsValid() {
		what += " → " + q.Dst.String()
	}
	if q.Proto != 0 {
		what += " " + nft.ProtoName(q.Proto)
	}
	if q.Port != 0 {
		what += fmt.Sprintf(" port %d", q.Port)
	}
	fmt.Fprintln(w, what)
	for _, u := range a.Unsure {
		fmt.Fprintf(w, "  first, policy %s: give the missing field to know\n", u)
	}
	if a.Policy == "" {
		fmt.Fprintln(w, "policy: none: balanced")
	} else {
		fmt.Fprintf(w, "policy: %s (line %d)\n", a.Policy, a.Line)
		for i, tier := range a.Tiers {
			var ms []string
			for _, m := range tier {
				ms = append(ms, fmt.Sprintf("%s (weight %d, %s)", m.Uplink, m.Weight, m.State))
			}
			fmt.Fprintf(w, "  tier %d: %s\n", i+1, strings.Join(ms, ", "))
		}
	}
	var now []string
	for _, s := range a.Now {
		now = append(now, fmt.Sprintf("%s %.0f%%", s.Uplink, 100*s.Share))
	}
	switch a.Verdict {
	case "dropped":
		fmt.Fprintln(w, "now: dropped: no uplink of the policy is in service and it says otherwise: drop")
	case "none":
		fmt.Fprintln(w, "now: no uplink is in service")
	default:
		fmt.Fprintf(w, "now: %s: %s\n", a.Verdict, strings.Join(now, ", "))
	}
	if s := a.Sticky; s != nil {
		fmt.Fprintf(w, "sticky: %s stays on %s for %s more (set %s)\n", q.Src, s.Uplink, s.Expires.Round(time.Second), s.Set)
	}
	if !flows {
		return
	}
	fmt.Fprintf(w, "flows (%d):\n", len(a.Flows))
	for _, f := range a.Flows {
		up := f.Uplink
		if up == "" {
			up = "(not pinned)"
		}
		pol := f.Policy
		if pol == "" {
			pol = "balanced"
		}
		if len(f.Maybe) > 0 {
			pol += "; unless " + strings.Join(f.Maybe, ", ")
		}
		fmt.Fprintf(w, "  %s %s:%d → %s:%d  %s  %s\n", f.Proto, f.Src, f.SPort, f.Dst, f.DPort, up, pol)
	}
	fmt.Fprintln(w, "(a flow's policy is found by its addresses, protocol and port; its MAC and interface are not in conntrack. Encrypted DNS and names are not seen.)")
}
