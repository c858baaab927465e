package setup

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
)

// A Conflict is something else on the host that manages what pathpin now
// manages, with the exact command or edit that turns it off. init reports
// conflicts and changes none of them.
type Conflict struct {
	What string
	Fix  string
	// Note: nothing starts it now, so it clashes with nothing; it is told
	// so that nobody starts it later (Fix says how to get rid of it).
	Note bool
}

// Host is where the conflict report looks: a root directory (/ in
// production) and the two things it asks the running system.
type Host struct {
	Root string
	// NMDevices returns `nmcli -t -f DEVICE,STATE,CONNECTION device` output;
	// ok is false when nmcli is not installed.
	NMDevices func(ctx context.Context) (out string, ok bool)
	// Processes lists the running processes.
	Processes func() []Process
	// FiltersInput reports whether another firewall already filters what
	// reaches the router itself (an nftables chain on the input hook,
	// iptables-nft's included); nil: none does.
	FiltersInput func() bool
}

// A Process is a running program.
type Process struct {
	PID  int
	Comm string
	Args string
}

// Links are the links pathpin will run: what the report looks for.
type Links struct {
	// PPPoE is the link PPPoE runs on (eth1.1000, or eth1 untagged) and
	// Parent the Ethernet under it.
	PPPoE, Parent string
}

func (l Links) names() []string {
	if l.PPPoE == "" {
		return nil
	}
	if l.Parent == "" || l.Parent == l.PPPoE {
		return []string{l.PPPoE}
	}
	return []string{l.PPPoE, l.Parent}
}

// Conflicts returns what else manages the PPPoE line, PPP or the routes and
// firewall pathpin owns.
func Conflicts(ctx context.Context, h Host, l Links) []Conflict {
	var out []Conflict
	out = append(out, ifupdownConflicts(h, l)...)
	out = append(out, networkManagerConflicts(ctx, h, l)...)
	out = append(out, dhcpcdConflicts(h, l)...)
	out = append(out, networkdConflicts(h, l)...)
	out = append(out, peerConflicts(h)...)
	out = append(out, scriptConflicts(h)...)
	out = append(out, pppdConflicts(h)...)
	return out
}

func (h Host) path(p string) string { return filepath.Join(h.Root, p) }

// stanza is one ifupdown stanza or auto line.
type stanza struct {
	file   string
	line   int
	kind   string // iface, auto, allow-hotplug
	name   string
	method string
	opts   map[string]string
}

// ifupdownStanzas reads /etc/network/interfaces and interfaces.d.
func ifupdownStanzas(h Host) []stanza {
	files := []string{h.path("/etc/network/interfaces")}
	more, _ := filepath.Glob(h.path("/etc/network/interfaces.d/*"))
	files = append(files, more...)
	var out []stanza
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		var cur *stanza
		for i, raw := range strings.Split(string(data), "\n") {
			fields := strings.Fields(strings.SplitN(raw, "#", 2)[0])
			if len(fields) == 0 {
				continue
			}
			shown := strings.TrimPrefix(f, h.Root)
			if !strings.HasPrefix(shown, "/") {
				shown = "/" + shown
			}
			switch fields[0] {
			case "iface":
				s := stanza{file: shown, line: i + 1, kind: "iface", opts: map[string]string{}}
				if len(fields) > 1 {
					s.name = fields[1]
				}
				if len(fields) > 3 {
					s.method = fields[3]
				}
				out = append(out, s)
				cur = &out[len(out)-1]
			case "auto", "allow-hotplug":
				for _, n := range fields[1:] {
					out = append(out, stanza{file: shown, line: i + 1, kind: fields[0], name: n})
				}
				cur = nil
			case "mapping", "source", "source-directory":
				cur = nil
			default:
				if cur != nil {
					cur.opts[fields[0]] = strings.Join(fields[1:], " ")
				}
			}
		}
	}
	return out
}

