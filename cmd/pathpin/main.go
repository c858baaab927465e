// Command pathpin is a multi-WAN router for small Linux boxes that keeps
// every connection on one uplink. See README.md for what each command does.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

// A command is one pathpin subcommand.
type command struct {
	name    string
	summary string
	run     func(ctx context.Context, env *cliEnv, args []string) error
}

// cliEnv carries what commands print to, so tests can capture it.
type cliEnv struct {
	stdout, stderr io.Writer
}

func commands() []command {
	return []command{
		{"init", "find the PPPoE line, ask, and write the configuration (replaces pppoeconf)", runInit},
		{"up", "run the router: static uplinks, PPPoE, hooks (the systemd service)", runUp},
		{"status", "show each uplink's state, addresses, flows and probes", runStatus},
		{"check", "validate the configuration and the host", runCheck},
		{"plan", "show what apply would change (exit 2 when something would)", runPlan},
		{"apply", "make the kernel match the configuration", runApply},
		{"why", "say which policy a connection meets and which uplink it takes now", runWhy},
		{"exec", "run a command whose connections leave by one uplink (--via) or as a program", runExec},
		{"resume", "let an uplink held out by failback: never back into service", runResume},
		{"web", "serve the status page, its JSON and Prometheus metrics (unprivileged; reads the status socket)", runWeb},
		{"down", "remove everything pathpin installed", runDown},
		{"discover", "find PPPoE access concentrators, or open a session", runDiscover},
		{"padt", "terminate a PPPoE session", runPADT},
		{"hook", "pppd's ip-up/ip-down script (pppd runs it)", runHook},
		{"version", "print pathpin's version", runVersion},
	}
}

// exitError carries an exit status other than 1 (e.g. plan's 2 for
// "changes pending"); its message may be empty.
type exitError struct {
	code int
	msg  string
}

func (e *exitError) Error() string { return e.msg }

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	env := &cliEnv{stdout: os.Stdout, stderr: os.Stderr}
	var err error
	if kind, ok := hookKind(os.Args[0]); ok {
		err = hook(ctx, env, kind, os.Args[1:], os.Args[0])
	} else {
		err = run(ctx, env, os.Args[1:])
	}
	stop()
	if err == nil {
		return
	}
	code := 1
	var ee *exitError
	if errors.As(err, &ee) {
		code = ee.code
	}
	if err.Error() != "" {
		fmt.Fprintf(os.Stderr, "pathpin: %v\n", err)
	}
	os.Exit(code)
}

func run(ctx context.Context, env *cliEnv, args []string) error {
	if len(args) == 0 || args[0] == "help" || args[0] == "-h" || args[0] == "--help" {
		usage(env.stdout)
		if len(args) == 0 {
			return &exitError{code: 2}
		}
		return nil
	}
	for _, c := range commands() {
		if c.name == args[0] {
			return c.run(ctx, env, args[1:])
		}
	}
	usage(env.stderr)
	return &exitError{code: 2, msg: fmt.Sprintf("unknown command %q", args[0])}
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "usage: pathpin COMMAND [flags]")
	fmt.Fprintln(w, "\ncommands:")
	for _, c := range commands() {
		fmt.Fprintf(w, "  %-10s %s\n", c.name, c.summary)
	}
	fmt.Fprintln(w, "\nRun pathpin COMMAND -h for the command's flags.")
}

func runVersion(_ context.Context, env *cliEnv, args []string) error {
	fs := newFlagSet("version", env)
	if err := parse(fs, args); err != nil {
		return err
	}
	fmt.Fprintf(env.stdout, "pathpin %s\n", version)
	return nil
}
