package webui

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
	"github.com/pathpin/pathpin/internal/status"
)

// The reason a kernel or a network gives is text: shown, never parsed.
const hostileReason = `recovered <img src=x onerror="window.pwned=1"><b>bold</b> & "quoted"`

// fakeAPI serves what the rest of `pathpin web` serves: the status report
// and the history, with two uplinks.
type fakeAPI struct {
	mu       sync.Mutex
	start    time.Time
	end      time.Time // the minute after the last history point
	plusnet  string    // plusnet's state now
	changes  []event
	failing  bool
	statuses int
}

type point struct {
	T        time.Time `json:"t"`
	RTTP50   *float64  `json:"rtt_p50_ms"`
	RTTMax   *float64  `json:"rtt_max_ms"`
	Loss     float64   `json:"loss"`
	State    string    `json:"state"`
	NewConns int       `json:"new_conns"`
	Flows    int       `json:"flows"`
	BytesIn  uint64    `json:"bytes_in"`
	BytesOut uint64    `json:"bytes_out"`
}

type event struct {
	At     time.Time `json:"at"`
	Uplink string    `json:"uplink"`
	From   string    `json:"from"`
	To     string    `json:"to"`
	Reason string    `json:"reason"`
}

func newFakeAPI() *fakeAPI {
	now := time.Now()
	end := now.Truncate(time.Minute)
	return &fakeAPI{start: now, end: end, plusnet: "up", changes: []event{
		{At: end.Add(-40 * time.Minute), Uplink: "plusnet", From: "up", To: "down", Reason: "3 probes missed: 1.1.1.1, 9.9.9.9 silent"},
		{At: end.Add(-37 * time.Minute), Uplink: "plusnet", From: "down", To: "recovering", Reason: "probes answered"},
		{At: end.Add(-35 * time.Minute), Uplink: "plusnet", From: "recovering", To: "up", Reason: hostileReason},
	}}
}

func (f *fakeAPI) setPlusnet(state, reason string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.changes = append(f.changes, event{At: time.Now(), Uplink: "plusnet", From: f.plusnet, To: state, Reason: reason})
	f.plusnet = state
}

func (f *fakeAPI) setFailing(b bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.failing = b
}