func ifupdownConflicts(h Host, l Links) []Conflict {
	var out []Conflict
	stanzas := ifupdownStanzas(h)
	started := map[string]stanza{}
	for _, s := range stanzas {
		if s.kind != "iface" {
			started[s.name] = s
		}
	}
	for _, s := range stanzas {
		if s.kind != "iface" {
			continue
		}
		where := fmt.Sprintf("%s line %d", s.file, s.line)
		switch {
		case s.method == "ppp":
			what := fmt.Sprintf("ifupdown brings up PPP provider %q (`iface %s inet ppp`, %s)", s.opts["provider"], s.name, where)
			fix := fmt.Sprintf("ifdown %s; then delete that stanza", s.name)
			if a, ok := started[s.name]; ok {
				what = fmt.Sprintf("ifupdown brings up PPP provider %q at boot (`%s %s`, %s line %d)", s.opts["provider"], a.kind, s.name, a.file, a.line)
				fix = fmt.Sprintf("ifdown %s; then delete `%s %s` (%s line %d) and the `iface %s inet ppp` stanza (%s)", s.name, a.kind, s.name, a.file, a.line, s.name, where)
			}
			out = append(out, Conflict{What: what, Fix: fix})
		case slices.Contains(l.names(), s.name) && (s.method == "dhcp" || s.name == l.PPPoE && l.PPPoE != l.Parent):
			why := "PPPoE needs no address on it"
			if s.name == l.PPPoE && l.PPPoE != l.Parent {
				why = "pathpin makes the VLAN link itself"
			}
			out = append(out, Conflict{
				What: fmt.Sprintf("ifupdown configures %s (`iface %s inet %s`, %s), the link PPPoE runs on", s.name, s.name, s.method, where),
				Fix:  fmt.Sprintf("ifdown %s; then delete that stanza (%s)", s.name, why),
			})
		}
	}
	return out
}

func networkManagerConflicts(ctx context.Context, h Host, l Links) []Conflict {
	var out []Conflict
	if h.NMDevices != nil {
		if text, ok := h.NMDevices(ctx); ok {
			for _, line := range strings.Split(text, "\n") {
				f := strings.SplitN(line, ":", 3)
				if len(f) < 2 || !slices.Contains(l.names(), f[0]) {
					continue
				}
				if f[1] == "unmanaged" || f[1] == "unavailable" && len(f) > 2 && f[2] == "" {
					continue
				}
				out = append(out, Conflict{
					What: fmt.Sprintf("NetworkManager manages %s (%s)", f[0], f[1]),
					Fix:  fmt.Sprintf("nmcli device set %s managed no (and for good: unmanaged-devices=interface-name:%s under [keyfile] in /etc/NetworkManager/conf.d/pathpin.conf)", f[0], f[0]),
				})
			}
			return out
		}
	}
	// No nmcli: look at NetworkManager's own files.
	files, _ := filepath.Glob(h.path("/etc/NetworkManager/system-connections/*"))
	for _, f := range files {
		kv := iniValues(f)
		iface := kv["connection.interface-name"]
		if kv["connection.type"] == "pppoe" || slices.Contains(l.names(), iface) {
			shown := "/" + strings.TrimPrefix(strings.TrimPrefix(f, h.Root), "/")
			name := kv["connection.id"]
			out = append(out, Conflict{
				What: fmt.Sprintf("NetworkManager connection %q (%s) uses %s", name, shown, orAny(iface)),
				Fix:  fmt.Sprintf("set autoconnect=false under [connection] in %s, or delete it", shown),
			})
		}
	}
	return out
}

func orAny(s string) string {
	if s == "" {
		return "any interface"
	}
	return s
}

// iniValues reads a keyfile as section.key=value.
func iniValues(path string) map[string]string {
	out := map[string]string{}
	data, err := os.ReadFile(path)
	if err != nil {
		return out
	}
	section := ""
	for _, raw := range strings.Split(string(data), "\n") {
		line := strings.TrimSpace(raw)
		switch {
		case strings.HasPrefix(line, "[") && strings.HasSuffix(line, "]"):
			section = strings.Trim(line, "[]")
		case strings.Contains(line, "=") && !strings.HasPrefix(line, "#"):
			k, v, _ := strings.Cut(line, "=")
			out[section+"."+strings.TrimSpace(k)] = strings.TrimSpace(v)
		}
	}
	return out
}

