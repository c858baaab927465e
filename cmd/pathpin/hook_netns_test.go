package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pathpin/pathpin/internal/netnstest"
)

// TestHookWithoutDaemon runs pathpin as a plain ppp hook: no daemon, so
// ip-up and ip-down apply the change themselves. The PPP link is a veth
// named ppp1 with a point-to-point address, as pppd leaves it.
func TestHookWithoutDaemon(t *testing.T) {
	l := netnstest.NewTwoISP(t)
	spare := netnstest.New(t)
	netnstest.Veth(t, l.Router, "ppp1", spare, "peer")
	l.Router.Run("ip", "addr", "add", "100.64.0.10", "peer", "100.64.0.1/32", "dev", "ppp1")
	dir := t.TempDir()
	cfg := filepath.Join(dir, "pathpin.yaml")
	yaml := strings.Split(l.Config(1, 1, ""), "  - name: ispb")[0] + `  - name: plusnet
    pppoe:
      interface: wan1
      vlan: 1000
      username: u
      password-file: /dev/null
      ifname: ppp1
`
	if err := os.WriteFile(cfg, []byte(yaml), 0o644); err != nil {
		t.Fatal(err)
	}
	bin := netnstest.Binary(t)
	// The host's ip-up, which pathpin runs after its own work, records
	// its arguments and the rules in place when it ran.
	pppDir := t.TempDir()
	record := filepath.Join(pppDir, "record")
	if err := os.WriteFile(filepath.Join(pppDir, "ip-up"), []byte("#!/bin/sh\necho \"$*\" > "+record+"\nip rule >> "+record+"\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	hook := func(kind string, ipparam string) (string, error) {
		cmd := l.Router.Command(bin, "hook", kind, "ppp1", "wan1.1000", "0", "100.64.0.10", "100.64.0.1", ipparam)
		cmd.Env = append(os.Environ(), "PATHPIN_CONFIG="+cfg, "PATHPIN_STATE_DIR="+dir, "PATHPIN_PPP_DIR="+pppDir, "IFNAME=ppp1")
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	if out, err := hook("ip-up", "plusnet"); err != nil || !strings.Contains(out, `msg="applied without a daemon" event=ip-up uplink=plusnet`) {
		t.Fatalf("ip-up: %v, and the hook's record of what it did is missing:\n%s", err, out)
	}
	if rules := l.Router.Run("ip", "rule"); !strings.Contains(rules, "from 100.64.0.10 lookup 102") {
		t.Fatalf("after ip-up the PPP uplink has no rule:\n%s", rules)
	}
	if ran, _ := os.ReadFile(record); !strings.HasPrefix(string(ran), "ppp1 wan1.1000 0 100.64.0.10 100.64.0.1 plusnet\n") || !strings.Contains(string(ran), "from 100.64.0.10 lookup 102") {
		t.Errorf("the host's ip-up did not run after pathpin's own work:\n%s", ran)
	}
	// pathpin's own nftables table (the default firewall on this kernel).
	table := func() string { return l.Router.Run("nft", "list", "table", "ip", "pathpin") }
	if got := table(); !strings.Contains(got, `oifname "ppp1" masquerade`) || !strings.Contains(got, ": jump to_plusnet") {
		t.Fatalf("after ip-up the PPP uplink has no NAT or no balance share:\n%s", got)
	}
	if out, err := hook("ip-up", "someone-else"); err == nil || !strings.Contains(out, `ipparam "someone-else" names no PPPoE uplink`) {
		t.Fatalf("a foreign ipparam was accepted: %v\n%s", err, out)
	}
	if out, err := hook("ip-down", "plusnet"); err != nil {
		t.Fatalf("ip-down: %v\n%s", err, out)
	}
	if got := table(); strings.Contains(got, `oifname "ppp1" masquerade`) || strings.Contains(got, ": jump to_plusnet") {
		t.Fatalf("after ip-down the PPP uplink still has NAT or a balance share:\n%s", got)
	}
	if out, err := l.Router.Command(bin, "down", "-c", cfg, "--state-dir", dir).CombinedOutput(); err != nil {
		t.Fatalf("down: %v\n%s", err, out)
	}
}
