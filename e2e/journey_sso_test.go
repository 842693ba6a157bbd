package e2e

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// nhsmailAccount is an account of the embedded NHSmail simulator.
type nhsmailAccount struct {
	Email, FirstName, LastName, Password string
}

// addNHSmailAccount creates an account through the system administrator's
// NHSmail simulator page and waits for its row.
func addNHSmailAccount(t *testing.T, ctx context.Context, baseURL string, a nhsmailAccount) {
	t.Helper()
	step(t, ctx, "open NHSmail accounts",
		chromedp.Navigate(baseURL+"/admin/nhsmail"),
		chromedp.WaitVisible(tid("nhsmail-form")),
	)
	load(t, ctx, "add the NHSmail account "+a.Email,
		fill(`[data-testid="nhsmail-form"] #email`, a.Email),
		fill(`[data-testid="nhsmail-form"] #first_name`, a.FirstName),
		fill(`[data-testid="nhsmail-form"] #last_name`, a.LastName),
		fill(`[data-testid="nhsmail-form"] #password`, a.Password),
		chromedp.Click(tid("nhsmail-submit")),
	)
	step(t, ctx, "wait for the account's row", chromedp.WaitVisible(tid("nhsmail-"+a.Email)))
}

// startNHSmailSignIn selects the Sign In button on the CQRS Login page and
// waits for the NHSmail sign-in page it redirects to.
func startNHSmailSignIn(t *testing.T, ctx context.Context, baseURL string) {
	t.Helper()
	step(t, ctx, "open the CQRS Login page",
		chromedp.Navigate(baseURL+"/login"),
		chromedp.WaitVisible(tid("sso-sign-in")),
	)
	load(t, ctx, "select Sign In", chromedp.Click(tid("sso-sign-in")))
	step(t, ctx, "wait for the NHSmail sign-in page", chromedp.WaitVisible(tid("nhsmail-heading")))
	if loc := location(t, ctx); !strings.HasPrefix(loc, baseURL+"/nhsmail/authorize?") {
		t.Errorf("the NHSmail sign-in page is at %s, want %s/nhsmail/authorize?…", loc, baseURL)
	}
}

// nhsmailSignIn fills in the NHSmail sign-in page, leaving "This is a
// private computer" unticked, and waits for the page the answer leads to.
func nhsmailSignIn(t *testing.T, ctx context.Context, email, password string) {
	t.Helper()
	step(t, ctx, "check This is a private computer is not ticked",
		chromedp.WaitVisible(tid("nhsmail-private")))
	if checked, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`document.querySelector('[data-testid="nhsmail-private"]').checked`)); err != nil || checked {
		t.Fatalf("This is a private computer is ticked (err %v)", err)
	}
	load(t, ctx, "sign in to NHSmail as "+email,
		fill(`[data-testid="nhsmail-email"]`, email),
		fill(`[data-testid="nhsmail-password"]`, password),
		chromedp.Click(tid("nhsmail-submit")),
	)
}

// Journey: the CQRS single sign on user guide, every step and case, against
// the embedded NHSmail simulator (design journeys 5, 6 and 7).
func TestNHSmailSingleSignOnJourney(t *testing.T) { nhsmailSingleSignOnJourney(t) }
func TestNHSmailSingleSignOnJourneyOnPostgres(t *testing.T) {
	nhsmailSingleSignOnJourney(t, onPostgres(t)...)
}

