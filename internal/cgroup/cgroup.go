// Package cgroup places pathpin exec's commands in cgroup v2 groups that
// pathpin's table can match their sockets by: under systemd, transient
// scopes in pathpin's slice made through systemd's D-Bus API (pathpin
// never writes into systemd's tree behind its back); without systemd,
// directories of pathpin's own under the hierarchy's root.
package cgroup

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
)

// Group is a cgroup: its path below the hierarchy's root (no leading
// slash), its level (the root is 0) and its ID (the kernel's, the
// directory's inode number), as nftables' socket cgroupv2 matches it.
type Group struct {
	Path  string
	Level uint32
	ID    uint64
}

// Root is where the cgroup v2 hierarchy is mounted (/sys/fs/cgroup, or
// /sys/fs/cgroup/unified on a hybrid host), read from mountinfo.
func Root() (string, error) {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return "", fmt.Errorf("finding the cgroup v2 hierarchy: %w", err)
	}
	defer f.Close()
	return rootIn(f)
}

func rootIn(r interface{ Read([]byte) (int, error) }) (string, error) {
	s := bufio.NewScanner(r)
	for s.Scan() {
		pre, post, ok := strings.Cut(s.Text(), " - ")
		f := strings.Fields(pre)
		if ok && len(f) > 4 && strings.HasPrefix(post, "cgroup2 ") {
			return filepath.Clean(unescape(f[4])), nil
		}
	}
	if err := s.Err(); err != nil {
		return "", err
	}
	return "", errors.New("no cgroup v2 hierarchy is mounted; pathpin exec needs one (mount -t cgroup2 none /sys/fs/cgroup, or boot with systemd.unified_cgroup_hierarchy=1)")
}

// unescape undoes mountinfo's octal escapes (a space is \040).
func unescape(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) {
			if n, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(n))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// Self is the cgroup v2 path of the calling process (no leading slash).
func Self() (string, error) {
	b, err := os.ReadFile("/proc/self/cgroup")
	if err != nil {
		return "", fmt.Errorf("reading this process's cgroup: %w", err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if p, ok := strings.CutPrefix(line, "0::"); ok {
			return strings.Trim(p, "/"), nil
		}
	}
	return "", errors.New("this process is in no cgroup v2 group (/proc/self/cgroup has no 0:: line)")
}

// Stat is the group at path below root, as the kernel knows it.
func Stat(root, path string) (Group, error) {
	path = strings.Trim(path, "/")
	var st syscall.Stat_t
	if err := syscall.Stat(filepath.Join(root, path), &st); err != nil {
		return Group{}, fmt.Errorf("cgroup %s: %w", path, err)
	}
	level := uint32(0)
	if path != "" {
		level = uint32(strings.Count(path, "/") + 1)
	}
	return Group{Path: path, Level: level, ID: st.Ino}, nil
}

// Join makes the group at path below root (and its parents) if need be
// and moves process pid into it.
func Join(root, path string, pid int) error {
	dir := filepath.Join(root, path)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("making cgroup %s: %w", path, err)
	}
	if err := os.WriteFile(filepath.Join(dir, "cgroup.procs"), []byte(strconv.Itoa(pid)), 0); err != nil {
		return fmt.Errorf("moving process %d into cgroup %s: %w", pid, path, err)
	}
	return nil
}

// Empty reports whether the group at path holds no process (a group that
// is gone is empty).
func Empty(root, path string) bool {
	b, err := os.ReadFile(filepath.Join(root, path, "cgroup.procs"))
	return err != nil || len(strings.TrimSpace(string(b))) == 0
}

// Remove removes the group at path below root if it holds no process and
// no group; a group that is gone is no error.
func Remove(root, path string) error {
	err := os.Remove(filepath.Join(root, path))
	if err == nil || errors.Is(err, os.ErrNotExist) {
		return nil
	}
	return err
}
