package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/pathpin/pathpin/internal/config"
	"github.com/pathpin/pathpin/internal/setup"
	"github.com/pathpin/pathpin/uplink"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// listFlag is a flag that may be given more than once.
type listFlag []string

func (l *listFlag) String() string     { return strings.Join(*l, ",") }
func (l *listFlag) Set(v string) error { *l = append(*l, v); return nil }

func runInit(ctx context.Context, env *cliEnv, args []string) error {
	fs := newFlagSet("init", env)
	var ifaces, vlans, lan listFlag
	cfgPath := fs.String("c", config.DefaultPath, "configuration file to write; the password file goes beside it")
	fs.Var(&ifaces, "interface", "probe only this Ethernet interface (repeatable; default: every one)")
	fs.Var(&vlans, "vlan", "also probe this 802.1Q VLAN on each interface (repeatable; 101 is always probed)")
	timeout := fs.Duration("timeout", 3*time.Second, "how long the whole scan may take")
	username := fs.String("username", "", "the PPP login your ISP gave you")
	passwordFile := fs.String("password-file", "", "read the PPP password from this file")
	passwordStdin := fs.Bool("password-stdin", false, "read the PPP password from standard input")
	static := fs.String("static", "", "the static uplink as IF:GATEWAY, e.g. eth0:192.168.1.254 (default: the main table's default route)")
	fs.Var(&lan, "lan", "a LAN interface (repeatable; default: the links with private addresses that carry no uplink)")
	name := fs.String("name", "dsl", "the PPPoE uplink's name")
	fromPPPoEConf := fs.Bool("from-pppoeconf", false, "take the line and login from pppoeconf's peer and secrets instead of scanning")
	pppDir := fs.String("ppp-dir", "/etc/ppp", "pppd's configuration directory (--from-pppoeconf)")
	peer := fs.String("peer", "dsl-provider", "the pppd peer to migrate (--from-pppoeconf)")
	assumeYes := fs.Bool("yes", false, "ask nothing: take the flags and what was detected")
	force := fs.Bool("force", false, "replace an existing configuration")
	dryRun := fs.Bool("dry-run", false, "print the configuration and write nothing")
	debug := fs.Bool("debug", false, "log every discovery packet")
	if err := parse(fs, args); err != nil || helpRequested(args) {
		return err
	}
	if *passwordFile != "" && *passwordStdin {
		return &exitError{code: 2, msg: "init: give --password-file or --password-stdin, not both"}
	}
	opt := setup.Options{
		ConfigPath: *cfgPath, Name: *name, Username: *username, Static: *static, LAN: lan,
		FromPPPoEConf: *fromPPPoEConf, PPPDir: *pppDir, Peer: *peer, Force: *force, DryRun: *dryRun,
		Scan: setup.ScanOptions{Interfaces: ifaces, VLANs: setup.DefaultVLANs, Timeout: *timeout},
		Host: setup.SystemHost(), Out: env.stdout, Err: env.stderr, Log: newLogger(env.stderr, *debug),
	}
	for _, v := range vlans {
		id, err := strconv.Atoi(v)
		if err != nil || id < 1 || id > 4094 {
			return &exitError{code: 2, msg: fmt.Sprintf("init: --vlan %s: give a VLAN ID from 1 to 4094", v)}
		}
		if !slices.Contains(opt.Scan.VLANs, id) {
			opt.Scan.VLANs = append(append([]int(nil), opt.Scan.VLANs...), id)
		}
	}
	switch {
	case *passwordFile != "":
		b, err := os.ReadFile(*passwordFile)
		if err != nil {
			return fmt.Errorf("init: reading --password-file: %w", err)
		}
		opt.Password, opt.HavePassword = firstLine(string(b)), true
	case *passwordStdin:
		b, err := io.ReadAll(io.LimitReader(os.Stdin, 4096))
		if err != nil {
			return fmt.Errorf("init: reading the password from standard input: %w", err)
		}
		opt.Password, opt.HavePassword = firstLine(string(b)), true
	}
	if !*assumeYes && !*passwordStdin {
		if t := setup.NewTerminal(os.Stdin, env.stdout); t != nil {
			opt.Ask = t
		}
	}
	opt.MarkMask, opt.MarkMaskWhy = proposeMarkMask(ctx, env)
	h, err := netlink.NewHandle(unix.NETLINK_ROUTE)
	if err != nil {
		return fmt.Errorf("opening netlink: %w", err)
	}
	defer h.Close()
	res, err := setup.Run(ctx, h, opt)
	if errors.Is(err, setup.ErrDeclined) {
		fmt.Fprintln(env.stdout, "Nothing was written.")
		return nil
	}
	if err != nil {
		return err
	}
	if opt.DryRun {
		printConflicts(env.stderr, res.Conflicts)
		return nil
	}
	if res.Written {
		fmt.Fprintf(env.stdout, "Wrote %s and %s (mode 0600).\n", opt.ConfigPath, res.Answers.PPPoE.PasswordFile)
		checkHost(ctx, env, *cfgPath)
	}
	printConflicts(env.stdout, res.Conflicts)
	plan := "pathpin plan"
	if *cfgPath != config.DefaultPath {
		plan += " -c " + *cfgPath
	}
	fmt.Fprintf(env.stdout, "\nNext: %s (what pathpin would change), then systemctl enable --now pathpin\n", plan)
	return nil
}

