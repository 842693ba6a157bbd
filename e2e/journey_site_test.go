package e2e

import (
	"context"
	"errors"
	"path/filepath"
	"regexp"
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
