package notify

import (
	"net/url"
	"slices"
	"strings"
	"unicode"
)

// redacted stands in for what is not shown.
const redacted = "REDACTED"

// minTokenLen is the length from which a path segment with both letters
// and digits is taken for a token.
const minTokenLen = 20

// Redact returns raw fit for a log: user info, query and fragment
// replaced, the token of a Telegram bot path (/bot<token>/) replaced, and
// so is any path segment of 20 characters or more that holds both a
// letter and a digit (a Slack or Discord webhook's key, a UUID). A string
// that does not parse as a URL is not shown at all.
func Redact(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "(a URL that does not parse)"
	}
	if u.User != nil {
		u.User = url.User(redacted)
	}
	if u.RawQuery != "" || u.ForceQuery {
		u.RawQuery, u.ForceQuery = redacted, false
	}
	u.Fragment, u.RawFragment = "", ""
	if u.Opaque != "" {
		u.Opaque = redacted
	}
	segs := strings.Split(u.EscapedPath(), "/")
	for i, s := range segs {
		if plain := unescapeSegment(s); isSecret(plain) {
			segs[i] = redactSegment(plain)
		}
	}
	u.RawPath = strings.Join(segs, "/")
	if p, err := url.PathUnescape(u.RawPath); err == nil {
		u.Path = p
	}
	return u.String()
}

// unescapeSegment is escaped path segment s unescaped (an escaped slash
// stays in it), or s itself if it does not unescape.
func unescapeSegment(s string) string {
	if p, err := url.PathUnescape(s); err == nil {
		return p
	}
	return s
}

// isSecret says whether path segment s holds a secret.
func isSecret(s string) bool {
	_, ok := secretSegment(s)
	return ok
}

// secretSegment returns the secret in path segment s, if it holds one.
func secretSegment(s string) (string, bool) {
	if tok, ok := strings.CutPrefix(s, "bot"); ok && tok != "" {
		return tok, true
	}
	if len(s) >= minTokenLen && strings.ContainsFunc(s, unicode.IsDigit) && strings.ContainsFunc(s, unicode.IsLetter) {
		return s, true
	}
	return "", false
}

// redactSegment is path segment s, which holds a secret, as shown.
func redactSegment(s string) string {
	if strings.HasPrefix(s, "bot") {
		return "bot" + redacted
	}
	return redacted
}

// minSecretLen is the length from which a part of a URL is scrubbed from
// text: shorter ones (a chat id "1") would take too much with them.
const minSecretLen = 6

// A redactor scrubs a URL's secrets from text that may echo them: an
// error from the HTTP client, an answer's body.
type redactor struct {
	shown   string   // the URL, redacted
	raw     string   // the URL as given
	secrets []string // its secret parts, longest first
}

// newRedactor returns a redactor for the secrets of URL raw.
func newRedactor(raw string) redactor {
	r := redactor{shown: Redact(raw), raw: raw}
	add := func(s string) {
		if len(s) < minSecretLen {
			return
		}
		r.secrets = append(r.secrets, s)
		for _, e := range []string{url.QueryEscape(s), url.PathEscape(s)} {
			if e != s {
				r.secrets = append(r.secrets, e)
			}
		}
	}
	if u, err := url.Parse(raw); err == nil {
		if u.User != nil {
			add(u.User.String())
			add(u.User.Username())
			p, _ := u.User.Password()
			add(p)
		}
		add(u.RawQuery)
		for _, vs := range u.Query() {
			for _, v := range vs {
				add(v)
			}
		}
		add(u.Fragment)
		add(u.Opaque)
		for _, s := range strings.Split(u.EscapedPath(), "/") {
			if tok, ok := secretSegment(unescapeSegment(s)); ok {
				add(tok)
			}
		}
	}
	slices.SortFunc(r.secrets, func(a, b string) int {
		if len(a) != len(b) {
			return len(b) - len(a)
		}
		return strings.Compare(a, b)
	})
	r.secrets = slices.Compact(r.secrets)
	return r
}

// scrub returns s with the URL replaced by its redacted form and each of
// its secrets found elsewhere replaced.
func (r redactor) scrub(s string) string {
	if r.raw != "" {
		s = strings.ReplaceAll(s, r.raw, r.shown)
	}
	for _, sec := range r.secrets {
		s = strings.ReplaceAll(s, sec, redacted)
	}
	return s
}
