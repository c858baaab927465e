package setup

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/pathpin/pathpin/internal/atomicfile"
	"github.com/pathpin/pathpin/internal/config"
	"github.com/pathpin/pathpin/internal/textdiff"
)

// Options are init's inputs: what the flags gave, and where to talk.
type Options struct {
	// ConfigPath is the file to write; the password file goes beside it.
	ConfigPath string
	Scan       ScanOptions
	// Name is the PPPoE uplink's name.
	Name     string
	Username string
	// Password, when HavePassword, came from --password-file or stdin.
	Password     string
	HavePassword bool
	// Static is "IF:GATEWAY" from --static.
	Static string
	LAN    []string
	// FromPPPoEConf migrates PPPDir/peers/Peer instead of scanning.
	FromPPPoEConf bool
	PPPDir, Peer  string
	Force, DryRun bool
	// MarkMask, when not 0, is the mark-mask to write: the default's bits
	// are used by other software here (MarkMaskWhy says which).
	MarkMask    uint32
	MarkMaskWhy string
	// Ask is nil when nothing may be asked (no terminal, or --yes).
	Ask  Asker
	Host Host
	Out  io.Writer // the YAML (--dry-run) and the report
	Err  io.Writer // notes while scanning
	Log  *slog.Logger
}

// ErrDeclined means the person answered no before anything was written.
var ErrDeclined = errors.New("nothing was written")

// Result is what Run decided and, unless DryRun, wrote.
type Result struct {
	Answers   *Answers
	YAML      string
	Written   bool
	Conflicts []Conflict
}

// Run finds or reads the PPPoE line, fills in the rest from the flags,
// the host or the person, and writes the configuration and the password
// file. Whatever is missing without a way to ask is an error that names
// the flag.
func Run(ctx context.Context, nl Netlink, opt Options) (*Result, error) {
	if opt.Name == "" {
		opt.Name = "dsl"
	}
	abs, err := filepath.Abs(opt.ConfigPath)
	if err != nil {
		return nil, err
	}
	opt.ConfigPath = abs
	a := &Answers{MarkMask: opt.MarkMask, MarkMaskWhy: opt.MarkMaskWhy}
	peerPassword := ""
	migrate := opt.FromPPPoEConf
	peerPath := filepath.Join(opt.PPPDir, "peers", opt.Peer)
	if !migrate && opt.Ask != nil && usablePeer(peerPath) {
		if migrate, err = yes(opt.Ask, fmt.Sprintf("%s exists (pppoeconf's set-up). Take the line and login from it", peerPath), true); err != nil {
			return nil, err
		}
	}
	if migrate {
		p, password, err := Migrate(opt.PPPDir, opt.Peer, opt.Out)
		if err != nil {
			return nil, err
		}
		a.PPPoE = &PPPoEUplink{Name: opt.Name, Interface: p.Interface, VLAN: p.VLAN, Username: p.User, Service: p.Service,
			ACName: p.ACName, IfName: p.IfName, MTU: p.MTU, LCPEchoInterval: p.LCPEchoInterval, LCPEchoFailure: p.LCPEchoFailure,
			Comment: "from " + peerPath}
		if a.PPPoE.MTU == config.DefaultPPPMTU {
			a.PPPoE.MTU = 0
		}
		peerPassword = password
	} else {
		line, err := findLine(ctx, nl, opt)
		if err != nil {
			return nil, err
		}
		a.PPPoE = &PPPoEUplink{Name: opt.Name, Interface: line.Interface, VLAN: line.VLAN,
			Comment: fmt.Sprintf("access concentrator %q (%s) answered on %s", line.Offer.ACName, line.Offer.ACMAC, line.Where())}
		if line.Offer.MaxPayload >= 1500 {
			a.PPPoE.MTU = 1500
		}
	}
	p := a.PPPoE
	if opt.Username != "" {
		p.Username = opt.Username
	}
	if p.Username == "" {
		if p.Username, err = ask(opt.Ask, "PPP username (the login your ISP gave you)", "", "--username"); err != nil {
			return nil, err
		}
	}
	password := peerPassword
	if opt.HavePassword {
		password = opt.Password
	}
	if password == "" {
		if password, err = askPassword(opt.Ask); err != nil {
			return nil, err
		}
	}
	p.PasswordFile = filepath.Join(filepath.Dir(opt.ConfigPath), p.Name+".password")
	links := Links{PPPoE: vlanName(p.Interface, p.VLAN), Parent: p.Interface}
	if a.Static, err = chooseStatic(nl, opt, links); err != nil {
		return nil, err
	}
	if a.LAN, err = chooseLAN(nl, opt, a.Static, links); err != nil {
		return nil, err
	}
	// Closing the router itself: asked once, yes by default unless
	// another firewall already filters what reaches it.
	filtered := opt.Host.FiltersInput != nil && opt.Host.FiltersInput()
	a.ProtectRouter = !filtered
	if opt.Ask != nil {
		q := "Close the router itself to the uplinks' side (new connections from them dropped; DHCP, PPP and probes keep working)"
		if filtered {
			q += "? Another firewall already filters input here"
		}
		if a.ProtectRouter, err = yes(opt.Ask, q, !filtered); err != nil {
			return nil, err
		}
	}
	res := &Result{Answers: a, YAML: a.Render()}
	if _, err := config.Parse(opt.ConfigPath, []byte(res.YAML)); err != nil {
		return res, fmt.Errorf("init: the configuration it made does not load (a bug in pathpin init; the answers were %+v): %w", a, err)
	}
	res.Conflicts = Conflicts(ctx, opt.Host, links)
	if opt.DryRun {
		fmt.Fprint(opt.Out, res.YAML)
		return res, nil
	}
	fmt.Fprintf(opt.Out, "\n%s:\n\n%s\n", opt.ConfigPath, res.YAML)
	if old, err := os.ReadFile(opt.ConfigPath); err == nil && !opt.Force {
		// The password is compared too (an ISP that changed it is the
		// usual reason to run init again), and never printed.
		pw := passwordDiffers(p.PasswordFile, password)
		if string(old) == res.YAML && pw == "" {
			fmt.Fprintf(opt.Out, "%s and %s already say this; nothing to write.\n", opt.ConfigPath, p.PasswordFile)
			return res, nil
		}
		if string(old) != res.YAML {
			fmt.Fprintf(opt.Out, "%s exists and differs:\n%s", opt.ConfigPath, textdiff.Diff(string(old), res.YAML))
		}
		if pw != "" {
			fmt.Fprintf(opt.Out, "%s %s.\n", p.PasswordFile, pw)
		}
		return res, fmt.Errorf("init: %s exists; nothing was written (run again with --force to replace it)", opt.ConfigPath)
	}
	if opt.Ask != nil {
		ok, err := yes(opt.Ask, fmt.Sprintf("Write %s and %s", opt.ConfigPath, p.PasswordFile), false)
		if err != nil {
			return res, err
		}
		if !ok {
			return res, ErrDeclined
		}
	}
	if err := write(opt.ConfigPath, p.PasswordFile, res.YAML, password); err != nil {
		return res, err
	}
	res.Written = true
	return res, nil
}

