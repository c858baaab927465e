// Package pppd runs pppd on a PPPoE session pathpin discovered: it writes
// the options file (mode 0600, the only place the password goes), starts
// pppd in the foreground, relays its log, stops it, and keeps the session
// on disk so that a crash or power cut can be cleaned up with a PADT.
package pppd

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/pathpin/pathpin/internal/atomicfile"
	"github.com/pathpin/pathpin/internal/statedir"
	"github.com/pathpin/pathpin/pppoe"
)

// Options is what pathpin tells pppd for one session.
type Options struct {
	Uplink   string        // becomes ipparam and linkname pathpin-<uplink>
	Session  pppoe.Session // the discovered session pppd attaches to
	Username string
	Password string
	IfName   string // the PPP interface, e.g. ppp1
	MTU      int    // PPP MTU (and MRU)
	// LCPEchoInterval and LCPEchoFailure: 0 turns echoes off.
	LCPEchoInterval, LCPEchoFailure int
	// IPUpScript and IPDownScript are run by pppd with its usual arguments.
	IPUpScript, IPDownScript string
	// Env is set for the scripts with pppd's `set` option.
	Env map[string]string
	// Plugin is the pppoe plugin, e.g. pppoe.so.
	Plugin string
	// SessionOption is the plugin's option for attaching to a session:
	// pppoe-sess, or rp_pppoe_sess on plugins that lack the newer name.
	SessionOption string
}

// Render returns the options file's text.
func (o *Options) Render() string {
	lines := []string{
		"# Written by pathpin for uplink " + o.Uplink + "; do not edit.",
		"plugin " + o.Plugin,
		"nic-" + o.Session.Interface,
		o.SessionOption + " " + o.Session.String(),
		"user " + quote(o.Username),
		"password " + quote(o.Password),
		"ifname " + o.IfName,
		"ipparam " + o.Uplink,
		"linkname pathpin-" + o.Uplink,
		"nodetach",
		"logfd 2",
		// Debian's /etc/ppp/options applies to every pppd: its auth is
		// undone here, its lcp-echo-interval below. Its tty options (lock,
		// modem, crtscts) do not apply to the PPPoE channel, and pppd
		// refuses them once nic- has chosen it.
		"noauth",
		// pathpin does not handle IPv6 yet: no IPV6CP.
		"noipv6",
		"noipdefault",
		"nodefaultroute",
		"maxfail 1",
		fmt.Sprintf("mtu %d", o.MTU),
		fmt.Sprintf("mru %d", o.MTU),
		fmt.Sprintf("lcp-echo-interval %d", o.LCPEchoInterval),
		fmt.Sprintf("lcp-echo-failure %d", o.LCPEchoFailure),
		"ip-up-script " + o.IPUpScript,
		"ip-down-script " + o.IPDownScript,
	}
	keys := make([]string, 0, len(o.Env))
	for k := range o.Env {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		lines = append(lines, "set "+quote(k+"="+o.Env[k]))
	}
	return strings.Join(lines, "\n") + "\n"
}

// quote writes s as a pppd options-file word: in double quotes, with
// backslash escapes for \ and ".
func quote(s string) string {
	r := strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`)
	return `"` + r.Replace(s) + `"`
}

// Write writes the options file into the state directory dir with mode
// 0600, atomically, and returns its path.
func (o *Options) Write(dir string) (string, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", fmt.Errorf("pppd: creating %s: %w", dir, err)
	}
	path := statedir.Dirs{State: dir}.PPPOptions(o.Uplink)
	if err := atomicfile.Write(path, []byte(o.Render()), 0o600); err != nil {
		return "", fmt.Errorf("pppd: writing options: %w", err)
	}
	return path, nil
}

// DetectPlugin finds pppd's PPPoE plugin and its session option. dir is
// pppd's plugin directory (e.g. /usr/lib/pppd/2.4.9).
func DetectPlugin(dir string) (plugin, sessionOption string, err error) {
	for _, name := range []string{"pppoe.so", "rp-pppoe.so"} {
		b, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			continue
		}
		if strings.Contains(string(b), "pppoe-sess") {
			return name, "pppoe-sess", nil
		}
		return name, "rp_pppoe_sess", nil
	}
	return "", "", fmt.Errorf("pppd: no PPPoE plugin in %s; install Debian's ppp package", dir)
}

// PluginDir returns pppd's plugin directory for the installed pppd.
func PluginDir() (string, error) {
	matches, _ := filepath.Glob("/usr/lib/pppd/*/pppoe.so")
	if len(matches) == 0 {
		matches, _ = filepath.Glob("/usr/lib/pppd/*/rp-pppoe.so")
	}
	if len(matches) == 0 {
		return "", fmt.Errorf("pppd: no PPPoE plugin under /usr/lib/pppd; install Debian's ppp package")
	}
	sort.Strings(matches)
	return filepath.Dir(matches[len(matches)-1]), nil
}
