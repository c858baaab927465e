package daemon

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"slices"
	"strings"
	"sync"

	"github.com/pathpin/pathpin/internal/atomicfile"
	"github.com/vishvananda/netlink"
)

// vlanRecord lists the VLAN links pathpin created, so that stopping (or
// `pathpin down`) removes them and nothing else.
type vlanRecord struct {
	mu   sync.Mutex
	path string
}

// loadVLANs reads the recorded names.
func loadVLANs(path string) ([]string, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return strings.Fields(string(b)), nil
}

func (r *vlanRecord) add(name string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	names, err := loadVLANs(r.path)
	if err != nil {
		return err
	}
	if slices.Contains(names, name) {
		return nil
	}
	return atomicfile.Write(r.path, []byte(strings.Join(append(names, name), "\n")+"\n"), 0o644)
}

func (r *vlanRecord) removeAll(nl VLANDeleter) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	return RemoveVLANs(r.path, nl)
}

// RemoveVLANs deletes the VLAN links recorded in path, then the record.
func RemoveVLANs(path string, nl VLANDeleter) error {
	names, err := loadVLANs(path)
	if err != nil {
		return err
	}
	var errs []error
	for _, name := range names {
		l, err := nl.LinkByName(name)
		if err != nil {
			continue // already gone
		}
		if err := nl.LinkDel(l); err != nil {
			errs = append(errs, fmt.Errorf("deleting %s: %w", name, err))
		}
	}
	if len(errs) == 0 {
		_ = os.Remove(path)
	}
	return errors.Join(errs...)
}

// VLANDeleter is the part of *netlink.Handle that removes links.
type VLANDeleter interface {
	LinkByName(name string) (netlink.Link, error)
	LinkDel(link netlink.Link) error
}