func nhsmailSingleSignOnJourney(t *testing.T, appArgs ...string) {
	ctx, base, adminPW := startJourney(t, appArgs...)
	sam := newUser{UserID: "sam.patel", FirstName: "Sam", LastName: "Patel", WorkPhone: "0113 496 0001", Email: "sam.patel@nhs.net"}
	samNHSmail := nhsmailAccount{Email: "sam.patel@nhs.net", FirstName: "Sam", LastName: "Patel", Password: "Simulator#1"}
	noCQRS := nhsmailAccount{Email: "nocqrs@nhs.net", FirstName: "Nadia", LastName: "Khan", Password: "Simulator#2"}

	// The system administrator sets up sam.patel in CQRS, and two NHSmail
	// accounts: sam's, and one with no CQRS account.
	legacySignIn(t, ctx, base, adminUserID, adminPW)
	setUpUser(t, ctx, base, sam, "")
	addNHSmailAccount(t, ctx, base, samNHSmail)
	addNHSmailAccount(t, ctx, base, noCQRS)
	// Sam registers from the emailed link, so the CQRS account is active.
	samCtx := registerFromMailbox(t, ctx, base, sam, "Harbour#Lights42")
	step(t, ctx, "back to NHSmail accounts",
		chromedp.Navigate(base+"/admin/nhsmail"),
		chromedp.WaitVisible(tid("nhsmail-"+samNHSmail.Email)),
	)
	wantTexts(t, "sam's NHSmail account row", textOf(t, ctx, "nhsmail-"+samNHSmail.Email), "Sam Patel", "Yes", "Active")
	wantTexts(t, "the no-CQRS NHSmail account row", textOf(t, ctx, "nhsmail-"+noCQRS.Email), "Nadia Khan", "No", "Active")

	// Step 1: Sign In on the CQRS Login page. Step 2: the NHSmail page.
	startNHSmailSignIn(t, samCtx, base)
	if got := textOf(t, samCtx, "nhsmail-heading"); got != "Sign in with your NHSmail account" {
		t.Errorf("NHSmail heading = %q", got)
	}
	page := bodyText(t, samCtx)
	wantTexts(t, "the NHSmail sign-in page", page, "NHSmail", "Email Address", "Password", "Sign in",
		"This is a private computer", "Unlock Account or Forgotten Password? Click here.")
	if strings.Contains(page, "Sign out") || strings.Contains(page, "Calculating Quality Reporting Service") {
		t.Errorf("the NHSmail page carries the CQRS frame:\n%s", page)
	}
	screenshot(t, samCtx, "15-nhsmail-sign-in")

	// Step 4's case: the wrong password fails on the NHSmail page.
	nhsmailSignIn(t, samCtx, samNHSmail.Email, "Simulator#9")
	step(t, samCtx, "wait for the NHSmail error", chromedp.WaitVisible(tid("nhsmail-error")))
	if got := textOf(t, samCtx, "nhsmail-error"); got != "Incorrect user ID or password. Type the correct user ID and password, and try again." {
		t.Errorf("NHSmail error = %q", got)
	}
	if got := attr(t, samCtx, `[data-testid="nhsmail-email"]`, "value"); got != samNHSmail.Email {
		t.Errorf("the email address typed was not kept: %q", got)
	}
	screenshot(t, samCtx, "16-nhsmail-incorrect")

	// Step 3: the right password leads to sam's CQRS Message Centre.
	nhsmailSignIn(t, samCtx, samNHSmail.Email, samNHSmail.Password)
	step(t, samCtx, "wait for sam's Message Centre", chromedp.WaitVisible(tid("message-centre-heading")))
	if loc := location(t, samCtx); loc != base+"/messages" {
		t.Errorf("after NHSmail sign-in the browser is at %s, want %s/messages", loc, base)
	}
	if got := textOf(t, samCtx, "signed-in-as"); got != "Sam Patel (sam.patel)" {
		t.Errorf("signed in as %q", got)
	}
	wantTexts(t, "sam's message list", textOf(t, samCtx, "message-list"), "Welcome to CQRS")
	screenshot(t, samCtx, "17-nhsmail-message-centre")

	// The administrator sees sam's account linked to the NHSmail identity.
	step(t, ctx, "open the users list",
		chromedp.Navigate(base+"/admin/users"),
		chromedp.WaitVisible(tid("user-row-sam.patel")),
	)
	load(t, ctx, "open sam's page", chromedp.Click(chromedp.CSS(`[data-testid="user-row-sam.patel"] a`)))
	step(t, ctx, "wait for sam's NHSmail link", chromedp.WaitVisible(tid("detail-sso")))

	// Sam is still signed in to NHSmail (the simulator's cookie lasts as
	// long as the browser; signing out of CQRS would end it too): Sign In
	// again goes straight back to the Message Centre, without the NHSmail
	// page, twice.
	signInAgainWithoutNHSmailPage(t, samCtx, base, "the second NHSmail sign-in in a row")
	signInAgainWithoutNHSmailPage(t, samCtx, base, "the third NHSmail sign-in in a row")

	// Step 5: at another computer, someone signs in to NHSmail with an
	// account that has no CQRS account.
	otherCtx := newIsolatedTab(t, ctx)
	startNHSmailSignIn(t, otherCtx, base)
	nhsmailSignIn(t, otherCtx, noCQRS.Email, noCQRS.Password)
	step(t, otherCtx, "wait for the no-CQRS-account page", chromedp.WaitVisible(tid("no-account-heading")))
	if got := textOf(t, otherCtx, "no-account-heading"); got != "You do not have a CQRS account" {
		t.Errorf("heading = %q", got)
	}
	if got := textOf(t, otherCtx, "no-account-email"); got != noCQRS.Email {
		t.Errorf("email shown = %q, want %q", got, noCQRS.Email)
	}
	wantTexts(t, "the help desk details", textOf(t, otherCtx, "help-desk"),
		"CQRS help desk contact details", "Email: support@cqrs.co.uk", "Phone: 0800 4402777 (8am-6pm Mon-Fri exc Bank Holidays)")
	if n, err := chromedp.Run(otherCtx, chromedp.Evaluate[int](`document.querySelectorAll('[data-testid="sign-out"]').length`)); err != nil || n != 0 {
		t.Errorf("someone was signed in to CQRS without a CQRS account (%d sign-out buttons, err %v)", n, err)
	}
	screenshot(t, otherCtx, "18-nhsmail-no-cqrs-account")
	revisit(t, otherCtx, "the no CQRS account page", "no-account-heading")

	// The same browser tries again: still signed in to NHSmail, it gets
	// the same answer (not a refused code) ...
	step(t, otherCtx, "open the CQRS Login page", chromedp.Navigate(base+"/login"), chromedp.WaitVisible(tid("sso-sign-in")))
	load(t, otherCtx, "select Sign In again", chromedp.Click(tid("sso-sign-in")))
	step(t, otherCtx, "wait for the no-CQRS-account page again", chromedp.WaitVisible(tid("no-account-heading")))
	// ... and a person who has a CQRS account signs in there with a
	// different NHSmail account.
	load(t, otherCtx, "select Sign in with a different NHSmail account", chromedp.Click(tid("no-account-other")))
	step(t, otherCtx, "wait for the NHSmail sign-in page", chromedp.WaitVisible(tid("nhsmail-heading")))
	nhsmailSignIn(t, otherCtx, samNHSmail.Email, samNHSmail.Password)
	step(t, otherCtx, "wait for sam's Message Centre", chromedp.WaitVisible(tid("message-centre-heading")))
	if got := textOf(t, otherCtx, "signed-in-as"); got != "Sam Patel (sam.patel)" {
		t.Errorf("signed in as %q after step 5", got)
	}

	// Consent cancelled, then accepted, in one browser.
	step(t, ctx, "back to NHSmail accounts", chromedp.Navigate(base+"/admin/nhsmail"), chromedp.WaitVisible(tid("nhsmail-"+samNHSmail.Email)))
	load(t, ctx, "ask sam's NHSmail account for consent",
		chromedp.Click(chromedp.CSS(`[data-testid="nhsmail-`+samNHSmail.Email+`"] form[action$="/consent"] button`)))
	load(t, samCtx, "Sign In (as from a Login page in another tab)", chromedp.Navigate(base+"/sso/start"))
	step(t, samCtx, "wait for the consent page", chromedp.WaitVisible(tid("nhsmail-consent-heading")))
	load(t, samCtx, "cancel", chromedp.Click(tid("nhsmail-cancel")))
	step(t, samCtx, "wait for the cancelled page", chromedp.WaitVisible(tid("error-heading")))
	if got := textOf(t, samCtx, "error-heading"); got != "NHSmail sign-in was cancelled" {
		t.Errorf("after cancelling consent: %q", got)
	}
	load(t, samCtx, "Sign In again", chromedp.Navigate(base+"/sso/start"))
	step(t, samCtx, "wait for the consent page again", chromedp.WaitVisible(tid("nhsmail-consent-heading")))
	load(t, samCtx, "accept", chromedp.Click(tid("nhsmail-accept")))
	step(t, samCtx, "wait for sam's Message Centre", chromedp.WaitVisible(tid("message-centre-heading")))
	step(t, ctx, "back to NHSmail accounts", chromedp.Navigate(base+"/admin/nhsmail"), chromedp.WaitVisible(tid("nhsmail-"+samNHSmail.Email)))
	load(t, ctx, "stop asking sam's NHSmail account for consent",
		chromedp.Click(chromedp.CSS(`[data-testid="nhsmail-`+samNHSmail.Email+`"] form[action$="/consent"] button`)))

	// The system administrator makes a new signing key; CQRS, which has
	// the old key set cached, goes on accepting sam's sign-ins.
	oldKid := textOf(t, ctx, "nhsmail-signing-kid")
	load(t, ctx, "make a new signing key", chromedp.Click(tid("nhsmail-rotate")))
	step(t, ctx, "wait for the notice", chromedp.WaitVisible(tid("notice")))
	if newKid := textOf(t, ctx, "nhsmail-signing-kid"); newKid == oldKid || newKid == "" {
		t.Errorf("signing key %q after rotating %q", newKid, oldKid)
	}
	signInAgainWithoutNHSmailPage(t, samCtx, base, "Sign In after the signing key was rotated")

	// "This is a private computer": the browser is closed and opened again
	// on the same profile, and Sign In needs no NHSmail password.
	profile := filepath.Join(t.TempDir(), "private-computer")
	pcCtx, closePC := browserWithProfile(t, ctx, profile)
	startNHSmailSignIn(t, pcCtx, base)
	step(t, pcCtx, "tick This is a private computer", chromedp.Click(tid("nhsmail-private")))
	load(t, pcCtx, "sign in to NHSmail on a private computer",
		fill(`[data-testid="nhsmail-email"]`, samNHSmail.Email),
		fill(`[data-testid="nhsmail-password"]`, samNHSmail.Password),
		chromedp.Click(tid("nhsmail-submit")),
	)
	step(t, pcCtx, "wait for sam's Message Centre", chromedp.WaitVisible(tid("message-centre-heading")))
	closePC()
	pcCtx, _ = browserWithProfile(t, ctx, profile)
	signInAgainWithoutNHSmailPage(t, pcCtx, base, "Sign In after reopening the browser")
}

