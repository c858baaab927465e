package pppd

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"

	"github.com/pathpin/pathpin/internal/atomicfile"
	"github.com/pathpin/pathpin/internal/statedir"
	"github.com/pathpin/pathpin/pppoe"
)

// Store keeps the current PPPoE session of each uplink on disk, so that
// after a crash or power cut the next start can close it with a PADT (an
// ISP may refuse a new login while it holds the old session). Keep it on
// storage that survives a reboot, e.g. /var/lib/pathpin.
type Store struct{ Dir string }

func (s Store) path(uplink string) string { return statedir.Dirs{Lib: s.Dir}.Session(uplink) }

// Save records the session atomically.
func (s Store) Save(uplink string, sess *pppoe.Session) error {
	b, err := json.Marshal(storedSession{Interface: sess.Interface, ACMAC: sess.ACMAC.String(), ID: sess.ID, ACName: sess.ACName})
	if err != nil {
		return err
	}
	if err := atomicfile.Write(s.path(uplink), b, 0o644); err != nil {
		return fmt.Errorf("pppd: saving session: %w", err)
	}
	return nil
}

// Load returns the recorded session, or nil when there is none.
func (s Store) Load(uplink string) (*pppoe.Session, error) {
	b, err := os.ReadFile(s.path(uplink))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("pppd: reading session: %w", err)
	}
	var st storedSession
	if err := json.Unmarshal(b, &st); err != nil {
		return nil, fmt.Errorf("pppd: %s is damaged (%w); delete it", s.path(uplink), err)
	}
	mac, err := pppoe.ParseUnicastMAC(st.ACMAC)
	if err != nil {
		return nil, fmt.Errorf("pppd: %s: %w", s.path(uplink), err)
	}
	return &pppoe.Session{Interface: st.Interface, ACMAC: mac, ID: st.ID, ACName: st.ACName}, nil
}

// Clear forgets the session.
func (s Store) Clear(uplink string) error {
	if err := os.Remove(s.path(uplink)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("pppd: clearing session: %w", err)
	}
	return nil
}

type storedSession struct {
	Interface string `json:"interface"`
	ACMAC     string `json:"ac_mac"`
	ID        uint16 `json:"session_id"`
	ACName    string `json:"ac_name"`
}
