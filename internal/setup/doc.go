// Package setup is `pathpin init`: it finds the PPPoE line (untagged and
// on VLANs), proposes the static uplink and the LAN from the host's own
// state, turns an old pppoeconf set-up into pathpin's configuration, and
// reports what else on the host manages the same links, routes and rules.
// It changes nothing it did not make: a link it brought up is put back
// down, a VLAN it made for a probe is removed.
package setup
