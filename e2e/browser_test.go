package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	cdplog "github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
)

// Helpers shared by the real-browser tests: find and start Chromium, start
// the app, and save screenshots for the README.

// updateScreenshots rewrites the README's screenshots; without it a test
// run leaves the working tree as it was (`go tool task screenshots`).
var updateScreenshots = flag.Bool("screenshots", os.Getenv("CQRS_SCREENSHOTS") == "1",
	"rewrite the README's screenshots in screenshots/ (also CQRS_SCREENSHOTS=1)")

// screenshotDir is where screenshot saves its PNGs: the repository's
// screenshots/, which the README shows.
var screenshotDir = filepath.Join(repoRoot, "screenshots")

// syncBuffer is a bytes.Buffer that is safe for one writer and many readers.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// findChromium returns the browser to drive: $CHROMIUM_PATH, then Debian's
// /usr/bin/chromium, then the usual names on PATH.
func findChromium() (string, bool) {
	if p := os.Getenv("CHROMIUM_PATH"); p != "" {
		return p, true
	}
	if fi, err := os.Stat("/usr/bin/chromium"); err == nil && !fi.IsDir() {
		return "/usr/bin/chromium", true
	}
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p, true
		}
	}
	return "", false
}

// newBrowser starts a headless Chromium with a fresh profile and returns a
// chromedp context for one tab. The browser lives until parent ends or the
// test finishes. Without a browser the test is skipped, except on CI
// (CI=true), where a missing browser is a failure.
func newBrowser(t *testing.T, parent context.Context) context.Context {
	t.Helper()
	return newBrowserWith(t, parent)
}

// newBrowserWith is newBrowser with more of Chromium's options.
func newBrowserWith(t *testing.T, parent context.Context, extra ...chromedp.ExecAllocatorOption) context.Context {
	t.Helper()
	path, ok := findChromium()
	if !ok {
		if os.Getenv("CI") == "true" {
			t.Fatal("no Chromium found (set CHROMIUM_PATH); CI=true, so the browser tests must run")
		}
		t.Skip("no Chromium found (set CHROMIUM_PATH to run the browser tests)")
	}

	output := &syncBuffer{}
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(path),
		chromedp.NoSandbox,
		chromedp.Headless,
		chromedp.DisableGPU,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("no-first-run", true),
		chromedp.UserDataDir(filepath.Join(t.TempDir(), "chromium-profile")),
		chromedp.WindowSize(1280, 1000),
		chromedp.CombinedOutput(output),
	)
	opts = append(opts, extra...)
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(parent, opts...)
	ctx, cancelCtx := chromedp.NewContext(allocCtx)
	started := false
	t.Cleanup(func() {
		defer func() {
			if t.Failed() {
				t.Logf("browser output:\n%s", output.String())
			}
		}()
		if !started {
			// chromedp v0.23: after a failed start, Cancel followed by the
			// cancel func waits forever (each waits on the browser's
			// semaphore, which is never closed), so call the func alone.
			cancelCtx()
			cancelAlloc()
			return
		}
		// Close the browser gracefully, bounded, before t.TempDir (the
		// profile) is removed: cleanups run last-registered first.
		tctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		if err := chromedp.Cancel(tctx); err != nil && !errors.Is(err, context.Canceled) && !errors.Is(err, context.DeadlineExceeded) {
			t.Logf("closing the browser: %v", err)
		}
		cancelCtx()
		cancelAlloc()
	})
	// The first Run starts the browser and binds it to ctx.
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("starting %s: %v", path, err)
	}
	started = true
	watchConsole(t, ctx)
	return ctx
}

