package main

import (
	"context"
	"fmt"

	"github.com/pathpin/pathpin/pppoe"
)

func runPADT(_ context.Context, env *cliEnv, args []string) error {
	fs := newFlagSet("padt", env)
	iface := fs.String("i", "", "interface the session runs on (required)")
	sid := fs.Uint("session", 0, "session id, decimal (required)")
	ac := fs.String("ac", "", "access concentrator's MAC address (required)")
	if err := parse(fs, args); err != nil || helpRequested(args) {
		return err
	}
	if *iface == "" || *sid == 0 || *ac == "" {
		return &exitError{code: 2, msg: "padt: -i IFACE, --session SID and --ac MAC are all required"}
	}
	id, mac, err := pppoe.ParseSession(formatSID(*sid, *ac))
	if err != nil {
		return &exitError{code: 2, msg: "padt: " + err.Error()}
	}
	conn, hw, err := pppoe.Listen(*iface)
	if err != nil {
		return err
	}
	defer conn.Close()
	client := pppoe.NewClient(conn, *iface, hw, pppoe.Config{}, newLogger(env.stderr, false))
	return client.Terminate(pppoe.Session{Interface: *iface, ACMAC: mac, ID: id}, "pathpin padt: session terminated by the administrator")
}

func formatSID(sid uint, mac string) string {
	return fmt.Sprintf("%d:%s", sid, mac)
}
