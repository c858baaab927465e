package webui

import (
	"bytes"
	"compress/gzip"
	"io"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
)

func get(t *testing.T, h http.Handler, method, target string, header ...string) *http.Response {
	t.Helper()
	req := httptest.NewRequest(method, target, nil)
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec.Result()
}

func checkSecurityHeaders(t *testing.T, target string, res *http.Response) {
	t.Helper()
	if got := res.Header.Get("Content-Security-Policy"); got != CSP {
		t.Errorf("%s: Content-Security-Policy %q, want %q", target, got, CSP)
	}
	if got := res.Header.Get("X-Content-Type-Options"); got != "nosniff" {
		t.Errorf("%s: X-Content-Type-Options %q", target, got)
	}
}

func TestCSPIsStrict(t *testing.T) {
	for _, want := range []string{"default-src 'none'", "script-src 'self'", "style-src 'self'", "connect-src 'self'", "img-src 'self'", "frame-ancestors 'none'"} {
		if !strings.Contains(CSP, want) {
			t.Errorf("CSP lacks %q: %s", want, CSP)
		}
	}
	for _, bad := range []string{"unsafe", "*", "data:", "http", "blob:"} {
		if strings.Contains(CSP, bad) {
			t.Errorf("CSP allows %q: %s", bad, CSP)
		}
	}
}

func TestAssets(t *testing.T) {
	h := Handler()
	want := map[string]string{
		"/":                "text/html; charset=utf-8",
		"/static/app.js":   "text/javascript; charset=utf-8",
		"/static/app.css":  "text/css; charset=utf-8",
		"/static/icon.svg": "image/svg+xml",
	}
	static := loadSite().static
	if len(static) != len(want)-1 {
		t.Errorf("%d static assets, the test knows %d", len(static), len(want)-1)
	}
	pageRes := get(t, h, "GET", "/")
	pageBody, _ := io.ReadAll(pageRes.Body)
	for target, ctype := range want {
		res := get(t, h, "GET", target)
		body, _ := io.ReadAll(res.Body)
		if res.StatusCode != 200 {
			t.Fatalf("GET %s: %s", target, res.Status)
		}
		if got := res.Header.Get("Content-Type"); got != ctype {
			t.Errorf("GET %s: Content-Type %q, want %q", target, got, ctype)
		}
		checkSecurityHeaders(t, target, res)
		if res.Header.Get("Cache-Control") != "no-cache" {
			t.Errorf("GET %s: Cache-Control %q", target, res.Header.Get("Cache-Control"))
		}
		etag := res.Header.Get("ETag")
		if !regexp.MustCompile(`^"[0-9a-f]{16}"$`).MatchString(etag) {
			t.Errorf("GET %s: ETag %q", target, etag)
		}
		if len(body) == 0 {
			t.Errorf("GET %s: empty", target)
		}
		// Revalidation costs a 304 and no body.
		res = get(t, h, "GET", target, "If-None-Match", etag)
		if res.StatusCode != http.StatusNotModified {
			t.Errorf("GET %s If-None-Match: %s", target, res.Status)
		}
		checkSecurityHeaders(t, target+" (304)", res)
		// The compressed form, when there is one, is the same content.
		res = get(t, h, "GET", target, "Accept-Encoding", "gzip, br")
		if res.Header.Get("Content-Encoding") == "gzip" {
			zr, err := gzip.NewReader(res.Body)
			if err != nil {
				t.Fatal(err)
			}
			unzipped, _ := io.ReadAll(zr)
			if !bytes.Equal(unzipped, body) || res.Header.Get("ETag") == etag || res.Header.Get("Vary") != "Accept-Encoding" {
				t.Errorf("GET %s gzip: %d bytes unzipped, want %d; ETag %q; Vary %q", target, len(unzipped), len(body),
					res.Header.Get("ETag"), res.Header.Get("Vary"))
			}
			if res.Header.Get("Content-Type") != ctype {
				t.Errorf("GET %s gzip: Content-Type %q", target, res.Header.Get("Content-Type"))
			}
		}
		if target == "/" {
			continue
		}
		// The page links the asset by its content, and that URL is kept.
		name := strings.TrimPrefix(target, "/static/")
		versioned := "static/" + name + "?v=" + static[name].hash
		if !bytes.Contains(pageBody, []byte(`"`+versioned+`"`)) {
			t.Errorf("the page does not link %s", versioned)
		}
		res = get(t, h, "GET", "/"+versioned)
		if res.StatusCode != 200 || res.Header.Get("Cache-Control") != "public, max-age=31536000, immutable" {
			t.Errorf("GET /%s: %s, Cache-Control %q", versioned, res.Status, res.Header.Get("Cache-Control"))
		}
		res = get(t, h, "GET", target+"?v=stale")
		if res.Header.Get("Cache-Control") != "no-cache" {
			t.Errorf("GET %s?v=stale: Cache-Control %q", target, res.Header.Get("Cache-Control"))
		}
	}
	for _, target := range []string{"/index.html", "/static/", "/static/nope.js", "/static/../webui.go", "/api/status"} {
		res := get(t, h, "GET", target)
		if res.StatusCode != http.StatusNotFound {
			t.Errorf("GET %s: %s, want 404", target, res.Status)
		}
		checkSecurityHeaders(t, target, res)
	}
	for _, method := range []string{"POST", "PUT", "DELETE"} {
		res := get(t, h, method, "/")
		if res.StatusCode != http.StatusMethodNotAllowed || res.Header.Get("Allow") != "GET, HEAD" {
			t.Errorf("%s /: %s, Allow %q", method, res.Status, res.Header.Get("Allow"))
		}
	}
	res := get(t, h, "HEAD", "/static/app.js")
	if body, _ := io.ReadAll(res.Body); res.StatusCode != 200 || len(body) != 0 || res.Header.Get("Content-Length") == "" {
		t.Errorf("HEAD: %s, %d bytes, Content-Length %q", res.Status, len(body), res.Header.Get("Content-Length"))
	}
}

