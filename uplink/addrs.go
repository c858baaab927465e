package uplink

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"slices"

	"github.com/pathpin/pathpin/internal/atomicfile"
	"github.com/pathpin/pathpin/internal/config"
	"github.com/pathpin/pathpin/internal/statedir"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// LinkAddr is an address pathpin puts on an interface: a DHCP lease's.
type LinkAddr struct {
	Dev    string
	Prefix netip.Prefix
}

// String renders the address as `ip address` is given it.
func (a LinkAddr) String() string { return a.Prefix.String() + " dev " + a.Dev }

// addrRecord lists the addresses pathpin put on interfaces: pathpin owns
// those and no others, so that down removes exactly them. An address is
// recorded before it is added and forgotten after it is removed.
type addrRecord struct {
	path string
}

func (e *Engine) addrRecord() addrRecord {
	return addrRecord{path: statedir.Dirs{State: e.StateDir}.AddrRecord()}
}

func (r addrRecord) load() ([]LinkAddr, error) {
	var out []LinkAddr
	if _, err := atomicfile.ReadJSON(r.path, &out); err != nil {
		return nil, fmt.Errorf("%w (delete it if pathpin is down)", err)
	}
	return out, nil
}

func (r addrRecord) save(list []LinkAddr) error {
	if len(list) == 0 {
		return atomicfile.Remove(r.path)
	}
	return atomicfile.WriteJSON(r.path, list, 0o644)
}

// add and remove keep the record in step with one change.
func (r addrRecord) add(a LinkAddr) error {
	list, err := r.load()
	if err != nil || slices.Contains(list, a) {
		return err
	}
	return r.save(append(list, a))
}

func (r addrRecord) remove(a LinkAddr) error {
	list, err := r.load()
	if err != nil {
		return err
	}
	return r.save(slices.DeleteFunc(list, func(x LinkAddr) bool { return x == a }))
}

// desiredAddrs are the leases' addresses on their interfaces (those that
// exist: an unplugged interface took its address with it).
func desiredAddrs(cfg *config.Config, facts *Facts) []LinkAddr {
	var out []LinkAddr
	for _, u := range cfg.Uplinks {
		if l, ok := facts.Leases[u.Name]; ok && facts.index[u.Interface] != 0 {
			out = append(out, LinkAddr{Dev: u.Interface, Prefix: l.Addr})
		}
	}
	return out
}

// readAddrs returns the addresses on interfaces that are pathpin's: those
// in the record, and those it wants (a wanted address already there needs
// no change). It reads nothing when neither list names any.
func readAddrs(nl Netlink, owned, wanted []LinkAddr, names map[int]string) ([]LinkAddr, error) {
	if len(owned)+len(wanted) == 0 {
		return nil, nil
	}
	addrs, err := nl.AddrList(nil, netlink.FAMILY_V4)
	if err != nil {
		return nil, fmt.Errorf("listing addresses: %w", err)
	}
	var out []LinkAddr
	for _, ad := range addrs {
		p, ok := prefixOf(ad.IPNet)
		if !ok {
			continue
		}
		a := LinkAddr{Dev: names[ad.LinkIndex], Prefix: p}
		if slices.Contains(owned, a) || slices.Contains(wanted, a) {
			out = append(out, a)
		}
	}
	return out, nil
}

func toNetlinkAddr(a LinkAddr) *netlink.Addr {
	return &netlink.Addr{IPNet: &net.IPNet{IP: a.Prefix.Addr().AsSlice(), Mask: net.CIDRMask(a.Prefix.Bits(), 32)}}
}

// addAddr records and adds an address; undo removes it again.
func (e *Engine) addAddr(a LinkAddr, undo *undoStack) error {
	rec := e.addrRecord()
	if err := rec.add(a); err != nil {
		return err
	}
	link, err := e.NL.LinkByName(a.Dev)
	if err == nil {
		err = e.NL.AddrAdd(link, toNetlinkAddr(a))
	}
	if err != nil {
		_ = rec.remove(a)
		return fmt.Errorf("adding address %s: %w", a, err)
	}
	*undo = append(*undo, func() error { return e.delAddr(a, &undoStack{}) })
	return nil
}

// delAddr removes an address and forgets it; undo puts it back. An
// address whose interface has gone went with it.
func (e *Engine) delAddr(a LinkAddr, undo *undoStack) error {
	link, err := e.NL.LinkByName(a.Dev)
	if err == nil {
		if err = e.NL.AddrDel(link, toNetlinkAddr(a)); errors.Is(err, unix.EADDRNOTAVAIL) {
			err = nil
		}
	} else if errors.As(err, new(netlink.LinkNotFoundError)) {
		err = nil
	}
	if err != nil {
		return fmt.Errorf("removing address %s: %w", a, err)
	}
	if err := e.addrRecord().remove(a); err != nil {
		return err
	}
	*undo = append(*undo, func() error { return e.addAddr(a, &undoStack{}) })
	return nil
}
