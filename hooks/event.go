// Package hooks is pathpin's side of pppd's ip-up and ip-down scripts.
// pppd runs pathpin (by the name ip-up or ip-down) with its usual
// arguments; the hook validates them, hands the event to the running
// daemon over a unix socket and returns at once. With no daemon running,
// the caller applies the change itself.
package hooks

import (
	"errors"
	"fmt"
	"net/netip"
	"strconv"

	"github.com/pathpin/pathpin/internal/config"
)

// Kind is ip-up or ip-down.
type Kind string

// The two events pppd reports.
const (
	IPUp   Kind = "ip-up"
	IPDown Kind = "ip-down"
	// Exec asks the daemon to steer a command's cgroup (pathpin exec);
	// ExecDone says the command ended.
	Exec     Kind = "exec"
	ExecDone Kind = "exec-done"
	// Resume lets an uplink held out by its failback back (pathpin resume).
	Resume Kind = "resume"
)

// Event is one ip-up or ip-down from pppd.
type Event struct {
	Kind   Kind       `json:"kind"`
	Uplink string     `json:"uplink"` // pppd's ipparam
	IfName string     `json:"ifname"`
	Local  netip.Addr `json:"local"`
	Remote netip.Addr `json:"remote"`
	PID    int        `json:"pppd_pid,omitempty"`
	// Args and Env are pppd's arguments and environment as the hook got
	// them: Debian's own ip-up/ip-down script runs with them afterwards.
	Args []string `json:"args,omitempty"`
	Env  []string `json:"env,omitempty"`

	// Exec and ExecDone (pathpin exec): the command's cgroup (its path
	// below the cgroup v2 root), the uplink its connections must leave by
	// (Uplink) or the program it belongs to, and whether another uplink
	// may take them while that one is out of service.
	Cgroup   string `json:"cgroup,omitempty"`
	Program  string `json:"program,omitempty"`
	Fallback bool   `json:"fallback,omitempty"`
}

// Parse reads pppd's script arguments (interface, device, speed, local
// address, remote address, ipparam) and environment.
func Parse(kind Kind, args []string, getenv func(string) string) (Event, error) {
	if kind != IPUp && kind != IPDown {
		return Event{}, fmt.Errorf("hook: %q is neither ip-up nor ip-down", kind)
	}
	if len(args) < 6 {
		return Event{}, fmt.Errorf("hook: pppd passes 6 arguments (interface device speed local remote ipparam), got %d; is ipparam set?", len(args))
	}
	e := Event{Kind: kind, IfName: args[0], Uplink: args[5], Args: append([]string(nil), args...)}
	var err error
	if e.Local, err = netip.ParseAddr(args[3]); err != nil || !e.Local.Is4() {
		return Event{}, fmt.Errorf("hook: local address %q is not IPv4", args[3])
	}
	if e.Remote, err = netip.ParseAddr(args[4]); err != nil || !e.Remote.Is4() {
		return Event{}, fmt.Errorf("hook: remote address %q is not IPv4", args[4])
	}
	if env := getenv("IFNAME"); env != "" && env != e.IfName {
		return Event{}, fmt.Errorf("hook: IFNAME=%s disagrees with the argument %s", env, e.IfName)
	}
	if pid := getenv("PPPD_PID"); pid != "" {
		e.PID, _ = strconv.Atoi(pid)
	}
	return e, nil
}

// ErrNotOurs means the event is for a link pathpin does not manage.
var ErrNotOurs = errors.New("hook: not a pathpin uplink")

// Validate checks the event against the configuration: ipparam must name
// a PPPoE uplink, and the interface must be that uplink's.
func (e Event) Validate(cfg *config.Config) error {
	u, ok := cfg.Uplink(e.Uplink)
	if !ok || !u.IsPPPoE() {
		return fmt.Errorf("%w: ipparam %q names no PPPoE uplink in %s", ErrNotOurs, e.Uplink, cfg.Path)
	}
	if e.IfName != u.PPPoE.IfName {
		return fmt.Errorf("%w: interface %s is not uplink %s's (%s)", ErrNotOurs, e.IfName, e.Uplink, u.PPPoE.IfName)
	}
	return nil
}
