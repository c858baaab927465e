package setup

// A Secret is one entry of pppd's chap-secrets or pap-secrets.
type Secret struct {
	Client, Server, Secret string
	Line                   int
}

// ParseSecrets reads a chap-secrets or pap-secrets file: one entry per
// line (client, server, secret, then optional addresses), fields quoted or
// not, '#' comments (pppoeconf comments out the entries it replaces).
func ParseSecrets(text string) []Secret {
	var out []Secret
	for _, l := range lines(words(text)) {
		if len(l) < 3 {
			continue
		}
		out = append(out, Secret{Client: l[0].text, Server: l[1].text, Secret: l[2].text, Line: l[0].line})
	}
	return out
}

// FindSecret returns user's secret the way pppd picks it: an entry for
// that client whose server is the wildcard or any name, the first of the
// best kind (a wildcard server first, as pppoeconf writes them).
func FindSecret(entries []Secret, user string) (Secret, bool) {
	var best Secret
	found := false
	for _, e := range entries {
		if e.Client != user {
			continue
		}
		if !found || (best.Server != "*" && e.Server == "*") {
			best, found = e, true
		}
	}
	return best, found
}