// watchConsole fails the test, when it ends, for every console error,
// uncaught exception and failed request of the tab behind ctx, on every
// page it visits. The app's own error pages (a 401 for a wrong password,
// a 422 form re-rendered, the 503 waiting page) are answers, not failures:
// a document or an htmx request with such a status is allowed (a 500 is
// not); a stylesheet, script, image or font that does not load is not.
// Call it before the tab's first page.
func watchConsole(t *testing.T, ctx context.Context) {
	t.Helper()
	var (
		mu       sync.Mutex
		problems []string
		page     string // the document being shown, for the report
	)
	add := func(format string, args ...any) {
		mu.Lock()
		defer mu.Unlock()
		problems = append(problems, fmt.Sprintf("on %s: ", page)+fmt.Sprintf(format, args...))
	}
	err := chromedp.Listen(ctx, func(ev any) {
		switch ev := ev.(type) {
		case *network.EventRequestWillBeSent:
			if ev.Type == network.ResourceTypeDocument {
				mu.Lock()
				page = ev.Request.URL
				mu.Unlock()
			}
		case *runtime.EventConsoleAPICalled:
			if ev.Type == runtime.ConsoleAPICalledTypeError || ev.Type == runtime.ConsoleAPICalledTypeAssert {
				var parts []string
				for _, a := range ev.Args {
					if a.Value != nil {
						parts = append(parts, string(a.Value))
					} else {
						parts = append(parts, a.Description)
					}
				}
				add("console.%s: %s", ev.Type, strings.Join(parts, " "))
			}
		case *runtime.EventExceptionThrown:
			text := ev.ExceptionDetails.Text
			if ev.ExceptionDetails.Exception != nil {
				text += " " + ev.ExceptionDetails.Exception.Description
			}
			add("uncaught exception: %s", text)
		case *cdplog.EventEntryAdded:
			e := ev.Entry
			// The status of each response is judged below, by its type.
			if e.Level == cdplog.EntryLevelError && !(e.Source == cdplog.EntrySourceNetwork && strings.HasPrefix(e.Text, "Failed to load resource: the server responded with a status of")) {
				add("console error (%s): %s %s", e.Source, e.Text, e.URL)
			}
		case *network.EventResponseReceived:
			answer := ev.Type == network.ResourceTypeDocument || ev.Type == network.ResourceTypeXHR || ev.Type == network.ResourceTypeFetch
			// A page's own status is the journey's to check (503 is the
			// waiting page before set-up, or "busy"); a server fault never is.
			if (!answer && ev.Response.Status >= 400) || ev.Response.Status == 500 {
				add("%s %s answered %d", ev.Type, ev.Response.URL, ev.Response.Status)
			}
		case *network.EventLoadingFailed:
			// A navigation that replaces a page still loading cancels it.
			if ev.Canceled && ev.BlockedReason == "" {
				return
			}
			add("%s request failed: %s %s", ev.Type, ev.ErrorText, ev.BlockedReason)
		}
	})
	if err != nil {
		t.Fatalf("listening to the browser console: %v", err)
	}
	t.Cleanup(func() {
		mu.Lock()
		defer mu.Unlock()
		for _, p := range problems {
			t.Errorf("browser: %s", p)
		}
	})
}

// screenshot saves a full-page PNG as screenshots/<name>.png when asked
// (-screenshots). The files are committed and shown in the README, so
// callers keep the names stable.
func screenshot(t *testing.T, ctx context.Context, name string) {
	t.Helper()
	if !*updateScreenshots || strings.HasSuffix(t.Name(), onPostgresSuffix) {
		return // a journey's PostgreSQL twin leaves the README's pictures to its bbolt run
	}
	name = strings.TrimSuffix(name, ".png")
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatalf("screenshot %s: %v", name, err)
	}
	if err := os.MkdirAll(screenshotDir, 0o755); err != nil {
		t.Fatal(err)
	}
	// Write beside the target and rename, so a failed run never leaves a
	// half-written PNG to be committed (*.tmp is ignored by git).
	final := filepath.Join(screenshotDir, name+".png")
	tmp := final + ".tmp"
	if err := os.WriteFile(tmp, png, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, final); err != nil {
		os.Remove(tmp)
		t.Fatal(err)
	}
}

// testApp is the app started by startApp.
type testApp struct {
	BaseURL  string // http://127.0.0.1:port
	SetupURL string // the one-time set-up link printed at first start
	Stdout   *syncBuffer
	Stderr   *syncBuffer
}

var (
	setupLineRE   = regexp.MustCompile(`First start: [^\n]*set-up link:\s*\n\s*(\S+)`)
	runningLineRE = regexp.MustCompile(`CQRS is running at (http://\S+)`)
)

// startApp runs the app on a free port with a fresh database (and any
// extra flags), and waits until it prints its set-up link and address.
func startApp(t *testing.T, extraArgs ...string) *testApp {
	t.Helper()
	a := &testApp{}
	wait := 10 * time.Second
	if slices.Contains(extraArgs, "--database") {
		wait = 30 * time.Second // PostgreSQL's migrations run first: a busy machine's database is slower
	}
	a.Stdout, a.Stderr = runApp(t, append([]string{"--no-browser", "--addr", "127.0.0.1:0", "--data", filepath.Join(t.TempDir(), "cqrs.db")}, extraArgs...),
		wait, func(out string) bool {
			setup, running := setupLineRE.FindStringSubmatch(out), runningLineRE.FindStringSubmatch(out)
			if setup == nil || running == nil {
				return false
			}
			a.SetupURL, a.BaseURL = setup[1], running[1]
			return true
		})
	if !strings.HasPrefix(a.SetupURL, a.BaseURL+"/setup?token=") {
		t.Fatalf("set-up link %q is not under %q", a.SetupURL, a.BaseURL)
	}
	return a
}

// stepTimeout bounds one step of a journey (a page load, a wait for an
// element), so a page that never comes fails the step, not the whole run.
const stepTimeout = 20 * time.Second

