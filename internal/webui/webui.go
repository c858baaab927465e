// Package webui is the status page of `pathpin web`: one HTML page, its
// stylesheet, its script and its icon, all embedded in the binary. The page
// is read-only. It polls the JSON that the rest of `pathpin web` serves on
// the same origin, /api/status (a status.Report) every second and
// /api/history every ten seconds, and draws everything itself: no
// framework, no build step, nothing fetched from elsewhere.
//
// The page's URLs are relative ("static/app.js", "api/status"), so it works
// at the root of a server and behind a path prefix alike.
package webui

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"io/fs"
	"net/http"
	"path"
	"strconv"
	"strings"
	"sync"
	"time"
)

//go:embed assets
var assets embed.FS

// CSP is the Content-Security-Policy of every answer: the page's own
// script, stylesheet, images and JSON, and nothing else: no inline script
// or style, no other origin, no frames.
const CSP = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; " +
	"connect-src 'self'; manifest-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

// contentTypes are the types of the assets, by extension. An embedded file
// of another type is a mistake: the first Handler call panics on it (and
// the package's tests call it).
var contentTypes = map[string]string{
	".html": "text/html; charset=utf-8",
	".css":  "text/css; charset=utf-8",
	".js":   "text/javascript; charset=utf-8",
	".svg":  "image/svg+xml",
}

// asset is one embedded file as served.
type asset struct {
	ctype string
	body  []byte
	gz    []byte // gzipped body; nil when that is no smaller
	hash  string // of body, hex, short: the ?v= of the page's links
}

// site is the page and its assets, ready to serve: made on the first
// Handler call, not at every start of the program.
type site struct {
	index  *asset
	static map[string]*asset // by name under static/
}

var loadSite = sync.OnceValue(func() *site {
	s := &site{static: map[string]*asset{}}
	err := fs.WalkDir(assets, "assets/static", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		a, err := load(p)
		if err != nil {
			return err
		}
		s.static[strings.TrimPrefix(p, "assets/static/")] = a
		return nil
	})
	if err != nil {
		panic("webui: " + err.Error())
	}
	if s.index, err = load("assets/index.html"); err != nil {
		panic("webui: " + err.Error())
	}
	// The page links each asset with its content hash, so that a browser
	// may keep an asset for good and still never use a stale one.
	for name, a := range s.static {
		ref := `"static/` + name + `"`
		s.index.body = bytes.ReplaceAll(s.index.body, []byte(ref), []byte(`"static/`+name+`?v=`+a.hash+`"`))
	}
	s.index.seal()
	return s
})

func load(p string) (*asset, error) {
	body, err := assets.ReadFile(p)
	if err != nil {
		return nil, err
	}
	ctype, ok := contentTypes[path.Ext(p)]
	if !ok {
		return nil, &fs.PathError{Op: "serve", Path: p, Err: fs.ErrInvalid}
	}
	a := &asset{ctype: ctype, body: body}
	a.seal()
	return a, nil
}

// seal computes the hash and the gzipped form of the body.
func (a *asset) seal() {
	sum := sha256.Sum256(a.body)
	a.hash = hex.EncodeToString(sum[:8])
	var b bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&b, gzip.BestCompression)
	zw.Write(a.body)
	zw.Close()
	a.gz = nil
	if b.Len() < len(a.body) {
		a.gz = b.Bytes()
	}
}

// Handler serves the page at / and its assets under /static/. Any other
// path is not found; any method but GET and HEAD is refused.
func Handler() http.Handler {
	s := loadSite()
	return http.HandlerFunc(s.serve)
}

func (s *site) serve(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Content-Security-Policy", CSP)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("X-Frame-Options", "DENY")
	var a *asset
	switch p := r.URL.Path; {
	case p == "/":
		a = s.index
	case strings.HasPrefix(p, "/static/"):
		a = s.static[strings.TrimPrefix(p, "/static/")]
	}
	if a == nil {
		http.NotFound(w, r)
		return
	}
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		h.Set("Allow", "GET, HEAD")
		http.Error(w, "read-only", http.StatusMethodNotAllowed)
		return
	}
	h.Set("Content-Type", a.ctype)
	if a != s.index && r.URL.Query().Get("v") == a.hash {
		// The page's own link: this URL never names other content.
		h.Set("Cache-Control", "public, max-age=31536000, immutable")
	} else {
		h.Set("Cache-Control", "no-cache")
	}
	body, etag := a.body, `"`+a.hash+`"`
	if a.gz != nil {
		h.Add("Vary", "Accept-Encoding")
		if acceptsGzip(r.Header.Get("Accept-Encoding")) {
			body, etag = a.gz, `"`+a.hash+`.gz"`
			h.Set("Content-Encoding", "gzip")
		}
	}
	h.Set("ETag", etag)
	// ServeContent answers If-None-Match with 304, HEAD and ranges.
	http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(body))
}

// acceptsGzip tells whether an Accept-Encoding value takes gzip (and not
// with q=0).
func acceptsGzip(v string) bool {
	for part := range strings.SplitSeq(v, ",") {
		coding, params, _ := strings.Cut(part, ";")
		if c := strings.TrimSpace(coding); c != "gzip" && c != "*" {
			continue
		}
		if q, ok := strings.CutPrefix(strings.ReplaceAll(params, " ", ""), "q="); ok {
			f, err := strconv.ParseFloat(q, 64)
			return err == nil && f > 0
		}
		return true
	}
	return false
}
