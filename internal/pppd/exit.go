package pppd

import "fmt"

// exitReasons are pppd's exit statuses in the words a person acts on
// (pppd(8), EXIT STATUS).
var exitReasons = map[int]string{
	0:  "pppd ended the session (the peer asked)",
	1:  "pppd hit a fatal error (see its log above)",
	2:  "pppd rejected its options: report this as a pathpin bug, with the log",
	3:  "pppd must run as root",
	4:  "the kernel has no PPP support: load ppp_generic and pppoe (modprobe pppoe)",
	5:  "pppd was stopped",
	6:  "pppd could not lock the device",
	7:  "pppd could not open the device",
	8:  "pppd's connect script failed",
	9:  "pppd could not run its pty command",
	10: "PPP negotiation failed (LCP/IPCP never completed)",
	11: "the peer failed to authenticate itself",
	12: "the link was idle and pppd closed it",
	13: "the connect-time limit was reached",
	14: "callback was negotiated",
	15: "the peer stopped answering LCP echo requests",
	16: "the peer hung up (LCP terminate or PADT from the ISP)",
	17: "a serial loopback was detected",
	18: "pppd's init script failed",
	19: "authentication failed: check username and password-file",
}

// ExitAuthFailed is pppd's status when the ISP rejected the login.
const ExitAuthFailed = 19

// Reason says in words why pppd ended, with its status.
func (r Result) Reason() string {
	if r.Code < 0 {
		return "pppd was killed"
	}
	text, ok := exitReasons[r.Code]
	if !ok {
		text = "pppd exited"
	}
	return fmt.Sprintf("%s (pppd exit %d)", text, r.Code)
}

// NeedsAPerson reports an ending that redialling cannot fix by itself:
// a rejected login, or a host that cannot run PPP. Such an uplink redials
// no faster than the back-off's maximum, so that an ISP does not lock the
// account out for hammering it.
func (r Result) NeedsAPerson() bool {
	switch r.Code {
	case 2, 3, 4, ExitAuthFailed:
		return true
	}
	return false
}
