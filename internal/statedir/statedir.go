// Package statedir owns every path pathpin keeps files at: what lives as
// long as the kernel state pathpin made, under --state-dir (default
// /run/pathpin), and what must survive a reboot, under --lib-dir (default
// /var/lib/pathpin). No other package joins these paths itself.
package statedir

import "path/filepath"

// Dirs are pathpin's two directories.
type Dirs struct {
	// State holds the lock, the sockets, the hook links, pppd's options
	// and the records of what pathpin changed (sysctls, addresses, VLANs).
	State string
	// Lib holds the PPPoE sessions and DHCP leases, so that a restart can
	// close a stale session and ask for the same address again.
	Lib string
}

// Lock is the one lock of the commands that change kernel state.
func (d Dirs) Lock() string { return filepath.Join(d.State, "lock") }

// HookSocket is where the daemon takes pppd's hook events.
func (d Dirs) HookSocket() string { return filepath.Join(d.State, "pathpin.sock") }

// StatusSocket is where the daemon answers `pathpin status`.
func (d Dirs) StatusSocket() string { return filepath.Join(d.State, "status.sock") }

// HookDir holds the ip-up and ip-down links to pathpin that pppd runs.
func (d Dirs) HookDir() string { return filepath.Join(d.State, "hooks") }

// VLANRecord lists the VLAN links pathpin made.
func (d Dirs) VLANRecord() string { return filepath.Join(d.State, "vlans") }

// SysctlRecord holds the settings pathpin changed, with the values it found.
func (d Dirs) SysctlRecord() string { return filepath.Join(d.State, "sysctl.json") }

// AddrRecord lists the addresses pathpin put on interfaces (DHCP leases').
func (d Dirs) AddrRecord() string { return filepath.Join(d.State, "addresses.json") }

// Resolv is where a DHCP uplink's DNS servers are written for a LAN DNS
// forwarder ("*" gives the pattern of them all).
func (d Dirs) Resolv(uplink string) string { return filepath.Join(d.State, "resolv.conf."+uplink) }

// PPPOptions is the pppd options file of a PPPoE uplink ("*": all).
func (d Dirs) PPPOptions(uplink string) string {
	return filepath.Join(d.State, "ppp-"+uplink+".options")
}

// Session is where a PPPoE uplink's session is kept across a reboot.
func (d Dirs) Session(uplink string) string { return filepath.Join(d.Lib, "session-"+uplink+".json") }

// Lease is where a DHCP uplink's lease is kept across a reboot.
func (d Dirs) Lease(uplink string) string { return filepath.Join(d.Lib, "dhcp-"+uplink+".json") }

// Usage is the data use ledger, kept across restarts (in the lib dir).
func (d Dirs) Usage() string { return filepath.Join(d.Lib, "usage.json") }

// Sticky keeps the sticky sets' sources while pathpin restarts: written
// when it stops, taken by the first apply that makes the sets again.
func (d Dirs) Sticky() string { return filepath.Join(d.State, "sticky.json") }
