// Package dnswatch reads the IPv4 addresses out of the DNS responses that
// pass through the router, so that connections can be steered by domain
// name: ParsePacket takes one queued packet apart, Domains says which
// policies name the domains an answer leads through, and Queue holds each
// response in an nfqueue while it is read, then lets it go unchanged.
//
// Everything read here comes from the network and is not trusted: every
// loop and every result is bounded, malformed input is an error (never a
// panic), and a response is always passed on, whatever it holds.
package dnswatch