// The page loads nothing from elsewhere and runs nothing inline: every
// embedded file is checked as it is.
func TestNothingExternalNothingInline(t *testing.T) {
	static := loadSite().static
	total := 0
	err := fs.WalkDir(assets, "assets", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := assets.ReadFile(p)
		if err != nil {
			return err
		}
		total += len(b)
		// The SVG namespace is a name that nothing fetches; it must be
		// written out in an .svg file and in createElementNS.
		s := strings.ReplaceAll(string(b), "http://www.w3.org/2000/svg", "")
		for _, bad := range []string{"http://", "https://", "//cdn", "@import", "url(", "innerHTML", "outerHTML",
			"insertAdjacentHTML", "document.write", "eval(", "new Function", "fonts.", "@font-face"} {
			if strings.Contains(s, bad) {
				t.Errorf("%s contains %q", p, bad)
			}
		}
		if strings.HasSuffix(p, ".js") {
			// Styles come from app.css only: an inline style is refused.
			for _, bad := range []string{".style", `"style"`, "cssText"} {
				if strings.Contains(s, bad) {
					t.Errorf("%s sets an inline style (%q)", p, bad)
				}
			}
		}
		if strings.HasSuffix(p, ".html") {
			// No inline script or style, no handler attributes.
			for _, m := range regexp.MustCompile(`<script[^>]*>([^<]*)</script>`).FindAllStringSubmatch(s, -1) {
				if !strings.Contains(m[0], ` src="static/`) || strings.TrimSpace(m[1]) != "" {
					t.Errorf("%s: inline script: %q", p, m[0])
				}
			}
			if n := strings.Count(s, "<script"); n != 1 {
				t.Errorf("%s: %d script elements, want the one of app.js", p, n)
			}
			for _, re := range []string{`<style`, `\sstyle=`, `\son[a-z]+=`, `javascript:`} {
				if m := regexp.MustCompile(re).FindString(s); m != "" {
					t.Errorf("%s: inline code or style: %q", p, m)
				}
			}
			// Every link is one of the page's own assets.
			for _, m := range regexp.MustCompile(`(?:src|href)="([^"]*)"`).FindAllStringSubmatch(s, -1) {
				if _, ok := static[strings.TrimPrefix(m[1], "static/")]; !ok || !strings.HasPrefix(m[1], "static/") {
					t.Errorf("%s links %q, not an embedded asset", p, m[1])
				}
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("embedded assets: %d bytes", total)
}

func TestAcceptsGzip(t *testing.T) {
	for v, want := range map[string]bool{
		"":                  false,
		"gzip":              true,
		"gzip, deflate, br": true,
		"br, gzip;q=0.5":    true,
		"gzip;q=0":          false,
		"gzip; q=0.000":     false,
		"identity":          false,
		"*":                 true,
		"deflate, *;q=0":    false,
	} {
		if got := acceptsGzip(v); got != want {
			t.Errorf("acceptsGzip(%q) = %v", v, got)
		}
	}
}
