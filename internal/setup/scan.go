package setup

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"slices"
	"sort"
	"sync"
	"time"

	"github.com/pathpin/pathpin/internal/carrier"
	"github.com/pathpin/pathpin/pppoe"
	"github.com/pathpin/pathpin/vlan"
	"github.com/vishvananda/netlink"
)

// Netlink is the part of *netlink.Handle the scan and the detection use.
type Netlink interface {
	vlan.Netlink
	LinkList() ([]netlink.Link, error)
	LinkDel(link netlink.Link) error
	LinkSetDown(link netlink.Link) error
	AddrList(link netlink.Link, family int) ([]netlink.Addr, error)
	RouteListFiltered(family int, filter *netlink.Route, mask uint64) ([]netlink.Route, error)
}

var _ Netlink = (*netlink.Handle)(nil)

// DefaultVLANs are probed on every interface besides untagged: Openreach's
// FTTC/FTTP VLAN, which a bridge-mode modem or ONT leaves tagged.
var DefaultVLANs = []int{101}

// ScanOptions say where and how long to look for a PPPoE line.
type ScanOptions struct {
	// Interfaces to probe; empty probes every Ethernet link.
	Interfaces []string
	// VLANs probed on each interface, besides untagged.
	VLANs []int
	// Timeout bounds the whole scan.
	Timeout time.Duration
}

// A Line is an access concentrator that answered a PADI.
type Line struct {
	Interface string // the Ethernet link
	VLAN      int    // 0: untagged
	Offer     pppoe.Offer
}

// Where names the line's link as the kernel would: eth1 or eth1.101.
func (l Line) Where() string { return vlan.Spec{Parent: l.Interface, ID: l.VLAN}.Name() }

// ScanResult is what a scan saw.
type ScanResult struct {
	Lines []Line
	// Probed lists every link probed (eth0, eth1, eth1.101, ...).
	Probed []string
	// Notes are what the user should know (no 802.1Q, a link without
	// carrier): one line each.
	Notes []string
}

// probe is one link to send PADIs on.
type probe struct {
	iface string
	vlan  int
	link  string
}

// Scan probes every candidate link at once with PADIs and collects the
// PADOs; it never sends a PADR, so no session is opened. Links it brought
// up are put back down and VLAN links it made are removed before it
// returns, on cancellation and errors too.
func Scan(ctx context.Context, nl Netlink, opt ScanOptions, log *slog.Logger) (res *ScanResult, err error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	res = &ScanResult{}
	ctx, cancel := context.WithTimeout(ctx, opt.Timeout)
	defer cancel()
	parents, err := candidates(nl, opt)
	if err != nil {
		return nil, err
	}
	if len(parents) == 0 {
		return nil, errors.New("no Ethernet interface to probe; name one with --interface")
	}
	var undo []func() error
	defer func() {
		for i := len(undo) - 1; i >= 0; i-- {
			if uerr := undo[i](); uerr != nil {
				err = errors.Join(err, uerr)
			}
		}
	}()
	var probes []probe
	no8021Q := false
	for _, parent := range parents {
		if parent.Attrs().Flags&net.FlagUp == 0 {
			if err := nl.LinkSetUp(parent); err != nil {
				return nil, fmt.Errorf("bringing %s up for the probe: %w", parent.Attrs().Name, err)
			}
			p := parent
			undo = append(undo, func() error {
				if err := nl.LinkSetDown(p); err != nil {
					return fmt.Errorf("putting %s back down after the probe (ip link set %s down): %w", p.Attrs().Name, p.Attrs().Name, err)
				}
				return nil
			})
		}
		name := parent.Attrs().Name
		probes = append(probes, probe{iface: name, link: name})
		for _, id := range opt.VLANs {
			if no8021Q {
				break
			}
			link, made, err := probeVLAN(nl, parent, id)
			if errors.Is(err, vlan.ErrNo8021Q) {
				no8021Q = true
				res.Notes = append(res.Notes, "no VLANs probed: "+vlan.ErrNo8021Q.Error())
				break
			}
			if err != nil {
				return nil, err
			}
			if made != nil {
				undo = append(undo, func() error {
					if err := nl.LinkDel(made); err != nil {
						return fmt.Errorf("removing the probe's VLAN link %s (ip link del %s): %w", made.Attrs().Name, made.Attrs().Name, err)
					}
					return nil
				})
			}
			probes = append(probes, probe{iface: name, vlan: id, link: link})
		}
	}
	var mu sync.Mutex
	var wg sync.WaitGroup
	for _, p := range probes {
		res.Probed = append(res.Probed, p.link)
		wg.Add(1)
		go func() {
			defer wg.Done()
			offers, note := offersOn(ctx, p.link, log)
			mu.Lock()
			defer mu.Unlock()
			if note != "" {
				res.Notes = append(res.Notes, note)
			}
			for _, o := range offers {
				res.Lines = append(res.Lines, Line{Interface: p.iface, VLAN: p.vlan, Offer: o})
			}
		}()
	}
	wg.Wait()
	sort.Slice(res.Lines, func(i, j int) bool { return res.Lines[i].Where() < res.Lines[j].Where() })
	sort.Strings(res.Notes)
	if err := context.Cause(ctx); err != nil && !errors.Is(err, context.DeadlineExceeded) {
		return res, err
	}
	return res, nil
}

