package e2e

import (
	"context"
	"errors"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

var unfinishedLineRE = regexp.MustCompile(`Set-up is not finished[^\n]*\n\s*(\S+)`)

// startOn starts the app on the database file data and waits for its
// address and, when want is not nil, the link it matches.
func startOn(t *testing.T, data string, want *regexp.Regexp) (p *appProcess, baseURL, link string) {
	t.Helper()
	p = startProcess(t, []string{"--no-browser", "--addr", "127.0.0.1:0", "--data", data})
	p.waitUntil(10*time.Second, func(out string) bool {
		running := runningLineRE.FindStringSubmatch(out)
		if running == nil {
			return false
		}
		baseURL = running[1]
		if want == nil {
			return true
		}
		if m := want.FindStringSubmatch(out); m != nil {
			link = m[1]
			return true
		}
		return false
	})
	return p, baseURL, link
}

// closableTab opens a tab in a browser context of its own (another window
// with its own cookies) and returns it with the function that closes it,
// cookies and all, as closing the browser does.
func closableTab(t *testing.T, browser context.Context) (context.Context, func()) {
	t.Helper()
	tab, cancel := chromedp.NewContext(browser, chromedp.WithNewBrowserContext())
	if err := chromedp.Do(tab); err != nil {
		cancel()
		t.Fatalf("opening a browser window: %v", err)
	}
	watchConsole(t, tab)
	closed := false
	closeTab := func() {
		if closed {
			return
		}
		closed = true
		tctx, stop := context.WithTimeout(tab, 10*time.Second)
		defer stop()
		if err := chromedp.Cancel(tctx); err != nil && !errors.Is(err, context.Canceled) && !errors.Is(err, context.DeadlineExceeded) {
			t.Logf("closing the window: %v", err)
		}
		cancel()
	}
	t.Cleanup(closeTab)
	return tab, closeTab
}

// Journey: the first administrator sends the set-up form, then loses the
// browser before choosing a password. The spent set-up page says to
// restart; the restart prints a new link that finishes the set-up; the
// recovery command works on the stopped database; and once the password is
// chosen, a start prints no link.
func TestJourneyUnfinishedSetUp(t *testing.T) {
	data := filepath.Join(t.TempDir(), "cqrs.db")
	parent, cancel := context.WithTimeout(context.Background(), journeyTimeout)
	t.Cleanup(cancel)
	browser := newBrowser(t, parent)

	first, _, setupURL := startOn(t, data, setupLineRE)
	tab, closeTab := closableTab(t, browser)
	step(t, tab, "open the set-up link", chromedp.Navigate(setupURL), chromedp.WaitVisible(tid("setup-heading")))
	submitSetUpForm(t, tab)
	closeTab() // the browser is closed before the password is chosen: its link cookie is gone

	tab, closeTab = closableTab(t, browser)
	if status := load(t, tab, "open the spent set-up link again", chromedp.Navigate(setupURL)); status != 410 {
		t.Errorf("the spent set-up link answered %d, want 410", status)
	}
	wantTexts(t, "the spent set-up page", bodyText(t, tab), "already set up", "restart CQRS")
	closeTab()
	first.stop()

	// On the computer that holds the data, with CQRS stopped.
	out, err := command(parent, appBinary(t), "setup-link", "--data", data).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "/register?token=") {
		t.Fatalf("setup-link on the stopped database: %v\n%s", err, out)
	}

	second, base, link := startOn(t, data, unfinishedLineRE)
	if !strings.HasPrefix(link, base+"/register?token=") {
		t.Fatalf("the restart's link %q is not a registration link at %s", link, base)
	}
	tab, _ = closableTab(t, browser)
	step(t, tab, "open the restart's link", chromedp.Navigate(link))
	setPassword(t, tab, adminUserID, adminPassword, "")
	legacySignIn(t, tab, base, adminUserID, adminPassword)
	second.stop()

	third, _, _ := startOn(t, data, nil)
	if strings.Contains(third.Stdout.String(), "Set-up is not finished") || strings.Contains(third.Stdout.String(), "token=") {
		t.Errorf("a start after set-up printed a link:\n%s", third.Stdout.String())
	}
}

// countMatching is how many elements matching the CSS selector hold text.
func countMatching(t *testing.T, ctx context.Context, sel, text string) int {
	t.Helper()
	n, err := chromedp.Run(ctx, chromedp.Evaluate[int](`Array.from(document.querySelectorAll(`+strconvQuote(sel)+`)).filter(e => e.textContent.includes(`+strconvQuote(text)+`)).length`))
	if err != nil {
		t.Fatalf("counting %s holding %q: %v", sel, text, err)
	}
	return n
}

func strconvQuote(s string) string { return strconv.Quote(s) }

// Journey: refreshing after a form that changed something sends nothing
// again. Send message, then reload: one copy delivered. Register an
// application with the NHSmail simulator, then reload: one application.
func TestJourneyRefreshNeverResubmits(t *testing.T) {
	ctx, base, adminPW := startJourney(t)
	legacySignIn(t, ctx, base, adminUserID, adminPW)

	const subject = "Quality return due on Friday"
	load(t, ctx, "send a message to everyone",
		fill("#subject", subject),
		fill("#body", "Please submit your return by Friday."),
		chromedp.Click(tid("broadcast-submit")),
	)
	step(t, ctx, "wait for the sent notice", chromedp.WaitVisible(tid("notice")))
	wantTexts(t, "after Send message", textOf(t, ctx, "notice"), "Your message was sent to 1 user.")
	load(t, ctx, "reload the page after Send message", chromedp.Reload())
	step(t, ctx, "wait for the Message Centre", chromedp.WaitVisible(tid("message-centre-heading")))
	if n := countMatching(t, ctx, `[data-testid="message-list"] li`, subject); n != 1 {
		t.Errorf("after a reload the message was delivered %d times, want once", n)
	}
	if strings.Contains(bodyText(t, ctx), "Your message was sent") {
		t.Error("the reload says the message was sent again")
	}
	if strings.Contains(bodyText(t, ctx), "(User Administrator)") {
		t.Error("the system administrator's message is signed User Administrator")
	}

	step(t, ctx, "open the NHSmail applications page",
		chromedp.Navigate(base+"/admin/nhsmail/applications"),
		chromedp.WaitVisible(tid("app-form")),
	)
	load(t, ctx, "register an application",
		fill("#name", "Practice Rota"),
		fill("#redirect_uris", "https://rota.example.org/callback"),
		chromedp.Click("#type-confidential"),
		chromedp.Click(tid("app-submit")),
	)
	step(t, ctx, "wait for the new client", chromedp.WaitVisible(tid("app-client-id")))
	clientID := textOf(t, ctx, "app-client-id")
	if loc := location(t, ctx); loc != base+"/admin/nhsmail/applications" {
		t.Errorf("registering led to %s, want the applications page by a redirect", loc)
	}
	load(t, ctx, "reload the page after registering", chromedp.Reload())
	step(t, ctx, "wait for the applications list", chromedp.WaitVisible(tid("app-table")))
	if n := countMatching(t, ctx, `[data-testid="app-table"] tbody tr`, "Practice Rota"); n != 1 {
		t.Errorf("after a reload %d applications are registered, want 1", n)
	}
	if !strings.Contains(textOf(t, ctx, "app-table"), clientID) {
		t.Errorf("the list lacks the client %s", clientID)
	}
	if strings.Contains(bodyText(t, ctx), "client secret is shown only now") {
		t.Error("the reload shows the client secret again")
	}
}
