package daemon

import (
	"context"

	"github.com/pathpin/pathpin/dhcp"
	"github.com/pathpin/pathpin/hooks"
	"github.com/pathpin/pathpin/internal/health"
	"github.com/pathpin/pathpin/uplink"
	"github.com/pathpin/pathpin/vlan"
)

// eventKind says what an event reports.
type eventKind int

const (
	evPPP         eventKind = iota // PPP state: reason, InService for ip-up
	evLink                         // carrier or link presence changed
	evProbe                        // a probe round finished
	evReapply                      // an address or a route pathpin depends on changed
	evVLAN                         // a PPPoE task asks for its VLAN link
	evDHCP                         // a DHCP uplink's lease changed
	evExec                         // pathpin exec starts or ends a command
	evResume                       // pathpin resume lets an uplink back
	evCap                          // an uplink reached its data cap, or its period began again
	evColdStopped                  // a cold standby's dial or lease has ended
)

// event is one input to the applier.
type event struct {
	kind   eventKind
	uplink string
	reason uplink.Reason // evPPP, evLink: why it is down; InService when up
	round  health.Round
	// evVLAN: the link to ensure, and where the answer goes (buffered, so
	// the applier never waits for the asker).
	vlan  vlan.Spec
	reply chan error
	// ppp is pppd's ip-up or ip-down behind an evPPP from the hook.
	ppp *hooks.Event
	// exec is pathpin exec's request behind an evExec.
	exec *hooks.Event
	// dhcp is the lease change behind an evDHCP, and dhcpFrom the client
	// task that saw it: one a reload has since stopped speaks no more.
	dhcp     *dhcp.Event
	dhcpFrom *dhcpTask
	// routeGone is the key (uplink.Route.Key) of a route removed from
	// one of pathpin's tables, behind an evReapply.
	routeGone string
	// capReason is why an evCap's uplink is capped; empty: no longer.
	capReason string
	// metered: an evProbe's round was a metered budget's.
	metered bool
	// servedBy is the weighted uplink in service that let an
	// evColdStopped's standby go.
	servedBy string
}

// send queues ev for the applier. It gives way, returning false, when ctx
// ends or the applier has stopped, so that no sender ever blocks a
// shutdown, and no goroutine the applier waits for waits on the applier.
func (d *Daemon) send(ctx context.Context, ev event) bool {
	select {
	case d.events <- ev:
		return true
	case <-ctx.Done():
		return false
	case <-d.stopped:
		return false
	}
}

// ask sends a request and waits for the applier's answer, giving way like
// send does.
func (d *Daemon) ask(ctx context.Context, ev event) error {
	ev.reply = make(chan error, 1)
	if !d.send(ctx, ev) {
		return context.Canceled
	}
	select {
	case err := <-ev.reply:
		return err
	case <-ctx.Done():
		return ctx.Err()
	case <-d.stopped:
		return context.Canceled
	}
}
