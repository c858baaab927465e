// Package dhcp is pathpin's DHCPv4 client for DHCP uplinks. The packets
// are github.com/insomniacslk/dhcp's, sent and received on the uplink's
// interface through a raw socket (dhcpv4/nclient4) before it has an
// address; the lease state machine (RFC 2131: INIT, SELECTING, REQUESTING,
// INIT-REBOOT, BOUND, RENEWING, REBINDING) is pathpin's own, in Machine,
// which takes packets and timer firings and says what to send, when to
// wake next and how the lease changed. Client runs a Machine on a real
// socket and clock; it never changes the kernel: the daemon's applier puts
// the lease's address and routes in place.
package dhcp