// usablePeer reports whether path is a pppd peer init can migrate: one
// that dials PPPoE with a login (not the commented template rp-pppoe
// installs).
func usablePeer(path string) bool {
	data, err := os.ReadFile(path)
	if err != nil {
		return false
	}
	_, err = ParsePeer(string(data))
	return err == nil
}

// findLine scans and picks the line: the only one, or the person's choice.
func findLine(ctx context.Context, nl Netlink, opt Options) (Line, error) {
	start := time.Now()
	fmt.Fprintf(opt.Err, "Looking for a PPPoE access concentrator (up to %s)...\n", opt.Scan.Timeout)
	res, err := Scan(ctx, nl, opt.Scan, opt.Log)
	if errors.Is(err, context.Canceled) {
		return Line{}, fmt.Errorf("init: interrupted; the probes were cleaned up and nothing was written: %w", err)
	}
	if err != nil {
		return Line{}, fmt.Errorf("init: %w", err)
	}
	for _, n := range res.Notes {
		fmt.Fprintf(opt.Err, "  note: %s\n", n)
	}
	if len(res.Lines) == 0 {
		return Line{}, fmt.Errorf("init: no PPPoE access concentrator answered on %s within %s: check the cable and that the modem/bridge is on; if your line is on a VLAN, give it with --vlan ID",
			strings.Join(res.Probed, ", "), opt.Scan.Timeout)
	}
	fmt.Fprintf(opt.Err, "Found in %s:\n", time.Since(start).Round(10*time.Millisecond))
	for i, l := range res.Lines {
		fmt.Fprintf(opt.Err, "  %d. %s\n", i+1, describeLine(l))
	}
	if len(res.Lines) == 1 {
		return res.Lines[0], nil
	}
	if opt.Ask == nil {
		return Line{}, fmt.Errorf("init: %d access concentrators answered; pick one with --interface IF (and --vlan ID)", len(res.Lines))
	}
	for {
		ans, err := opt.Ask.Ask(fmt.Sprintf("Which line (1-%d)", len(res.Lines)), "1")
		if err != nil {
			return Line{}, err
		}
		var n int
		if _, err := fmt.Sscanf(ans, "%d", &n); err == nil && n >= 1 && n <= len(res.Lines) {
			return res.Lines[n-1], nil
		}
	}
}