// signInAgainWithoutNHSmailPage signs in again with NHSmail in a browser
// still signed in to NHSmail as sam, and expects sam's Message Centre at
// once. The CQRS Login page sends a signed-in browser to its Message
// Centre, so the Sign In button is pressed as on a Login page still open
// in another tab: its form asks for /sso/start.
func signInAgainWithoutNHSmailPage(t *testing.T, ctx context.Context, baseURL, what string) {
	t.Helper()
	load(t, ctx, what+": Sign In", chromedp.Navigate(baseURL+"/sso/start"))
	arriveAt(t, ctx, what, baseURL+"/messages", "message-centre-heading")
	if got := textOf(t, ctx, "signed-in-as"); got != "Sam Patel (sam.patel)" {
		t.Errorf("%s: signed in as %q", what, got)
	}
}

// browserWithProfile starts a headless Chromium on the profile directory
// given, so that a second start finds what the first kept on disk (the
// cookies that outlive the browser). close shuts it down gracefully, as a
// person closing the browser would; it is also run when the test ends.
func browserWithProfile(t *testing.T, parent context.Context, dir string) (ctx context.Context, close func()) {
	t.Helper()
	path, ok := findChromium()
	if !ok {
		t.Skip("no Chromium found")
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(path), chromedp.NoSandbox, chromedp.Headless, chromedp.DisableGPU,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("no-first-run", true),
		chromedp.UserDataDir(dir),
	)
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.WithoutCancel(parent), opts...)
	ctx, cancelCtx := chromedp.NewContext(allocCtx)
	if err := chromedp.Do(ctx); err != nil {
		cancelCtx()
		cancelAlloc()
		t.Fatalf("starting %s: %v", path, err)
	}
	watchConsole(t, ctx)
	var once sync.Once
	close = func() {
		once.Do(func() {
			tctx, cancel := context.WithTimeout(ctx, 10*time.Second)
			defer cancel()
			if err := chromedp.Cancel(tctx); err != nil && !errors.Is(err, context.Canceled) && !errors.Is(err, context.DeadlineExceeded) {
				t.Logf("closing the browser: %v", err)
			}
			cancelCtx()
			cancelAlloc()
		})
	}
	t.Cleanup(close)
	return ctx, close
}

