package uplink

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"

	"github.com/pathpin/pathpin/internal/atomicfile"
)

// Sysctls reads and writes kernel settings by their /proc/sys path
// ("net/ipv4/ip_forward").
type Sysctls interface {
	Get(key string) (string, error)
	Set(key, value string) error
}

// ProcSys is the real /proc/sys. Network settings are those of the
// namespace the process runs in when a setting is first read: a setting's
// file stays open, and each read is one pread, until it fails (its device
// went away) and the file is opened again.
type ProcSys struct {
	mu    sync.Mutex
	files map[string]*os.File
}

// NewProcSys returns a ProcSys.
func NewProcSys() *ProcSys { return &ProcSys{} }

// Get reads a setting; a missing one reads as "".
func (p *ProcSys) Get(key string) (string, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if f, ok := p.files[key]; ok {
		if v, ok := readOpen(f); ok {
			return v, nil
		}
		f.Close()
		delete(p.files, key)
	}
	f, err := os.Open(filepath.Join("/proc/sys", key))
	if errors.Is(err, fs.ErrNotExist) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("reading sysctl %s: %w", key, err)
	}
	v, ok := readOpen(f)
	if !ok {
		f.Close()
		return "", fmt.Errorf("reading sysctl %s: unreadable", key)
	}
	if p.files == nil {
		p.files = map[string]*os.File{}
	}
	p.files[key] = f
	return v, nil
}

// readOpen reads a setting's open file from its start.
func readOpen(f *os.File) (string, bool) {
	var buf [64]byte
	n, err := f.ReadAt(buf[:], 0)
	if n == 0 || n == len(buf) || err != nil && !errors.Is(err, io.EOF) {
		return "", false
	}
	return strings.TrimSpace(string(buf[:n])), true
}

// Close closes the settings' files.
func (p *ProcSys) Close() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for k, f := range p.files {
		f.Close()
		delete(p.files, k)
	}
}

// Set writes a setting.
func (*ProcSys) Set(key, value string) error {
	if err := os.WriteFile(filepath.Join("/proc/sys", key), []byte(value), 0o644); err != nil {
		return fmt.Errorf("setting sysctl %s=%s: %w", key, value, err)
	}
	return nil
}

// readSysctls returns the live values of the desired settings, leaving out
// rp_filter settings that need no change: the kernel uses the larger of
// conf/all and conf/DEV, so only a strict (1) effective value is relaxed.
// A setting pathpin changed earlier (in orig, the record of the values it
// found) that is no longer desired is wanted back at its original value,
// unless its device has gone.
func readSysctls(sys Sysctls, desired []Sysctl, orig map[string]string) (live, needed []Sysctl, err error) {
	all, err := sys.Get("net/ipv4/conf/all/rp_filter")
	if err != nil {
		return nil, nil, err
	}
	wanted := map[string]bool{}
	for _, s := range desired {
		wanted[s.Key] = true
	}
	for _, key := range slices.Sorted(maps.Keys(orig)) {
		if !wanted[key] && orig[key] != "" {
			desired = append(desired, Sysctl{Key: key, Value: orig[key], Why: "no longer needed: put back the value found before pathpin"})
		}
	}
	for _, s := range desired {
		v, err := sys.Get(s.Key)
		if err != nil {
			return nil, nil, err
		}
		if wanted[s.Key] && strings.HasSuffix(s.Key, "/rp_filter") && v != "1" && all != "1" {
			continue
		}
		if !wanted[s.Key] && (v == "" || v == s.Value) {
			continue
		}
		live = append(live, Sysctl{Key: s.Key, Value: v})
		needed = append(needed, s)
	}
	return live, needed, nil
}

// sysctlRecord keeps the values pathpin found before it changed them, so
// that down can put them back.
type sysctlRecord struct {
	path string
}

func (r sysctlRecord) load() (map[string]string, error) {
	m := map[string]string{}
	if _, err := atomicfile.ReadJSON(r.path, &m); err != nil {
		return nil, fmt.Errorf("%w (delete it if pathpin is down)", err)
	}
	return m, nil
}

// save writes the record atomically.
func (r sysctlRecord) save(m map[string]string) error { return atomicfile.WriteJSON(r.path, m, 0o644) }

// remove deletes the record once everything is restored.
func (r sysctlRecord) remove() error { return atomicfile.Remove(r.path) }
