package dhcp

import (
	"fmt"

	"github.com/pathpin/pathpin/internal/atomicfile"
	"github.com/pathpin/pathpin/internal/statedir"
)

// Store keeps each uplink's lease in a directory (pathpin's --lib-dir), so
// that a restart asks for the same address again (INIT-REBOOT).
type Store struct {
	Dir string
}

func (s Store) path(uplink string) string { return statedir.Dirs{Lib: s.Dir}.Lease(uplink) }

// Load returns the uplink's stored lease, or nil when there is none. A
// file that does not read is treated as none (the client starts afresh).
func (s Store) Load(uplink string) (*Lease, error) {
	var l Lease
	found, err := atomicfile.ReadJSON(s.path(uplink), &l)
	if !found || err != nil || !l.Address.IsValid() {
		return nil, nil
	}
	return &l, nil
}

// Save stores the lease, or removes the stored one when l is nil.
func (s Store) Save(uplink string, l *Lease) error {
	if l == nil {
		return atomicfile.Remove(s.path(uplink))
	}
	if err := atomicfile.WriteJSON(s.path(uplink), l, 0o644); err != nil {
		return fmt.Errorf("storing the DHCP lease: %w", err)
	}
	return nil
}
