package uplink

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"net/netip"
	"os"
	"slices"
	"strconv"
	"strings"
)

// listening lists the router's TCP listeners and UDP sockets that the
// uplinks' side can reach: bound to any address (IPv6's [::] too, which
// takes IPv4 unless the socket is v6-only), or to one of addrs (the
// uplinks' own), as "tcp 0.0.0.0:22". It reads /proc/net/tcp, udp, tcp6
// and udp6 of the network namespace it runs in.
func listening(addrs []netip.Addr) []string {
	var out []string
	for _, p := range []struct {
		proto, file, state string
	}{{"tcp", "/proc/net/tcp", "0A"}, {"udp", "/proc/net/udp", "07"}, {"tcp", "/proc/net/tcp6", "0A"}, {"udp", "/proc/net/udp6", "07"}} {
		f, err := os.Open(p.file)
		if err != nil {
			continue
		}
		s := bufio.NewScanner(f)
		s.Scan() // the header
		for s.Scan() {
			fields := strings.Fields(s.Text())
			if len(fields) < 4 || fields[3] != p.state {
				continue
			}
			if a, port, ok := strings.Cut(fields[1], ":"); ok && len(a) == 32 {
				// IPv6: only the wildcard reaches IPv4 clients.
				if strings.Trim(a, "0") == "" {
					if n, err := strconv.ParseUint(port, 16, 16); err == nil {
						out = append(out, fmt.Sprintf("%s [::]:%d", p.proto, n))
					}
				}
				continue
			}
			addr, port, ok := procAddr(fields[1])
			if !ok || !(addr.IsUnspecified() || slices.Contains(addrs, addr)) {
				continue
			}
			out = append(out, fmt.Sprintf("%s %s:%d", p.proto, addr, port))
		}
		f.Close()
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// procAddr reads /proc/net's "0100007F:0016": the address as the kernel
// prints a network-order word read in the host's order, the port in hex.
func procAddr(s string) (netip.Addr, uint16, bool) {
	a, p, ok := strings.Cut(s, ":")
	if !ok || len(a) != 8 {
		return netip.Addr{}, 0, false
	}
	v, err := strconv.ParseUint(a, 16, 32)
	if err != nil {
		return netip.Addr{}, 0, false
	}
	port, err := strconv.ParseUint(p, 16, 16)
	if err != nil {
		return netip.Addr{}, 0, false
	}
	var ip [4]byte
	binary.NativeEndian.PutUint32(ip[:], uint32(v))
	return netip.AddrFrom4(ip), uint16(port), true
}