func (f *fakeAPI) serve(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.failing {
		http.Error(w, "pathpin up is restarting", http.StatusServiceUnavailable)
		return
	}
	var v any
	switch r.URL.Path {
	case "/api/status":
		v = f.status()
	case "/api/history":
		v = f.history()
	default:
		http.NotFound(w, r)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(v)
}

func (f *fakeAPI) status() any {
	f.statuses++
	secs := time.Since(f.start).Seconds()
	flows1, flows2 := 40, 12
	rtt1, rtt2, loss := 9.75, 21.5, 0.0
	last := f.changes[len(f.changes)-1]
	r := status.Report{Source: "daemon", Uplinks: []status.Uplink{
		{Name: "talktalk", State: "up", Since: f.start.Add(-26 * time.Hour), Interface: "eth1", Local: "192.0.2.10",
			Gateway: "192.0.2.1", Weight: 2, Table: 101, Mark: "0x100", Flows: &flows1,
			RxBytes: uint64(4e9 + secs*2.5e6), TxBytes: uint64(1e9 + secs*0.5e6), RTTMillis: &rtt1, Loss: &loss, Probes: 60,
			Usage: &status.Usage{Since: f.start.Add(-10 * 24 * time.Hour), In: 123e9, Out: 21e9, Cap: 500e9}},
		{Name: "plusnet", State: f.plusnet, Since: last.At, Reason: last.Reason, Interface: "ppp0", Local: "198.51.100.20",
			Gateway: "198.51.100.1", Weight: 1, Table: 102, Mark: "0x200", Flows: &flows2,
			RxBytes: uint64(2e9 + secs*1e6), TxBytes: uint64(3e8 + secs*0.2e6), RTTMillis: &rtt2, Loss: &loss, Probes: 60,
			Session:    &status.Session{ID: 4242, ACName: "bras-1", ACMAC: "00:00:5e:00:53:01"},
			LastChange: &status.Change{At: last.At, From: last.From, To: last.To, Reason: last.Reason}},
	}, Policies: []status.Policy{
		{Name: "voip", Matched: uint64(f.statuses), Verdict: "pinned", Uplinks: []string{"talktalk 100%"}},
		{Name: "default", Matched: 123456, Verdict: "by-weight", Uplinks: []string{"talktalk 67%", "plusnet 33%"}},
	}}
	// The page reads the report's own JSON, plus the field to come.
	b, err := json.Marshal(r)
	if err != nil {
		panic(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		panic(err)
	}
	public := []string{"203.0.113.7", "2001:db8:1234:5678:9abc:def0:1234:5678"}
	for i, u := range m["uplinks"].([]any) {
		u.(map[string]any)["public_address"] = public[i]
	}
	return m
}

func (f *fakeAPI) history() any {
	type uplink struct {
		Name   string  `json:"name"`
		Points []point `json:"points"`
	}
	var ups []uplink
	for i, name := range []string{"talktalk", "plusnet"} {
		u := uplink{Name: name}
		for k := 60; k >= 1; k-- {
			at := f.end.Add(-time.Duration(k) * time.Minute)
			x := float64(k)
			p50, max := 8+4*float64(i)+2*math.Sin(x/5), 14+6*float64(i)+5*math.Sin(x/3)
			p := point{T: at, RTTP50: &p50, RTTMax: &max, State: "up", NewConns: 10 + k%7, Flows: 30 + 10*i + k%9,
				BytesIn: uint64(150e6 + 100e6*math.Sin(x/7)), BytesOut: uint64(20e6 + 10e6*math.Cos(x/4))}
			if name == "plusnet" && k <= 40 && k > 35 {
				p.State, p.Loss, p.RTTP50, p.RTTMax = "down", 1, nil, nil
				if k <= 37 {
					p.State, p.Loss = "recovering", 0.25
				}
			}
			u.Points = append(u.Points, p)
		}
		ups = append(ups, u)
	}
	return map[string]any{"step_seconds": 60, "uplinks": ups, "events": f.changes}
}

func chromiumPath(t *testing.T) string {
	for _, name := range []string{"chromium", "chromium-browser"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	t.Skip("no chromium binary in PATH (on Debian: apt-get install chromium): the page is not tested in a browser")
	return ""
}

func artifactsDir(t *testing.T) string {
	if dir := os.Getenv("PATHPIN_ARTIFACTS"); dir != "" {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		return dir
	}
	return t.TempDir()
}

// browserLog collects what the page must never produce: console errors,
// uncaught exceptions, failed loads.
type browserLog struct {
	mu          sync.Mutex
	outage      bool // requests fail on purpose: the browser's own report of them is expected
	problems    []string
	warnings    []string
	outageNoise int
}

func (b *browserLog) listen(ev any) {
	b.mu.Lock()
	defer b.mu.Unlock()
	switch ev := ev.(type) {
	case *runtime.EventExceptionThrown:
		d := ev.ExceptionDetails
		text := d.Text
		if d.Exception != nil {
			text += " " + d.Exception.Description
		}
		b.problems = append(b.problems, fmt.Sprintf("uncaught exception at %s:%d: %s", d.URL, d.LineNumber+1, text))
	case *runtime.EventConsoleAPICalled:
		var args []string
		for _, a := range ev.Args {
			if len(a.Value) > 0 {
				args = append(args, string(a.Value))
			} else {
				args = append(args, a.Description)
			}
		}
		msg := fmt.Sprintf("console.%s: %s", ev.Type, strings.Join(args, " "))
		switch ev.Type {
		case runtime.ConsoleAPICalledTypeError, runtime.ConsoleAPICalledTypeAssert:
			b.problems = append(b.problems, msg)
		case runtime.ConsoleAPICalledTypeWarning:
			b.warnings = append(b.warnings, msg)
		}
	case *log.EventEntryAdded:
		e := ev.Entry
		msg := fmt.Sprintf("browser log (%s, %s): %s %s", e.Source, e.Level, e.Text, e.URL)
		switch {
		case e.Level == log.EntryLevelError && b.outage && e.Source == log.EntrySourceNetwork:
			b.outageNoise++
		case e.Level == log.EntryLevelError:
			b.problems = append(b.problems, msg)
		case e.Level == log.EntryLevelWarning:
			b.warnings = append(b.warnings, msg)
		}
	}
}

func (b *browserLog) setOutage(on bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.outage = on
}

func (b *browserLog) check(t *testing.T, when string) {
	t.Helper()
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, p := range b.problems {
		t.Errorf("%s: %s", when, p)
	}
	b.problems = nil
}

// pageScript runs before the page's own: it records any violation of the
// Content-Security-Policy, so that one is an error of the test.
const pageScript = `window.cspViolations = [];
document.addEventListener("securitypolicyviolation", (e) => window.cspViolations.push(e.violatedDirective + " " + e.blockedURI));`

// stateOf is the state word the page shows on an uplink's card.
func stateOf(name string) string {
	return fmt.Sprintf(`(() => { for (const c of document.querySelectorAll("#uplinks .uplink")) {
		if (c.querySelector(".name").textContent === %q) return c.querySelector(".state").textContent; } return ""; })()`, name)
}

func TestPageInChromium(t *testing.T) {
	bin := chromiumPath(t)
	api := newFakeAPI()
	mux := http.NewServeMux()
	mux.HandleFunc("/api/", api.serve)
	mux.Handle("/", Handler())
	srv := httptest.NewServer(mux)
	defer srv.Close()

	// English, so that times read 13:05:00 whatever the environment says.
	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(bin), chromedp.WindowSize(375, 812), chromedp.Flag("lang", "en-US"))
	if os.Geteuid() == 0 {
		// Chromium's sandbox refuses to run as root.
		opts = append(opts, chromedp.NoSandbox)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	actx, cancelAlloc := chromedp.NewExecAllocator(ctx, opts...)
	defer cancelAlloc()
	var blog browserLog
	bctx, cancelBrowser := chromedp.NewContext(actx, chromedp.WithListener(blog.listen))
	defer cancelBrowser()

	do := func(what string, steps ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		if err := chromedp.Do(bctx, steps...); err != nil {
			t.Fatalf("%s: %v", what, err)
		}
	}
	eval := func(what, js string) any {
		t.Helper()
		v, err := chromedp.Run(bctx, chromedp.Evaluate[any](js))
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		return v
	}
	// waitFor polls a predicate in the page until it holds or the time is up.
	waitFor := func(what, js string, within time.Duration) time.Duration {
		t.Helper()
		start := time.Now()
		_, err := chromedp.Run(bctx, chromedp.Poll[bool](js, chromedp.WithPollingInterval(20*time.Millisecond), chromedp.WithPollingTimeout(within)))
		if err != nil {
			t.Fatalf("%s: not within %s: %v", what, within, err)
		}
		return time.Since(start)
	}
	artifacts := artifactsDir(t)
	screenshot := func(name string) {
		t.Helper()
		png, err := chromedp.Run(bctx, chromedp.FullScreenshot(100))
		if err != nil {
			t.Fatalf("screenshot: %v", err)
		}
		p := filepath.Join(artifacts, name)
		if err := os.WriteFile(p, png, 0o644); err != nil {
			t.Fatal(err)
		}
		t.Logf("screenshot: %s (%d bytes)", p, len(png))
	}

	do("start", chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
		_, err := cdp.Call(ctx, tg, page.AddScriptToEvaluateOnNewDocument, page.AddScriptToEvaluateOnNewDocumentParams{Source: pageScript})
		return err
	}), chromedp.EmulateViewport(375, 812, chromedp.EmulateMobile), chromedp.Navigate(srv.URL+"/"))

	// The first answers shown: two cards, graphs with every minute.
	waitFor("the uplinks and their graphs", `document.querySelectorAll("#uplinks .uplink").length === 2 &&
		document.querySelectorAll("#graphs path[data-points]").length === 2*4 + 2`, 10*time.Second)
	lines := eval("the graphs", `[...document.querySelectorAll("#graphs path[data-points]")].map((p) => ({
		uplink: p.closest(".graph-group").dataset.uplink || "flows", cls: p.getAttribute("class"),
		points: Number(p.dataset.points), drawn: (p.getAttribute("d").match(/[ML]/g) || []).length }))`)
	for _, l := range lines.([]any) {
		l := l.(map[string]any)
		want, cls := 60.0, l["cls"].(string)
		if l["uplink"] == "plusnet" && (strings.Contains(cls, "p50") || strings.Contains(cls, "max")) {
			want = 55 // 5 minutes without an answer
		}
		if l["points"] != want || l["drawn"] != want {
			t.Errorf("graph %v: want %v points", l, want)
		}
	}
	if n := eval("loss bars", `document.querySelectorAll("#graphs path.loss").length`); n != 1.0 {
		t.Errorf("%v graphs with loss bars, want plusnet's", n)
	}
	if n := eval("state bands", `document.querySelectorAll("#graphs rect.band.st-down").length`); n != 1.0 {
		t.Errorf("%v bands of down, want 1", n)
	}

	// What the cards, the policies and the events say.
	text := eval("the page's text", `document.body.innerText`).(string)
	for _, want := range []string{"talktalk", "plusnet", "192.0.2.10", "203.0.113.7", "2001:db8:1234:5678:9abc:def0:1234:5678",
		"eth1", "ppp0", "session 4242 at bras-1", "voip", "pinned: talktalk 100%", "by-weight: talktalk 67%, plusnet 33%",
		"123 GB in, 21 GB out", "29% of the cap of 500 GB", "RTT 9.8 ms", hostileReason} {
		if !strings.Contains(text, want) {
			t.Errorf("the page does not show %q:\n%s", want, text)
		}
	}
	if got := eval("a counter", `document.querySelector("#policies tbody tr:nth-child(2) td.num").textContent.replace(/\D/g, "")`); got != "123456" {
		t.Errorf("the default policy's counter shows %v, want 123456", got)
	}
	if got := eval("the reason", `document.querySelector("#events li .why").textContent`); got != hostileReason {
		t.Errorf("newest event's reason %q, want %q", got, hostileReason)
	}
	if got := eval("injected markup", `document.querySelectorAll("main img, main b").length + (window.pwned ? 100 : 0)`); got != 0.0 {
		t.Errorf("text from the API became markup (%v)", got)
	}
	waitFor("a throughput from two answers", `[...document.querySelectorAll(".uplink dd")].some((d) => /↓ (1[89]|2[01])(\.\d)? Mbit\/s/.test(d.textContent))`, 5*time.Second)

	// At a phone's width nothing overflows, in either span.
	checkWidth := func(width int) {
		t.Helper()
		got := eval("scrollWidth", `document.documentElement.scrollWidth`).(float64)
		if got > float64(width) {
			wide := eval("the widest", `[...document.querySelectorAll("body *")].filter((e) => e.getBoundingClientRect().right > `+fmt.Sprint(width)+`).slice(0, 5).map((e) => e.tagName + "." + e.className)`)
			t.Errorf("scrollWidth %v at a %d px viewport: %v", got, width, wide)
		}
	}
	checkWidth(375)
	screenshot("webui-375px.png")
	eval("last day", `document.getElementById("span-day").click()`)
	// An hour of points is a 24th of the day's width.
	waitFor("the day drawn", `document.getElementById("span-day").getAttribute("aria-pressed") === "true" &&
		[...document.querySelectorAll("#graphs path.in")].every((p) => p.getBBox().width < p.ownerSVGElement.width.baseVal.value / 12)`, 2*time.Second)
	checkWidth(375)
	if got := eval("the day's points", `Math.min(...[...document.querySelectorAll("#graphs path.in[data-points]")].map((p) => Number(p.dataset.points)))`); got != 60.0 {
		t.Errorf("%v points in the day's throughput, want 60", got)
	}
	eval("last hour", `document.getElementById("span-hour").click()`)
	// Pointing at a chart reads out that minute.
	eval("pointing", `(() => { const s = document.querySelector("#graphs svg"), r = s.getBoundingClientRect();
		s.dispatchEvent(new PointerEvent("pointermove", {clientX: r.left + r.width * 0.6, clientY: r.top + r.height / 2, pointerType: "mouse", bubbles: true})); })()`)
	waitFor("the readout", `/\d\d:\d\d:00 · up · RTT \d+\.\d ms, max \d+\.\d ms · loss 0%/.test(document.querySelector("#graphs .readout").textContent)`, time.Second)

	// A change of state shows within 2 s, and its event right after.
	if got := eval("plusnet's state", stateOf("plusnet")); got != "up" {
		t.Fatalf("plusnet shows %q, want up", got)
	}
	api.setPlusnet("down", "3 probes missed: 1.1.1.1, 9.9.9.9 silent for 3.0 s")
	took := waitFor("plusnet down", stateOf("plusnet")+` === "down"`, 2*time.Second)
	t.Logf("plusnet shown down %s after the change", took.Round(time.Millisecond))
	waitFor("the event of the change", `(document.querySelector("#events li") || {}).textContent?.includes("silent for 3.0 s")`, 3*time.Second)
	waitFor("the card's colour", `document.querySelector("#uplinks .uplink.st-down .name")?.textContent === "plusnet"`, time.Second)
	if got := eval("talktalk's state", stateOf("talktalk")); got != "up" {
		t.Errorf("talktalk shows %q, want up", got)
	}
	blog.check(t, "before the outage")

	// pathpin stops answering: the page says so and keeps trying.
	blog.setOutage(true)
	api.setFailing(true)
	waitFor("the outage shown", `!document.getElementById("offline").hidden &&
		document.getElementById("offline").textContent.includes("pathpin is not answering")`, 3*time.Second)
	screenshot("webui-375px-not-answering.png")
	api.setFailing(false)
	waitFor("the outage over", `document.getElementById("offline").hidden && document.getElementById("conn").textContent.startsWith("live")`, 3*time.Second)
	blog.setOutage(false)
	api.setPlusnet("up", "probes answered")
	waitFor("plusnet up again", stateOf("plusnet")+` === "up"`, 2*time.Second)

	// A wide screen.
	do("desktop", chromedp.EmulateViewport(1280, 900))
	waitFor("the graphs redrawn", `Number(document.querySelector("#graphs svg").getAttribute("width")) > 400`, 3*time.Second)
	checkWidth(1280)
	screenshot("webui-1280px.png")
	do("dark", chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
		_, err := cdp.Call(ctx, tg, emulation.SetEmulatedMedia, emulation.SetEmulatedMediaParams{
			Features: []*emulation.MediaFeature{{Name: "prefers-color-scheme", Value: "dark"}}})
		return err
	}))
	waitFor("the dark scheme", `matchMedia("(prefers-color-scheme: dark)").matches`, 2*time.Second)
	screenshot("webui-1280px-dark.png")

	if v := eval("CSP violations", `window.cspViolations`); len(v.([]any)) > 0 {
		t.Errorf("Content-Security-Policy violations: %v", v)
	}
	blog.check(t, "at the end")
	blog.mu.Lock()
	for _, w := range blog.warnings {
		t.Logf("warning: %s", w)
	}
	t.Logf("%d failed requests reported during the outage", blog.outageNoise)
	blog.mu.Unlock()
}
