package hooks

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/pathpin/pathpin/internal/runcmd"
)

// DefaultPPPDir is Debian's ppp directory, holding the ip-up and ip-down
// scripts that run the hooks other packages drop in ip-up.d and ip-down.d.
const DefaultPPPDir = "/etc/ppp"

// ScriptTimeout bounds one run of Debian's ip-up or ip-down script.
const ScriptTimeout = 30 * time.Second

// RunPPPScript runs dir/ip-up or dir/ip-down, as pppd would have had
// pathpin not taken its place: with pppd's arguments and environment,
// bounded by ScriptTimeout, each line of its output logged. A missing
// script is no error. A daemon a script in ip-up.d leaves behind holding
// its output is not waited for (runcmd.Grace after the script exits).
func RunPPPScript(ctx context.Context, dir string, e Event, log *slog.Logger) error {
	path := filepath.Join(dir, string(e.Kind))
	if st, err := os.Stat(path); err != nil || st.IsDir() || st.Mode()&0o111 == 0 {
		return nil
	}
	start := time.Now()
	err := runcmd.Run(ctx, runcmd.Command{Path: path, Args: e.Args, Env: e.Env, Timeout: ScriptTimeout,
		Line: func(line string) { log.Info(path+": "+line, "uplink", e.Uplink) }})
	if err != nil {
		return err
	}
	log.Info("ran "+path, "uplink", e.Uplink, "took", time.Since(start).Round(time.Millisecond))
	return nil
}