func dhcpcdConflicts(h Host, l Links) []Conflict {
	running := slices.ContainsFunc(h.processes(), func(p Process) bool { return p.Comm == "dhcpcd" })
	enabled := exists(h.path("/etc/systemd/system/multi-user.target.wants/dhcpcd.service"))
	if !running && !enabled {
		return nil
	}
	denied := map[string]bool{}
	if data, err := os.ReadFile(h.path("/etc/dhcpcd.conf")); err == nil {
		for _, line := range strings.Split(string(data), "\n") {
			f := strings.Fields(strings.SplitN(line, "#", 2)[0])
			if len(f) > 0 && (f[0] == "denyinterfaces") {
				for _, n := range f[1:] {
					denied[n] = true
				}
			}
		}
	}
	var missing []string
	for _, n := range l.names() {
		if !denied[n] {
			missing = append(missing, n)
		}
	}
	if len(missing) == 0 {
		return nil
	}
	return []Conflict{{
		What: fmt.Sprintf("dhcpcd runs and would ask for an address on %s", strings.Join(missing, " and ")),
		Fix:  fmt.Sprintf("add `denyinterfaces %s` to /etc/dhcpcd.conf, then systemctl restart dhcpcd", strings.Join(missing, " ")),
	}}
}

func networkdConflicts(h Host, l Links) []Conflict {
	var out []Conflict
	for _, dir := range []string{"/etc/systemd/network", "/run/systemd/network"} {
		files, _ := filepath.Glob(h.path(dir + "/*.network"))
		for _, f := range files {
			kv := iniValues(f)
			for _, pattern := range strings.Fields(kv["Match.Name"]) {
				for _, n := range l.names() {
					if ok, _ := filepath.Match(pattern, n); ok {
						shown := dir + "/" + filepath.Base(f)
						out = append(out, Conflict{
							What: fmt.Sprintf("systemd-networkd configures %s (%s, Name=%s)", n, shown, pattern),
							Fix:  fmt.Sprintf("remove %s or narrow its Name=, then networkctl reload", shown),
						})
					}
				}
			}
		}
	}
	return out
}

// peerConflicts lists pppd peers that use PPPoE: pathpin runs pppd itself.
// A peer is a conflict only when something starts it (an ifupdown stanza
// brought up at boot, an enabled ppp@ unit, a running pppd); otherwise it
// is a note: Debian's pppoe package ships /etc/ppp/peers/dsl-provider as
// an example that nothing dials.
func peerConflicts(h Host) []Conflict {
	var out []Conflict
	files, _ := filepath.Glob(h.path("/etc/ppp/peers/*"))
	sort.Strings(files)
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		p, err := ParsePeer(string(data))
		if p == nil || p.Interface == "" && err != nil {
			continue
		}
		name := filepath.Base(f)
		c := Conflict{
			What: fmt.Sprintf("pppd peer %q (/etc/ppp/peers/%s) dials PPPoE on %s", name, name, vlanName(p.Interface, p.VLAN)),
			Fix:  fmt.Sprintf("poff %s, and start it no more (pon, ifupdown); pathpin runs pppd itself", name),
		}
		if starter := peerStarter(h, name); starter != "" {
			c.What += ", started by " + starter
		} else {
			c.What = fmt.Sprintf("pppd peer %q (/etc/ppp/peers/%s) would dial PPPoE on %s, but nothing starts it", name, name, vlanName(p.Interface, p.VLAN))
			c.Fix = fmt.Sprintf("leave it unused, or delete /etc/ppp/peers/%s", name)
			c.Note = true
		}
		out = append(out, c)
	}
	return out
}