// candidates are the Ethernet links to probe: physical NICs and veths,
// never loopback, VLANs (pathpin's own among them), bridges, bonds,
// tunnels or PPP links.
func candidates(nl Netlink, opt ScanOptions) ([]netlink.Link, error) {
	links, err := nl.LinkList()
	if err != nil {
		return nil, fmt.Errorf("listing links: %w", err)
	}
	var out []netlink.Link
	if len(opt.Interfaces) > 0 {
		for _, name := range opt.Interfaces {
			i := slices.IndexFunc(links, func(l netlink.Link) bool { return l.Attrs().Name == name })
			if i < 0 {
				return nil, fmt.Errorf("--interface %s: no such interface (check the name with `ip link`)", name)
			}
			if !isEthernet(links[i]) {
				return nil, fmt.Errorf("--interface %s: not an Ethernet interface (it is a %s link); name the NIC facing the modem", name, links[i].Type())
			}
			out = append(out, links[i])
		}
		return out, nil
	}
	for _, l := range links {
		if isEthernet(l) {
			out = append(out, l)
		}
	}
	return out, nil
}

func isEthernet(l netlink.Link) bool {
	a := l.Attrs()
	if a.Flags&net.FlagLoopback != 0 || len(a.HardwareAddr) != 6 {
		return false
	}
	switch l.Type() {
	case "device", "veth":
		return true
	}
	return false
}

// probeVLAN returns the link for VLAN id on parent: an existing one of
// that name and tag is used as it is; otherwise one is made (and
// returned, for removal).
func probeVLAN(nl Netlink, parent netlink.Link, id int) (string, netlink.Link, error) {
	spec := vlan.Spec{Parent: parent.Attrs().Name, ID: id}
	existing, err := vlan.Find(nl, parent, spec)
	if err != nil {
		return "", nil, fmt.Errorf("%w, or probe other interfaces (--interface)", err)
	}
	if existing != nil {
		return spec.Name(), nil, nil
	}
	made, err := vlan.Create(nl, parent, spec)
	if err != nil {
		return "", nil, err
	}
	if err := nl.LinkSetUp(made); err != nil {
		_ = nl.LinkDel(made)
		return "", nil, fmt.Errorf("bringing %s up for the probe: %w", spec.Name(), err)
	}
	return spec.Name(), made, nil
}

// offersOn sends PADIs on link until ctx ends, waiting for carrier first,
// and returns every offer seen. A link that cannot be probed gives a note.
func offersOn(ctx context.Context, link string, log *slog.Logger) ([]pppoe.Offer, string) {
	if err := carrier.Wait(ctx, link, nil); err != nil {
		return nil, fmt.Sprintf("%s: no carrier (is a cable plugged in?)", link)
	}
	conn, hw, err := pppoe.Listen(link)
	if err != nil {
		return nil, err.Error()
	}
	defer conn.Close()
	// Asking for 1500 makes an AC that supports RFC 4638 say so.
	cfg := pppoe.Config{MTU: 1500, InitialTimeout: 250 * time.Millisecond, Attempts: 16}
	offers, err := pppoe.NewClient(conn, link, hw, cfg, log).Offers(ctx, false)
	if err != nil {
		return nil, ""
	}
	return offers, ""
}
