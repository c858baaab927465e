package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"

	"github.com/pathpin/pathpin/internal/journal"
)

// newFlagSet returns a flag set that reports errors instead of exiting.
func newFlagSet(name string, env *cliEnv) *flag.FlagSet {
	fs := flag.NewFlagSet("pathpin "+name, flag.ContinueOnError)
	fs.SetOutput(env.stderr)
	return fs
}

// parse parses args and refuses stray positional arguments; -h is not an error.
func parse(fs *flag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return &exitError{code: 2, msg: err.Error()}
	}
	if fs.NArg() > 0 {
		return &exitError{code: 2, msg: fmt.Sprintf("%s: unexpected argument %q", fs.Name(), fs.Arg(0))}
	}
	return nil
}

// helpRequested reports whether parse stopped for -h.
func helpRequested(args []string) bool {
	for _, a := range args {
		if a == "-h" || a == "-help" || a == "--help" {
			return true
		}
	}
	return false
}

// newLogger logs to w as text; debug lowers the level.
func newLogger(w io.Writer, debug bool) *slog.Logger {
	level := slog.LevelWarn
	if debug {
		level = slog.LevelDebug
	}
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: level}))
}

// newDaemonLogger logs at info level. Under systemd (JOURNAL_STREAM set)
// it writes to the journal with each attribute as a field, or, when the
// journal's socket is missing, as text without the timestamps the journal
// adds.
func newDaemonLogger(w io.Writer, debug bool) *slog.Logger {
	level := slog.LevelInfo
	if debug {
		level = slog.LevelDebug
	}
	if os.Getenv("JOURNAL_STREAM") != "" && journal.Enabled() {
		return slog.New(journal.New(level, nil))
	}
	opts := &slog.HandlerOptions{Level: level}
	if os.Getenv("JOURNAL_STREAM") != "" {
		opts.ReplaceAttr = func(groups []string, a slog.Attr) slog.Attr {
			if a.Key == slog.TimeKey && len(groups) == 0 {
				return slog.Attr{}
			}
			return a
		}
	}
	return slog.New(slog.NewTextHandler(w, opts))
}