// restartableApp runs the app on one data file and can stop it and start
// it again on the same address, as a person restarting it would.
type restartableApp struct {
	t       *testing.T
	data    string
	baseURL string
	stop    func()
}

func (a *restartableApp) start(addr string) (stdout *syncBuffer) {
	a.t.Helper()
	p := startProcess(a.t, []string{"--no-browser", "--addr", addr, "--data", a.data})
	a.stop = p.stop
	p.waitUntil(10*time.Second, func(out string) bool {
		if m := runningLineRE.FindStringSubmatch(out); m != nil {
			a.baseURL = m[1]
			return true
		}
		return false
	})
	return p.Stdout
}

// A restart of the app between the NHSmail sign-in page and the callback
// loses nothing: the page served before the restart is submitted after it,
// and the sign-in completes in sam's Message Centre. Started again on
// another port, sam's NHSmail link still signs them in.
func TestNHSmailSignInSurvivesARestart(t *testing.T) {
	app := &restartableApp{t: t, data: filepath.Join(t.TempDir(), "cqrs.db")}
	out := app.start("127.0.0.1:0")
	setup := setupLineRE.FindStringSubmatch(out.String())
	if setup == nil {
		t.Fatalf("no set-up link:\n%s", out.String())
	}
	base := app.baseURL
	parent, cancel := context.WithTimeout(context.Background(), journeyTimeout)
	t.Cleanup(cancel)
	ctx := newBrowser(t, parent)
	step(t, ctx, "set up",
		chromedp.Navigate(setup[1]),
		chromedp.WaitVisible(tid("setup-heading")),
		fill("#user_id", adminUserID), fill("#first_name", "Alex"), fill("#last_name", "Jones"),
		fill("#email", "admin.jones@nhs.net"), fill("#org_name", "Riverside Practice"), fill("#ods_code", "Y12345"),
		chromedp.Click(tid("setup-submit")),
		chromedp.WaitVisible(tid("security-information")),
	)
	setPassword(t, ctx, adminUserID, adminPassword, "")
	legacySignIn(t, ctx, base, adminUserID, adminPassword)
	sam := newUser{UserID: "sam.patel", FirstName: "Sam", LastName: "Patel", WorkPhone: "0113 496 0001", Email: "sam.patel@nhs.net"}
	samNHSmail := nhsmailAccount{Email: "sam.patel@nhs.net", FirstName: "Sam", LastName: "Patel", Password: "Simulator#1"}
	setUpUser(t, ctx, base, sam, "")
	addNHSmailAccount(t, ctx, base, samNHSmail)
	samCtx := registerFromMailbox(t, ctx, base, sam, "Harbour#Lights42")

	startNHSmailSignIn(t, samCtx, base)
	app.stop()
	app.start(strings.TrimPrefix(base, "http://"))
	if app.baseURL != base {
		t.Fatalf("restarted at %s, want %s", app.baseURL, base)
	}
	nhsmailSignIn(t, samCtx, samNHSmail.Email, samNHSmail.Password)
	step(t, samCtx, "wait for sam's Message Centre", chromedp.WaitVisible(tid("message-centre-heading")))
	if got := textOf(t, samCtx, "signed-in-as"); got != "Sam Patel (sam.patel)" {
		t.Errorf("signed in as %q after the restart", got)
	}

	// The same data file on another port (the default port taken, or the
	// network address for a class): sam, linked at the first address,
	// still signs in with NHSmail, from a browser that never saw it.
	app.stop()
	app.start("127.0.0.1:0")
	if app.baseURL == base {
		t.Fatalf("restarted at %s again, want another port", base)
	}
	elsewhere := newIsolatedTab(t, ctx)
	startNHSmailSignIn(t, elsewhere, app.baseURL)
	nhsmailSignIn(t, elsewhere, samNHSmail.Email, samNHSmail.Password)
	arriveAt(t, elsewhere, "sam's Message Centre at the new address", app.baseURL+"/messages", "message-centre-heading")
	if got := textOf(t, elsewhere, "signed-in-as"); got != "Sam Patel (sam.patel)" {
		t.Errorf("signed in as %q at the new address", got)
	}
}
