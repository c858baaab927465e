package cgroup

import (
	"fmt"
	"os"
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

// ExecScope is the name of the scope pathpin exec makes for process pid
// steered by uplink (or in program, when via is empty).
func ExecScope(via string, pid int) string {
	return fmt.Sprintf("pathpin-exec-%s-%d.scope", via, pid)
}

// Exec is the path of the group pathpin exec makes for process pid: in
// program's group when program is given, else in pathpin's.
func (l Layout) Exec(via, program string, pid int) string {
	if l.Systemd {
		if program != "" {
			return l.Program(program) + "/" + ExecScope("program", pid)
		}
		return Slice + "/" + ExecScope(via, pid)
	}
	if program != "" {
		return l.Program(program) + fmt.Sprintf("/exec-%d", pid)
	}
	return fmt.Sprintf("pathpin/exec-%s-%d", via, pid)
}
