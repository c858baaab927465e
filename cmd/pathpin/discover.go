package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/pathpin/pathpin/internal/carrier"
	"github.com/pathpin/pathpin/pppoe"
)

func runDiscover(ctx context.Context, env *cliEnv, args []string) error {
	fs := newFlagSet("discover", env)
	iface := fs.String("i", "", "Ethernet (or VLAN) interface facing the modem/bridge, e.g. eth1.1000 (required)")
	service := fs.String("service", "", "Service-Name to ask for (empty: any)")
	ac := fs.String("ac", "", "accept only the access concentrator with this AC-Name")
	timeout := fs.Duration("timeout", 10*time.Second, "give up after this long")
	initial := fs.Duration("initial-timeout", pppoe.DefaultInitialTimeout, "wait after the first PADI/PADR; doubles on each retry")
	attempts := fs.Int("attempts", pppoe.DefaultAttempts, "PADIs (and PADRs) to send before giving up")
	mtu := fs.Int("mtu", pppoe.DefaultMaxPayload, "PPP MTU wanted; above 1492 asks for RFC 4638 PPP-Max-Payload")
	first := fs.Bool("first", false, "stop at the first matching offer")
	session := fs.Bool("session", false, "open a session (PADI to PADS) and print SID:MAC")
	keep := fs.Bool("keep", false, "with --session: leave the session open instead of sending PADT")
	asJSON := fs.Bool("json", false, "print JSON")
	debug := fs.Bool("debug", false, "log every discovery packet")
	if err := parse(fs, args); err != nil || helpRequested(args) {
		return err
	}
	if *iface == "" {
		return &exitError{code: 2, msg: "discover: -i IFACE is required (the interface facing the PPPoE modem or bridge)"}
	}
	if *keep && !*session {
		return &exitError{code: 2, msg: "discover: --keep only makes sense with --session"}
	}
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	// A link brought up a moment ago has no carrier yet: wait for it within
	// the timeout. Listen then says what is wrong, if anything still is.
	_ = carrier.Wait(ctx, *iface, func() {
		fmt.Fprintf(env.stderr, "pathpin: %s has no carrier yet; waiting up to %s\n", *iface, *timeout)
	})
	conn, hw, err := pppoe.Listen(*iface)
	if err != nil {
		return err
	}
	defer conn.Close()
	cfg := pppoe.Config{Service: *service, ACName: *ac, MTU: *mtu, InitialTimeout: *initial, Attempts: *attempts}
	if !*session && cfg.MTU <= pppoe.DefaultMaxPayload {
		// Listing asks for 1500 so that RFC 4638 support shows in the offers.
		cfg.MTU = 1500
	}
	client := pppoe.NewClient(conn, *iface, hw, cfg, newLogger(env.stderr, *debug))
	if !*session {
		offers, err := client.Offers(ctx, *first)
		if err != nil {
			return discoveryError(err, *timeout)
		}
		return printOffers(env.stdout, offers, *asJSON)
	}

	s, err := client.Session(ctx)
	if err != nil {
		return discoveryError(err, *timeout)
	}
	if *asJSON {
		if err := writeJSON(env.stdout, s); err != nil {
			return err
		}
	} else {
		fmt.Fprintln(env.stdout, s.String())
	}
	if *keep {
		return nil
	}
	if err := client.Terminate(*s, "pathpin discover: closing the test session"); err != nil {
		return fmt.Errorf("closing session %s: %w", s, err)
	}
	return nil
}

// discoveryError turns a context deadline into the user's own terms.
func discoveryError(err error, timeout time.Duration) error {
	if errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("%w within %s (is the modem/bridge connected and the VLAN right?)", pppoe.ErrNoOffer, timeout)
	}
	return err
}

func printOffers(w io.Writer, offers []pppoe.Offer, asJSON bool) error {
	if asJSON {
		return writeJSON(w, offers)
	}
	for _, o := range offers {
		fmt.Fprintf(w, "Access-Concentrator: %s\n", o.ACName)
		fmt.Fprintf(w, "  AC-Ethernet-Address: %s\n", o.ACMAC)
		for _, s := range o.Services {
			if s == "" {
				s = "(any)"
			}
			fmt.Fprintf(w, "  Service-Name: %s\n", s)
		}
		if o.MaxPayload > 0 {
			fmt.Fprintf(w, "  PPP-Max-Payload: %d (RFC 4638 supported)\n", o.MaxPayload)
		} else {
			fmt.Fprintln(w, "  PPP-Max-Payload: not offered (MTU 1492)")
		}
	}
	return nil
}

func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}
