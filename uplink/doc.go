// Package uplink is pathpin's engine: it turns the configuration and what
// the kernel shows about each uplink into the routing tables, ip rules,
// iptables chains and sysctls that pin every connection to one uplink, and
// applies them declaratively and idempotently.
//
// Apply computes the desired state, reads the live state of everything
// pathpin owns (its tables, its rule priorities, its PATHPIN-* chains and
// the single jump into each), adds what is missing before it deletes what
// is extra, then reads back and verifies. Nothing pathpin does not own is
// ever changed.
package uplink
