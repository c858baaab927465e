package uplink

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// iptablesMarkUsers reads one iptables table, as iptables -S prints it,
// for rules that set or test marks (MARK, CONNMARK, -m mark, -m connmark)
// and for a FORWARD policy of DROP. variant is the command
// (iptables-nft or iptables-legacy).
func iptablesMarkUsers(variant, table string, lines []string) (users []MarkUser, drops []string) {
	for _, line := range lines {
		f := strings.Fields(line)
		if len(f) < 2 {
			continue
		}
		switch f[0] {
		case "-P":
			if table == "filter" && f[1] == "FORWARD" && len(f) > 2 && f[2] == "DROP" {
				drops = append(drops, fmt.Sprintf("%s -t filter -P FORWARD DROP", variant))
			}
			continue
		case "-A":
		default:
			continue
		}
		where := fmt.Sprintf("%s -t %s %s", variant, table, line)
		owner := nameOwner(f[1])
		if owner == "" {
			owner = nameOwner(jumpTarget(f))
		}
		if strings.HasPrefix(f[1], legacyPrefix) || strings.HasPrefix(jumpTarget(f), legacyPrefix) {
			continue // an older pathpin's: check says to remove it
		}
		hook := strings.ToLower(f[1])
		if !slices.Contains([]string{"prerouting", "input", "forward", "output", "postrouting"}, hook) {
			hook = ""
		}
		for _, u := range ruleMarkTokens(f) {
			u.Owner, u.Where, u.Priority, u.Before, u.Hook = owner, where, -1, table == "raw", hook
			users = append(users, u)
		}
	}
	return users, drops
}

// jumpTarget is the chain a rule jumps to, "" when none.
func jumpTarget(f []string) string {
	for i := 0; i+1 < len(f); i++ {
		if f[i] == "-j" || f[i] == "-g" {
			return f[i+1]
		}
	}
	return ""
}

// ruleMarkTokens are the mark tests and writes of one rule's words.
func ruleMarkTokens(f []string) []MarkUser {
	var out []MarkUser
	target := jumpTarget(f)
	for i := 0; i+1 < len(f); i++ {
		arg := f[i+1]
		switch f[i] {
		case "--mark":
			// -m mark [!] --mark V[/M] or -m connmark [!] --mark V[/M]
			if v, m, ok := parseValueMask(arg); ok {
				u := maskedUser(v, m, false)
				u.Negate = i > 0 && f[i-1] == "!"
				out = append(out, u)
			}
		case "--set-xmark", "--set-mark", "--tproxy-mark":
			if target != "MARK" && target != "CONNMARK" && target != "TPROXY" {
				continue
			}
			if v, m, ok := parseValueMask(arg); ok {
				out = append(out, maskedUser(v, m, true))
			}
		case "--or-mark", "--xor-mark":
			if v, err := parseUint32(arg); err == nil {
				out = append(out, MarkUser{Bits: v, Sets: true})
			}
		case "--and-mark":
			if v, err := parseUint32(arg); err == nil {
				out = append(out, MarkUser{Bits: ^v, Sets: true})
			}
		}
	}
	if u, ok := connmarkCopy(f, target); ok {
		out = append(out, u)
	}
	return out
}

// connmarkCopy is CONNMARK --save-mark or --restore-mark: the bits it
// copies into the connection's mark (--ctmask) or the packet's (--nfmask).
func connmarkCopy(f []string, target string) (MarkUser, bool) {
	if target != "CONNMARK" {
		return MarkUser{}, false
	}
	masks := map[string]uint32{"--nfmask": ^uint32(0), "--ctmask": ^uint32(0), "--mask": ^uint32(0)}
	restore, save := false, false
	for i, w := range f {
		switch w {
		case "--restore-mark":
			restore = true
		case "--save-mark":
			save = true
		case "--nfmask", "--ctmask", "--mask":
			if i+1 < len(f) {
				if v, err := parseUint32(f[i+1]); err == nil {
					masks[w] = v
				}
			}
		}
	}
	var written uint32
	switch {
	case restore:
		written = masks["--nfmask"] & masks["--mask"]
	case save:
		written = masks["--ctmask"] & masks["--mask"]
	default:
		return MarkUser{}, false
	}
	if written == ^uint32(0) {
		return MarkUser{Sets: true, Whole: true, Copy: true}, true
	}
	return MarkUser{Bits: written, Sets: true, Copy: true}, true
}

// maskedUser is a test or write of value under mask.
func maskedUser(value, mask uint32, sets bool) MarkUser {
	switch {
	case mask == ^uint32(0) && value == 0 && !sets:
		return MarkUser{Whole: true} // no mark at all: takes no bits
	case mask == ^uint32(0):
		return MarkUser{Bits: value, Value: value, Sets: sets, Whole: true}
	case sets:
		// (mark and not M) xor V: the bits of M and of V change.
		return MarkUser{Bits: mask | value, Value: value, Sets: true}
	}
	return MarkUser{Bits: mask, Value: value}
}

// parseValueMask reads V or V/M (iptables' hexadecimal or decimal).
func parseValueMask(s string) (value, mask uint32, ok bool) {
	vs, ms, hasMask := strings.Cut(s, "/")
	v, err := parseUint32(vs)
	if err != nil {
		return 0, 0, false
	}
	m := ^uint32(0)
	if hasMask {
		if m, err = parseUint32(ms); err != nil {
			return 0, 0, false
		}
	}
	return v, m, true
}

func parseUint32(s string) (uint32, error) {
	v, err := strconv.ParseUint(s, 0, 32)
	return uint32(v), err
}