// step runs the actions within stepTimeout and fails the test on error.
// ctx must already have its browser (newBrowser starts it), so the timeout
// ends the step, not the browser.
func step(t *testing.T, ctx context.Context, what string, steps ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	sctx, cancel := context.WithTimeout(ctx, stepTimeout)
	defer cancel()
	if err := chromedp.Do(sctx, steps...); err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

// load runs actions that start a page load (a click on a link or on a
// form's submit button), waits within stepTimeout until the new document
// has loaded, and returns its HTTP status.
func load(t *testing.T, ctx context.Context, what string, steps ...chromedp.Action[chromedp.Void]) int64 {
	t.Helper()
	sctx, cancel := context.WithTimeout(ctx, stepTimeout)
	defer cancel()
	resp, err := chromedp.RunResponse(sctx, steps...)
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	return resp.Status
}

// newIsolatedTab opens a tab in a new browser context of the browser behind
// ctx: another person at another computer, with cookies and storage of its
// own. It closes when the test ends, before the browser does.
func newIsolatedTab(t *testing.T, ctx context.Context) context.Context {
	t.Helper()
	tab, cancel := chromedp.NewContext(ctx, chromedp.WithNewBrowserContext())
	if err := chromedp.Do(tab); err != nil {
		cancel() // see newBrowser: no Cancel after a failed start
		t.Fatalf("opening a tab in a new browser context: %v", err)
	}
	watchConsole(t, tab)
	t.Cleanup(func() {
		tctx, stop := context.WithTimeout(tab, 10*time.Second)
		defer stop()
		if err := chromedp.Cancel(tctx); err != nil && !errors.Is(err, context.Canceled) && !errors.Is(err, context.DeadlineExceeded) {
			t.Logf("closing the tab: %v", err)
		}
		cancel()
	})
	return tab
}

// attr returns an attribute of the first element matching the CSS
// selector, failing the test when there is no such element or attribute.
func attr(t *testing.T, ctx context.Context, sel, name string) string {
	t.Helper()
	sctx, cancel := context.WithTimeout(ctx, stepTimeout)
	defer cancel()
	r, err := chromedp.Run(sctx, chromedp.AttributeValue(chromedp.CSS(sel), name))
	if err != nil {
		t.Fatalf("attribute %s of %s: %v", name, sel, err)
	}
	if !r.Exists {
		t.Fatalf("%s has no attribute %s", sel, name)
	}
	return r.Value
}

// bodyText is the visible text of the whole page.
func bodyText(t *testing.T, ctx context.Context) string {
	t.Helper()
	s, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.body.innerText`))
	if err != nil {
		t.Fatalf("page text: %v", err)
	}
	return s
}

// arriveAt waits within stepTimeout until the browser has loaded the page
// at want holding the element testid: the end of a chain of redirects,
// which it polls for rather than waiting on one document that the chain
// may still replace. On timeout it says where the browser is and what it
// shows.
func arriveAt(t *testing.T, ctx context.Context, what, want, testid string) {
	t.Helper()
	probe := `[location.href, document.readyState, String(!!document.querySelector('[data-testid="` + testid + `"]')), document.body ? document.body.innerText.slice(0, 2000) : ""]`
	var seen []string
	for deadline := time.Now().Add(stepTimeout); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		pctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		got, err := chromedp.Run(pctx, chromedp.Evaluate[[]string](probe))
		cancel()
		if err != nil || len(got) != 4 {
			continue // between documents: ask again
		}
		if seen = got; got[0] == want && got[1] == "complete" && got[2] == "true" {
			return
		}
	}
	if seen == nil {
		t.Fatalf("%s: the browser did not answer within %s", what, stepTimeout)
	}
	t.Fatalf("%s: the browser is at %s (%s, %s: %s), want %s:\n%s", what, seen[0], seen[1], testid, seen[2], want, seen[3])
}

// location is the address of the current page.
func location(t *testing.T, ctx context.Context) string {
	t.Helper()
	loc, err := chromedp.Run(ctx, chromedp.Location())
	if err != nil {
		t.Fatalf("location: %v", err)
	}
	return loc
}

// wantTexts reports each wanted string that text lacks.
func wantTexts(t *testing.T, where, text string, wants ...string) {
	t.Helper()
	for _, want := range wants {
		if !strings.Contains(text, want) {
			t.Errorf("%s lacks %q:\n%s", where, want, text)
		}
	}
}

// fill sets a form field's value at once, as if pasted, and fires the
// input and change events htmx and scripts listen for. It is much quicker
// than typing key by key (typeInto), which journeys keep for where the
// keystrokes themselves are under test.
func fill(sel, text string) chromedp.Action[chromedp.Void] {
	args, _ := json.Marshal([]string{sel, text})
	expr := `((a) => {
		const e = document.querySelector(a[0]);
		if (e === null) return false;
		e.focus();
		e.value = a[1];
		e.dispatchEvent(new Event('input', {bubbles: true}));
		e.dispatchEvent(new Event('change', {bubbles: true}));
		return true;
	})(` + string(args) + `)`
	return chromedp.Steps(
		chromedp.WaitVisible(chromedp.CSS(sel)),
		chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
			ok, err := chromedp.Evaluate[bool](expr)(ctx, t)
			if err == nil && !ok {
				err = fmt.Errorf("fill: no element matches %s", sel)
			}
			return err
		}),
	)
}
