package uplink

// Cause is why an uplink takes no new connections. The zero value, InService,
// means it takes them.
type Cause uint8

// The causes, from the kernel's facts first, then from pathpin's own view.
const (
	InService Cause = iota
	// NoInterface: the uplink's interface does not exist (unplugged, or a
	// PPP link that is not up).
	NoInterface
	// NoCarrier: the interface is down or has no carrier.
	NoCarrier
	// NoAddress: the interface has no usable address yet.
	NoAddress
	// PPPDown: pppd is connecting, said ip-down, or exited.
	PPPDown
	// HealthDown: the uplink's probes or link events took it down.
	HealthDown
	// Refused: the kernel refused the uplink's state (its routes); its
	// table holds only an unreachable default until the next change.
	Refused
)

var causeNames = [...]string{"in service", "no interface", "no carrier", "no address", "PPP down", "health down", "refused by the kernel"}

func (c Cause) String() string {
	if int(c) < len(causeNames) {
		return causeNames[c]
	}
	return "unknown"
}

// Reason is the one answer to "is this uplink up, and why not": a cause
// and the detail a person reads.
type Reason struct {
	Cause  Cause
	Detail string
}

// Down returns a reason that takes an uplink out of service.
func Down(c Cause, detail string) Reason { return Reason{Cause: c, Detail: detail} }

// InService reports whether the uplink takes new connections.
func (r Reason) InService() bool { return r.Cause == InService }

// String is the detail, or the cause when there is none.
func (r Reason) String() string {
	if r.Detail != "" {
		return r.Detail
	}
	return r.Cause.String()
}

// Holds are uplinks that something other than the kernel's facts (PPP
// state, health) holds out of service, by name. An uplink not in it is
// up as far as that source knows.
type Holds map[string]Reason

// UplinkError is a change the kernel refused in one uplink's routing
// table. Apply takes that uplink out of service (Refused) and applies the
// others without it.
type UplinkError struct {
	Table int
	Err   error
}

func (e *UplinkError) Error() string { return e.Err.Error() }

func (e *UplinkError) Unwrap() error { return e.Err }
