package daemon

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// TestStatusPageFollowsAFailover: headless Chromium shows the status page
// pathpin web serves on the LAN (unprivileged), with the real daemon
// behind it; an uplink's carrier lost shows as down on the page within
// 2 s. The screenshot is kept in $PATHPIN_ARTIFACTS.
func TestStatusPageFollowsAFailover(t *testing.T) {
	bin, err := exec.LookPath("chromium")
	if err != nil {
		t.Skip("no chromium binary in PATH (on Debian: apt-get install chromium): the page is not tested in a browser")
	}
	l := prepareLab(t, 1, 1, fastHealth)
	l.start("--status-group", "nogroup", "--history-step", "1s")
	l.waitState("ispa", "up", 10*time.Second)
	l.waitState("ispb", "up", 10*time.Second)
	openToOthers(t, l.runDir)
	startWeb(t, l, l.cfg, "10.0.0.1:9430", "65534")
	// The browser runs here; it reaches the page on the LAN through a
	// proxy into the client's namespace.
	target, _ := url.Parse("http://10.0.0.1:9430")
	proxy := httputil.NewSingleHostReverseProxy(target)
	proxy.Transport = httpIn(l.Client).Transport
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: proxy}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { srv.Close() })

	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(bin), chromedp.WindowSize(1280, 900), chromedp.Flag("lang", "en-US"))
	if os.Geteuid() == 0 {
		opts = append(opts, chromedp.NoSandbox)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	actx, cancelAlloc := chromedp.NewExecAllocator(ctx, opts...)
	defer cancelAlloc()
	bctx, cancelBrowser := chromedp.NewContext(actx)
	defer cancelBrowser()
	if err := chromedp.Do(bctx, chromedp.Navigate("http://"+ln.Addr().String()+"/")); err != nil {
		t.Fatal(err)
	}
	stateOf := func(name string) string {
		return fmt.Sprintf(`(() => { for (const c of document.querySelectorAll("#uplinks .uplink")) {
			if (c.querySelector(".name").textContent === %q) return c.querySelector(".state").textContent; } return ""; })()`, name)
	}
	waitFor := func(what, js string, within time.Duration) time.Duration {
		t.Helper()
		start := time.Now()
		if _, err := chromedp.Run(bctx, chromedp.Poll[bool](js, chromedp.WithPollingInterval(20*time.Millisecond), chromedp.WithPollingTimeout(within))); err != nil {
			t.Fatalf("the page: %s within %s: %v\n%s", what, within, err, l.logText())
		}
		return time.Since(start)
	}
	waitFor("ispb up", stateOf("ispb")+` === "up"`, 15*time.Second)

	l.ISPs[1].Run("ip", "link", "set", "cpe", "down")
	took := waitFor("ispb down", stateOf("ispb")+` === "down"`, 2*time.Second)
	t.Logf("carrier lost → the page shows ispb down after %s", took.Round(time.Millisecond))
	waitFor("the change in the timeline", `[...document.querySelectorAll("#events li")].some((li) => li.textContent.includes("ispb"))`, 12*time.Second)

	png, err := chromedp.Run(bctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatal(err)
	}
	dir := os.Getenv("PATHPIN_ARTIFACTS")
	if dir == "" {
		dir = t.TempDir()
	}
	path := filepath.Join(dir, "status-page-failover.png")
	if err := os.WriteFile(path, png, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot: %s", path)
}
