package daemon

import (
	"context"
	"net/netip"
)

// healthOwner owns the uplinks' probing: the probe loops of the running
// configuration, which it restarts with a new one. The state machines the
// rounds feed sit in each uplink's state beside PPP's and DHCP's reasons,
// under the daemon's lock: the holds are decided from all three at once.
type healthOwner struct {
	probes *probeSet
}

// start stops the loops of the last configuration, if any, and starts one
// per uplink of the current configuration that has targets.
func (h *healthOwner) start(ctx context.Context, d *Daemon) {
	h.probes.stop()
	h.probes = d.startProbes(ctx)
}

// stop ends the loops and waits for them.
func (h *healthOwner) stop() { h.probes.stop() }

// kernelOwner holds what the applier (the one writer of kernel state)
// keeps besides the engine: the record of the VLAN links it made, the
// conntrack flusher that deletes connections off its path, the routes its
// last apply deleted (their deletion reports are its own), and the
// addresses a DHCP lease moved from, whose connections go once the new one
// is in place.
type kernelOwner struct {
	vlans      *vlanRecord
	flush      *flusher
	ownDeletes map[string]bool
	flushAddrs []netip.Addr
	// moveBack are standby uplinks whose connections go once the apply
	// that put a move-back uplink back in service is in.
	moveBack []string
}