// checkHost runs pathpin check's host part on the new configuration: what
// the host lacks is reported, not fatal to init.
func checkHost(ctx context.Context, env *cliEnv, path string) {
	f := engineFlags{config: path, stateDir: defaultStateDir}
	cfg, e, err := f.open(env)
	if err != nil {
		fmt.Fprintf(env.stdout, "check: %v\n", err)
		return
	}
	defer e.Close()
	fmt.Fprintf(env.stdout, "check: %s is valid (%d uplinks)\n", cfg.Path, len(cfg.Uplinks))
	findings, err := e.Check(ctx, cfg)
	if err != nil {
		fmt.Fprintf(env.stdout, "check: the host could not be checked: %v\n", err)
	}
	for _, fd := range findings {
		if fd.Severity == uplink.Problem {
			fmt.Fprintf(env.stdout, "check: the host: %s\n", fd.Text)
		}
	}
}

func printConflicts(w io.Writer, cs []setup.Conflict) {
	var conflicts, notes []setup.Conflict
	for _, c := range cs {
		if c.Note {
			notes = append(notes, c)
		} else {
			conflicts = append(conflicts, c)
		}
	}
	if len(conflicts) > 0 {
		fmt.Fprintln(w, "\nAlso managing the same things (pathpin changed none of them; turn each off before starting pathpin):")
		for _, c := range conflicts {
			fmt.Fprintf(w, "  - %s\n    %s\n", c.What, c.Fix)
		}
	}
	if len(notes) > 0 {
		fmt.Fprintln(w, "\nNoted (nothing starts these, so they clash with nothing now):")
		for _, c := range notes {
			fmt.Fprintf(w, "  - %s\n    %s\n", c.What, c.Fix)
		}
	}
}

func firstLine(s string) string {
	line, _, _ := strings.Cut(s, "\n")
	return strings.TrimSuffix(line, "\r")
}

// proposeMarkMask is the mark-mask init writes when other software here
// uses bits of the default one (0 when none does), and who they are.
func proposeMarkMask(ctx context.Context, env *cliEnv) (uint32, string) {
	marks, err := findMarkUsers(ctx)
	if err != nil {
		fmt.Fprintf(env.stderr, "init: the other software's packet marks could not be read (%v); keeping the default mark-mask\n", err)
		return 0, ""
	}
	var who []string
	for _, u := range marks.Users {
		if u.Bits&config.DefaultMarkMask == 0 || u.TestsClear() {
			continue
		}
		name := u.Owner
		if name == "" {
			name = u.Where
		}
		if w := fmt.Sprintf("%s (%#x)", name, u.Bits); !slices.Contains(who, w) {
			who = append(who, w)
		}
	}
	// Room for the two uplinks init writes, and more added later.
	m := uplink.ProposeMask(uplink.UsedMarkBits(marks), config.DefaultMarkMask, 8)
	if m == config.DefaultMarkMask || m == 0 {
		return 0, ""
	}
	return m, strings.Join(who, ", ")
}
