// Package pppoe implements the PPPoE discovery stage (RFC 2516, with the
// PPP-Max-Payload tag of RFC 4638): a packet codec, a discovery client that
// runs over any net.PacketConn carrying Ethernet frames, and a sender for
// PADT to close a session.
//
// The session stage is left to pppd and the kernel's PPPoE driver: the
// client hands over a Session that pppd attaches to with its pppoe plugin.
package pppoe
