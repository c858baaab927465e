package setup

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/google/nftables"
)

// SystemHost is the running system: its root file system, nmcli when
// installed and the processes in /proc.
func SystemHost() Host {
	return Host{Root: "/", NMDevices: nmcliDevices, Processes: procProcesses, FiltersInput: nftFiltersInput}
}

// nftFiltersInput looks for a chain of another table on the input hook
// that drops by policy or holds rules.
func nftFiltersInput() bool {
	c, err := nftables.New()
	if err != nil {
		return false
	}
	chains, err := c.ListChains()
	if err != nil {
		return false
	}
	for _, ch := range chains {
		if ch.Table == nil || ch.Table.Name == "pathpin" || ch.Hooknum == nil || *ch.Hooknum != *nftables.ChainHookInput {
			continue
		}
		if ch.Policy != nil && *ch.Policy == nftables.ChainPolicyDrop {
			return true
		}
		if rules, err := c.GetRules(ch.Table, ch); err == nil && len(rules) > 0 {
			return true
		}
	}
	return false
}

func nmcliDevices(ctx context.Context) (string, bool) {
	if _, err := exec.LookPath("nmcli"); err != nil {
		return "", false
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, "nmcli", "-t", "-f", "DEVICE,STATE,CONNECTION", "device").Output()
	if err != nil {
		// NetworkManager is installed but not running: nothing manages.
		return "", true
	}
	return string(out), true
}

func procProcesses() []Process {
	dirs, _ := filepath.Glob("/proc/[0-9]*")
	var out []Process
	for _, d := range dirs {
		pid, err := strconv.Atoi(filepath.Base(d))
		if err != nil {
			continue
		}
		comm, err := os.ReadFile(filepath.Join(d, "comm"))
		if err != nil {
			continue
		}
		args, _ := os.ReadFile(filepath.Join(d, "cmdline"))
		out = append(out, Process{PID: pid, Comm: strings.TrimSpace(string(comm)), Args: strings.TrimSpace(strings.ReplaceAll(string(args), "\x00", " "))})
	}
	return out
}
