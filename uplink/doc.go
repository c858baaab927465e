// Package uplink is pathpin's engine: it turns the configuration and what
// the kernel shows about each uplink into the routing tables, ip rules,
// nftables table and sysctls that pin every connection to one uplink, and
// applies them declaratively and idempotently.
//
// Apply reads the kernel once into a Snapshot, computes the desired state
// from its Input and the snapshot, diffs the two with every kernel object
// keyed as the kernel keys it, adds what is missing before it deletes what
// is extra, then reads back and verifies. Nothing pathpin does not own is
// ever changed: its routing tables, its rule priorities, its own table ip
// pathpin, and the settings it records.
package uplink
