package notify

import (
	"errors"
	"fmt"
	"net/url"
	"strings"
	"text/template"
	"time"
)

// Defaults and bounds of a Hook's settings.
const (
	DefaultTimeout  = 5 * time.Second
	DefaultRetries  = 3
	DefaultDebounce = 10 * time.Second

	minTimeout  = time.Second
	maxTimeout  = time.Minute
	maxRetries  = 10
	maxDebounce = 10 * time.Minute
)

// A Hook is a webhook to tell of uplink state changes.
type Hook struct {
	// URL is where to POST: http or https, with a host.
	URL string
	// Timeout bounds each POST, from 1s to 60s; 0 means DefaultTimeout.
	Timeout time.Duration
	// Retries is how many times a POST that failed for a reason that may
	// pass (5xx, 429, no answer) is tried again, from 0 to 10. 0 means
	// none: NewHook gives DefaultRetries.
	Retries int
	// Debounce is how long an uplink must be quiet before its changes are
	// sent, from 0 to 10m (see the package's documentation). 0 sends each
	// change at once: NewHook gives DefaultDebounce.
	Debounce time.Duration
	// Headers are added to each POST (an Authorization, ntfy's Title…);
	// they replace the defaults of the same name (Content-Type,
	// User-Agent). Their values are never logged.
	Headers map[string]string
	// Body, when not empty, is a text/template over the Event that makes
	// the POST's body. It is sent as application/json when its output is
	// a JSON object or array, as text/plain otherwise (a Content-Type in
	// Headers overrides either). The template has the functions json (a
	// value as JSON: a string quoted and escaped) and rfc3339 (a time).
	// An empty Body sends the Event as JSON.
	Body string
}

// NewHook returns a Hook for url with the default timeout, retries and
// debounce.
func NewHook(url string) Hook {
	return Hook{URL: url, Timeout: DefaultTimeout, Retries: DefaultRetries, Debounce: DefaultDebounce}
}

// Validate says what is wrong with the hook, if anything; the URL in its
// errors is redacted.
func (h Hook) Validate() error {
	_, err := h.compile()
	return err
}

// withDefaults returns h with a zero Timeout made DefaultTimeout.
func (h Hook) withDefaults() Hook {
	if h.Timeout == 0 {
		h.Timeout = DefaultTimeout
	}
	return h
}

// compile checks h and parses its body template (nil for an empty Body).
func (h Hook) compile() (*template.Template, error) {
	name := Redact(h.URL)
	fail := func(format string, a ...any) error {
		return fmt.Errorf("notify hook %s: "+format, append([]any{name}, a...)...)
	}
	if err := checkURL(h.URL); err != nil {
		return nil, fail("%w", err)
	}
	h = h.withDefaults()
	if h.Timeout < minTimeout || h.Timeout > maxTimeout {
		return nil, fail("timeout %s is out of range: give one from %s to %s (0 for %s)", h.Timeout, minTimeout, maxTimeout, DefaultTimeout)
	}
	if h.Retries < 0 || h.Retries > maxRetries {
		return nil, fail("retries %d is out of range: give 0 to %d", h.Retries, maxRetries)
	}
	if h.Debounce < 0 || h.Debounce > maxDebounce {
		return nil, fail("debounce %s is out of range: give 0 (none) to %s", h.Debounce, maxDebounce)
	}
	for k, v := range h.Headers {
		if !validHeaderName(k) {
			return nil, fail("header name %q is not valid: use letters, digits and dashes", k)
		}
		if !validHeaderValue(v) {
			return nil, fail("the value of header %q is not valid: remove its control characters and line breaks", k)
		}
	}
	if h.Body == "" {
		return nil, nil
	}
	t, err := parseBody(h.Body)
	if err != nil {
		return nil, fail("%w", err)
	}
	return t, nil
}

// checkURL checks that raw is an http or https URL with a host, without
// putting raw in its errors.
func checkURL(raw string) error {
	if raw == "" {
		return errors.New("no URL: give the http or https URL to POST to")
	}
	u, err := url.Parse(raw)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err // without the URL
		} else {
			err = errors.New("it does not parse")
		}
		return fmt.Errorf("the URL is not valid (%w): give an http or https URL", err)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return fmt.Errorf("URL scheme %q is not http or https: give an http or https URL", u.Scheme)
	}
	if u.Hostname() == "" {
		return errors.New("the URL has no host: give one, as in https://ntfy.sh/mytopic")
	}
	return nil
}

// validHeaderName says whether k is an HTTP field name: a token.
func validHeaderName(k string) bool {
	return k != "" && !strings.ContainsFunc(k, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("!#$%&'*+-.^_`|~", r))
	})
}

// validHeaderValue says whether v may be an HTTP field value: no control
// characters but tabs.
func validHeaderValue(v string) bool {
	return !strings.ContainsFunc(v, func(r rune) bool { return r < ' ' && r != '\t' || r == 0x7f })
}