func describeLine(l Line) string {
	vlan := "untagged"
	if l.VLAN != 0 {
		vlan = fmt.Sprintf("VLAN %d", l.VLAN)
	}
	mtu := "no PPP-Max-Payload (MTU 1492)"
	if l.Offer.MaxPayload > 0 {
		mtu = fmt.Sprintf("PPP-Max-Payload %d (mtu: 1500 proposed)", l.Offer.MaxPayload)
	}
	services := make([]string, len(l.Offer.Services))
	for i, s := range l.Offer.Services {
		if s == "" {
			s = "(any)"
		}
		services[i] = s
	}
	return fmt.Sprintf("%s, %s: AC-Name %q, AC MAC %s, services %s, %s", l.Interface, vlan, l.Offer.ACName, l.Offer.ACMAC, strings.Join(services, " "), mtu)
}

// ask asks a question, or names the flag that answers it.
func ask(a Asker, question, def, flag string) (string, error) {
	if a == nil {
		if def != "" {
			return def, nil
		}
		return "", fmt.Errorf("init: give %s (nothing can be asked without a terminal, or with --yes)", flag)
	}
	for {
		ans, err := a.Ask(question, def)
		if err != nil || ans != "" {
			return ans, err
		}
	}
}

func askPassword(a Asker) (string, error) {
	if a == nil {
		return "", errors.New("init: give the password with --password-file FILE or --password-stdin (nothing can be asked without a terminal, or with --yes)")
	}
	for {
		p1, err := a.Secret("PPP password (not shown)")
		if err != nil {
			return "", err
		}
		if p1 == "" {
			continue
		}
		p2, err := a.Secret("The same password again")
		if err != nil {
			return "", err
		}
		if p1 == p2 {
			return p1, nil
		}
		if _, err := a.Ask("The two differ; press Enter to type them again", "-"); err != nil {
			return "", err
		}
	}
}

// chooseStatic takes --static, or proposes the main table's default route.
func chooseStatic(nl Netlink, opt Options, links Links) (*StaticUplink, error) {
	if opt.Static != "" {
		iface, gw, ok := strings.Cut(opt.Static, ":")
		addr, err := netip.ParseAddr(gw)
		if !ok || iface == "" || err != nil || !addr.Is4() {
			return nil, fmt.Errorf("init: --static %q: give IF:GATEWAY, e.g. eth0:192.168.1.254", opt.Static)
		}
		return &StaticUplink{Name: uplinkName(iface), Interface: iface, Gateway: addr}, nil
	}
	s, err := DetectStatic(nl, links.names())
	if err != nil || s == nil || opt.Ask == nil {
		return s, err
	}
	ok, err := yes(opt.Ask, fmt.Sprintf("Use %s via %s (%s) as a second, static uplink", s.Interface, s.Gateway, s.Comment), true)
	if err != nil || !ok {
		return nil, err
	}
	return s, nil
}

// chooseLAN takes --lan, or proposes the links with private addresses.
func chooseLAN(nl Netlink, opt Options, static *StaticUplink, links Links) ([]string, error) {
	if len(opt.LAN) > 0 {
		return opt.LAN, nil
	}
	skip := []string{links.PPPoE}
	if links.PPPoE == links.Parent {
		skip = append(skip, links.Parent)
	}
	if static != nil {
		skip = append(skip, static.Interface)
	}
	found, err := DetectLAN(nl, skip)
	if err != nil {
		return nil, err
	}
	ans, err := ask(opt.Ask, "LAN interfaces, where the clients are (space-separated)", strings.Join(found, " "), "--lan IF (where the LAN clients are)")
	if err != nil {
		return nil, err
	}
	return strings.Fields(strings.ReplaceAll(ans, ",", " ")), nil
}

// passwordDiffers says how the password file differs from password ("" when
// it holds it), without showing either.
func passwordDiffers(path, password string) string {
	old, err := os.ReadFile(path)
	switch {
	case errors.Is(err, os.ErrNotExist):
		return "is missing"
	case err != nil:
		return "cannot be read (" + err.Error() + ")"
	case strings.TrimRight(string(old), "\n") != password:
		return "holds another password (not shown)"
	}
	return ""
}

// write puts the password file and then the configuration in place, each
// atomically; the directory is made 0700 when missing.
func write(cfgPath, pwPath, yaml, password string) error {
	dir := filepath.Dir(cfgPath)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("init: creating %s: %w", dir, err)
	}
	if err := atomicfile.Write(pwPath, []byte(password+"\n"), 0o600); err != nil {
		return fmt.Errorf("init: %w", err)
	}
	if os.Geteuid() == 0 {
		if err := os.Chown(pwPath, 0, 0); err != nil {
			return fmt.Errorf("init: making root own %s: %w", pwPath, err)
		}
	}
	if err := atomicfile.Write(cfgPath, []byte(yaml), 0o644); err != nil {
		return fmt.Errorf("init: %w", err)
	}
	return nil
}
