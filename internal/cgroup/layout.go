package cgroup

import (
	"fmt"
	"os"
	"strconv"
	"strings"
)

// Layout is where pathpin's groups live: under systemd, units in
// pathpin.slice; without it, directories under the hierarchy's root
// pathpin owns (pathpin/).
type Layout struct {
	// Root is the cgroup v2 mount.
	Root string
	// Systemd: systemd is the init system, and makes the groups.
	Systemd bool
}

// Detect finds the hierarchy and whether systemd runs the host (it does
// when /run/systemd/system exists, as sd_booted(3) checks).
func Detect() (Layout, error) {
	root, err := Root()
	if err != nil {
		return Layout{}, err
	}
	_, err = os.Stat("/run/systemd/system")
	return Layout{Root: root, Systemd: err == nil}, nil
}

// Slice is the systemd slice of pathpin's groups.
const Slice = "pathpin.slice"

// ProgramSlice is the systemd slice of program name (a child of
// pathpin.slice: systemd nests slices by the dash).
func ProgramSlice(name string) string { return "pathpin-" + name + ".slice" }

// Program is the path of program name's group below the root.
func (l Layout) Program(name string) string {
	if l.Systemd {
		return Slice + "/" + ProgramSlice(name)
	}
	return "pathpin/" + name
}

// execKind names an exec's group by what happens while its uplink is out
// of service: its connections fail, or fall back to the balance. The
// name says it, so that a restarted daemon finds the groups again.
func execKind(fallback bool) string {
	if fallback {
		return "fallback"
	}
	return "exec"
}

// Exec is the path of the group pathpin exec makes for process pid,
// steered by uplink via (with fallback), or in program's group when
// program is given.
func (l Layout) Exec(via, program string, fallback bool, pid int) string {
	if program != "" {
		if l.Systemd {
			return l.Program(program) + fmt.Sprintf("/pathpin-exec-%d.scope", pid)
		}
		return l.Program(program) + fmt.Sprintf("/exec-%d", pid)
	}
	if l.Systemd {
		return Slice + fmt.Sprintf("/pathpin-%s-%s-%d.scope", execKind(fallback), via, pid)
	}
	return fmt.Sprintf("pathpin/%s-%s-%d", execKind(fallback), via, pid)
}

// ParseExec reads an exec group's path as Exec makes it for an uplink:
// the uplink and fallback; ok is false for any other path.
func (l Layout) ParseExec(path string) (via string, fallback bool, ok bool) {
	var name string
	if l.Systemd {
		rest, found := strings.CutPrefix(path, Slice+"/pathpin-")
		if !found || !strings.HasSuffix(rest, ".scope") {
			return "", false, false
		}
		name = strings.TrimSuffix(rest, ".scope")
	} else {
		rest, found := strings.CutPrefix(path, "pathpin/")
		if !found || strings.Contains(rest, "/") {
			return "", false, false
		}
		name = rest
	}
	kind, rest, _ := strings.Cut(name, "-")
	i := strings.LastIndex(rest, "-")
	if (kind != "exec" && kind != "fallback") || i <= 0 {
		return "", false, false
	}
	if _, err := strconv.Atoi(rest[i+1:]); err != nil {
		return "", false, false
	}
	return rest[:i], kind == "fallback", true
}

// Execs are the exec groups below the root now (paths as Exec makes
// them for an uplink).
func (l Layout) Execs() []string {
	dir := "pathpin"
	if l.Systemd {
		dir = Slice
	}
	entries, _ := os.ReadDir(l.Root + "/" + dir)
	var out []string
	for _, e := range entries {
		p := dir + "/" + e.Name()
		if _, _, ok := l.ParseExec(p); ok && e.IsDir() {
			out = append(out, p)
		}
	}
	return out
}
