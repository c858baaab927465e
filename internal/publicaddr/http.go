package publicaddr

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"time"

	"github.com/pathpin/pathpin/internal/health"
)

// maxEcho is the most of an HTTP echo's body read: an address with some
// white space fits many times over.
const maxEcho = 256

// maxRedirects is how many redirects an HTTP echo may answer with (from
// http to https, say) before the address.
const maxRedirects = 3

// HTTP asks the HTTP echo at rawURL (http or https) for the address a
// request from path arrives from, and returns it. The echo must answer
// 200 with one IPv4 address as plain text, white space around it
// allowed, in at most 256 bytes. It connects over IPv4 only, from path's
// device, source address and mark, and never by a proxy (a proxy's
// address is not the uplink's). A host name is resolved by the system's
// resolver.
func HTTP(ctx context.Context, path health.Path, rawURL string) (netip.Addr, error) {
	if err := checkURL(rawURL); err != nil {
		return netip.Addr{}, err
	}
	d := path.Dialer("tcp4")
	tr := &http.Transport{
		Proxy: nil,
		DialContext: func(ctx context.Context, _, addr string) (net.Conn, error) {
			return d.DialContext(ctx, "tcp4", addr)
		},
		DisableKeepAlives:      true,
		TLSHandshakeTimeout:    10 * time.Second,
		MaxResponseHeaderBytes: 16 << 10,
	}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr, CheckRedirect: func(_ *http.Request, via []*http.Request) error {
		if len(via) > maxRedirects {
			return fmt.Errorf("more than %d redirects", maxRedirects)
		}
		return nil
	}}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, rawURL, nil)
	if err != nil {
		return netip.Addr{}, fmt.Errorf("HTTP echo %q: %w", rawURL, err)
	}
	req.Header.Set("User-Agent", "pathpin")
	req.Header.Set("Accept", "text/plain")
	resp, err := client.Do(req)
	if err != nil {
		return netip.Addr{}, fmt.Errorf("%w from HTTP echo %s%s: %w (check the URL, and that the uplink reaches it)", ErrNoAnswer, rawURL, via(path), err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return netip.Addr{}, fmt.Errorf("HTTP echo %s%s: %w: status %s, not 200 with the address as plain text (check the URL)", rawURL, via(path), ErrBadAnswer, resp.Status)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxEcho+1))
	if err != nil {
		return netip.Addr{}, fmt.Errorf("%w from HTTP echo %s%s: reading its answer: %w", ErrNoAnswer, rawURL, via(path), err)
	}
	addr, err := parseEcho(body)
	if err != nil {
		return netip.Addr{}, fmt.Errorf("HTTP echo %s%s: %w; use an echo that answers the caller's address alone", rawURL, via(path), err)
	}
	return addr, nil
}

// parseEcho reads an HTTP echo's body: one IPv4 address, white space
// around it allowed.
func parseEcho(body []byte) (netip.Addr, error) {
	if len(body) > maxEcho {
		return netip.Addr{}, fmt.Errorf("%w: an answer longer than %d bytes", ErrBadAnswer, maxEcho)
	}
	text := bytes.TrimSpace(body)
	addr, err := netip.ParseAddr(string(text))
	if err != nil {
		return netip.Addr{}, fmt.Errorf("%w: %s is not an IP address", ErrBadAnswer, quote(text))
	}
	if err := checkAddr(addr); err != nil {
		return netip.Addr{}, fmt.Errorf("%w: %w", ErrBadAnswer, err)
	}
	return addr, nil
}

// checkURL accepts an absolute http or https URL with a host.
func checkURL(rawURL string) error {
	u, err := url.Parse(rawURL)
	if err != nil {
		return fmt.Errorf("HTTP echo %q: %w (want a URL such as https://api.ipify.org)", rawURL, err)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return fmt.Errorf("HTTP echo %q: want an http:// or https:// URL, such as https://api.ipify.org", rawURL)
	}
	if u.Hostname() == "" {
		return fmt.Errorf("HTTP echo %q: the URL has no host (want one such as https://api.ipify.org)", rawURL)
	}
	if a, err := netip.ParseAddr(u.Hostname()); err == nil && !a.Is4() {
		return fmt.Errorf("HTTP echo %q: %s is not an IPv4 address; an uplink's public IPv4 address is only seen over IPv4", rawURL, a)
	}
	return nil
}
