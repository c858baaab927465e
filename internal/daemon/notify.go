package daemon

import (
	"time"

	"github.com/coreos/go-systemd/v22/daemon"
)

// Notifier tells the service manager how pathpin is doing.
type Notifier interface {
	// Notify sends one sd_notify state, e.g. "READY=1" or "STATUS=...".
	Notify(state string)
	// WatchdogInterval is how often to ping WATCHDOG=1; 0 when off.
	WatchdogInterval() time.Duration
}

// Systemd notifies through $NOTIFY_SOCKET; without it, it does nothing.
type Systemd struct{}

// Notify sends state to systemd, ignoring the absence of a manager.
func (Systemd) Notify(state string) { _, _ = daemon.SdNotify(false, state) }

// WatchdogInterval returns half of WatchdogSec, or 0 when it is not set.
func (Systemd) WatchdogInterval() time.Duration {
	d, err := daemon.SdWatchdogEnabled(false)
	if err != nil || d == 0 {
		return 0
	}
	return d / 2
}

// nopNotifier tells nobody: the daemon run outside a service manager.
type nopNotifier struct{}

func (nopNotifier) Notify(string)                   {}
func (nopNotifier) WatchdogInterval() time.Duration { return 0 }