// peerStarter says what starts the pppd peer name, "" when nothing does:
// an ifupdown `iface … inet ppp` stanza with `provider name` brought up at
// boot (auto, allow-hotplug), an enabled ppp@name or pppd@name unit, or a
// running pppd that called it.
func peerStarter(h Host, name string) string {
	stanzas := ifupdownStanzas(h)
	for _, s := range stanzas {
		if s.kind != "iface" || s.method != "ppp" || s.opts["provider"] != name {
			continue
		}
		for _, a := range stanzas {
			if a.kind != "iface" && a.name == s.name {
				return fmt.Sprintf("ifupdown (`%s %s`, %s line %d)", a.kind, s.name, a.file, a.line)
			}
		}
	}
	for _, unit := range []string{"ppp@" + name + ".service", "pppd@" + name + ".service"} {
		if wants, _ := filepath.Glob(h.path("/etc/systemd/system/*.wants/" + unit)); len(wants) > 0 {
			return "the enabled unit " + unit
		}
	}
	for _, p := range h.processes() {
		args := " " + p.Args + " "
		if p.Comm == "pppd" && (strings.Contains(args, " call "+name+" ") || strings.Contains(args, "/etc/ppp/peers/"+name+" ")) {
			return fmt.Sprintf("the running pppd %d", p.PID)
		}
	}
	return ""
}

func vlanName(iface string, id int) string {
	if id == 0 {
		return iface
	}
	return iface + "." + strconv.Itoa(id)
}

// routeCommand matches what ppp scripts use to change routes, rules and
// the firewall.
var routeCommand = regexp.MustCompile(`(^|[\s;|&(])(ip\s+(-\S+\s+)*(route|rule|r|ru)\b|route\s+(add|del)\b|iptables|ip6tables|iptables-restore|nft\b)`)

// scriptConflicts lists ip-up.d and ip-down.d scripts that change routes,
// rules or the firewall: pathpin runs those directories after its own
// work, so they would fight it.
func scriptConflicts(h Host) []Conflict {
	var out []Conflict
	for _, dir := range []string{"/etc/ppp/ip-up.d", "/etc/ppp/ip-down.d"} {
		files, _ := filepath.Glob(h.path(dir + "/*"))
		sort.Strings(files)
		for _, f := range files {
			st, err := os.Stat(f)
			if err != nil || st.IsDir() || st.Mode()&0o111 == 0 {
				continue
			}
			line, ok := firstMatch(f, routeCommand)
			if !ok {
				continue
			}
			shown := dir + "/" + filepath.Base(f)
			why := "pathpin owns the routes, rules and firewall of its uplinks"
			if filepath.Base(f) == "0clampmss" {
				why = "pathpin clamps the MSS itself"
			}
			out = append(out, Conflict{
				What: fmt.Sprintf("%s changes routes or the firewall (line %d)", shown, line),
				Fix:  fmt.Sprintf("chmod -x %s (%s)", shown, why),
			})
		}
	}
	return out
}

func firstMatch(path string, re *regexp.Regexp) (int, bool) {
	f, err := os.Open(path)
	if err != nil {
		return 0, false
	}
	defer f.Close()
	s := bufio.NewScanner(f)
	for n := 1; s.Scan(); n++ {
		line := strings.TrimSpace(s.Text())
		if strings.HasPrefix(line, "#") {
			continue
		}
		if re.MatchString(line) {
			return n, true
		}
	}
	return 0, false
}

func pppdConflicts(h Host) []Conflict {
	var out []Conflict
	for _, p := range h.processes() {
		if p.Comm != "pppd" || strings.Contains(p.Args, "linkname pathpin-") || strings.Contains(p.Args, "ppp-") && strings.Contains(p.Args, ".options") {
			continue
		}
		out = append(out, Conflict{
			What: fmt.Sprintf("pppd runs (pid %d: %s)", p.PID, p.Args),
			Fix:  fmt.Sprintf("poff -a, or kill %d", p.PID),
		})
	}
	return out
}

func (h Host) processes() []Process {
	if h.Processes == nil {
		return nil
	}
	return h.Processes()
}

func exists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}
