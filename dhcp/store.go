package dhcp

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/pathpin/pathpin/internal/atomicfile"
)

// Store keeps each uplink's lease in a directory (pathpin's --lib-dir), so
// that a restart asks for the same address again (INIT-REBOOT).
type Store struct {
	Dir string
}

func (s Store) path(uplink string) string { return filepath.Join(s.Dir, "dhcp-"+uplink+".json") }

// Load returns the uplink's stored lease, or nil when there is none. A
// file that does not read is treated as none (the client starts afresh).
func (s Store) Load(uplink string) (*Lease, error) {
	b, err := os.ReadFile(s.path(uplink))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("reading the stored DHCP lease: %w", err)
	}
	var l Lease
	if json.Unmarshal(b, &l) != nil || !l.Address.IsValid() {
		return nil, nil
	}
	return &l, nil
}

// Save stores the lease, or removes the stored one when l is nil.
func (s Store) Save(uplink string, l *Lease) error {
	if l == nil {
		if err := os.Remove(s.path(uplink)); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("removing the stored DHCP lease: %w", err)
		}
		return nil
	}
	b, err := json.MarshalIndent(l, "", "  ")
	if err != nil {
		return err
	}
	if err := os.MkdirAll(s.Dir, 0o755); err != nil {
		return fmt.Errorf("storing the DHCP lease: %w", err)
	}
	if err := atomicfile.Write(s.path(uplink), append(b, '\n'), 0o644); err != nil {
		return fmt.Errorf("storing the DHCP lease: %w", err)
	}
	return nil
}
