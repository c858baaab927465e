package setup

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
)

// Migrate reads a pppoeconf set-up: the peer PPPDir/peers/peer and the
// login's secret from chap-secrets or pap-secrets. It says on out what
// pathpin handles itself and what it does not understand, so nothing is
// dropped silently. The password is "" when no secret was found.
func Migrate(pppDir, peer string, out io.Writer) (*Peer, string, error) {
	path := filepath.Join(pppDir, "peers", peer)
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, "", fmt.Errorf("init: reading the pppd peer %s (give another with --peer NAME or --ppp-dir DIR): %w", path, err)
	}
	p, err := ParsePeer(string(data))
	if err != nil {
		return nil, "", fmt.Errorf("init: %s: %w", path, err)
	}
	fmt.Fprintf(out, "From %s: PPPoE on %s, user %q\n", path, vlanName(p.Interface, p.VLAN), p.User)
	if len(p.Handled) > 0 {
		fmt.Fprintln(out, "  handled by pathpin:")
		for _, o := range p.Handled {
			fmt.Fprintf(out, "    %s\n", o)
		}
	}
	if len(p.Unknown) > 0 {
		fmt.Fprintln(out, "  not understood, so not carried over (check whether you need them):")
		for _, o := range p.Unknown {
			fmt.Fprintf(out, "    %s\n", o)
		}
	}
	password := p.Password
	var from string
	for _, name := range []string{"chap-secrets", "pap-secrets"} {
		f := filepath.Join(pppDir, name)
		data, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		s, ok := FindSecret(ParseSecrets(string(data)), p.User)
		if !ok {
			continue
		}
		switch {
		case from == "" && password == "":
			password, from = s.Secret, f
		case from != "" && s.Secret != password:
			fmt.Fprintf(out, "  note: %s and %s hold different passwords for %q; using the one in %s\n", from, f, p.User, from)
		}
	}
	switch {
	case from != "":
		fmt.Fprintf(out, "  password: taken from %s\n", from)
	case password != "":
		fmt.Fprintf(out, "  password: taken from the peer's `password` option\n")
	default:
		fmt.Fprintf(out, "  password: none found for %q in %s or %s\n", p.User, filepath.Join(pppDir, "chap-secrets"), filepath.Join(pppDir, "pap-secrets"))
	}
	return p, password, nil
}
