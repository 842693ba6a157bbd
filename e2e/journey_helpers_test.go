package e2e

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// Helpers of the real-browser journeys: each journey starts its own app,
// does the first-run set-up in the browser and then walks its documents'
// steps.

// journeyTimeout bounds one whole journey; the browser lives inside it.
const journeyTimeout = 120 * time.Second

const (
	adminUserID = "admin.jones"
	// adminPassword meets the policy for admin.jones.
	adminPassword = "Riverside#2026q"
)

// startJourney starts the app and a browser bounded by journeyTimeout, and
// does the first-run set-up in the browser: the set-up form creates the
// system administrator admin.jones, who registers a strong password on the
// Security Information screen. It returns the browser tab, the app's base
// URL and the administrator's password. appArgs are more of the app's
// flags (onPostgres's, say).
func startJourney(t *testing.T, appArgs ...string) (ctx context.Context, baseURL, adminPW string) {
	t.Helper()
	app := startApp(t, appArgs...)
	parent, cancel := context.WithTimeout(context.Background(), journeyBudget(t, journeyTimeout))
	t.Cleanup(cancel)
	ctx = newBrowser(t, parent)
	firstRunSetUp(t, ctx, app.SetupURL)
	return ctx, app.BaseURL, adminPassword
}

// firstRunSetUp opens the set-up link in the browser, creates the system
// administrator admin.jones and registers adminPassword for them.
func firstRunSetUp(t *testing.T, ctx context.Context, setupURL string) {
	t.Helper()
	step(t, ctx, "open the set-up link",
		chromedp.Navigate(setupURL),
		chromedp.WaitVisible(tid("setup-heading")),
	)
	submitSetUpForm(t, ctx)
	setPassword(t, ctx, adminUserID, adminPassword, "")
}

// submitSetUpForm fills in the open set-up page for admin.jones of
// Riverside Practice and waits for the Security Information screen.
func submitSetUpForm(t *testing.T, ctx context.Context) {
	t.Helper()
	step(t, ctx, "fill in and submit the set-up form",
		fill("#user_id", adminUserID),
		fill("#first_name", "Alex"),
		fill("#last_name", "Jones"),
		fill("#email", "admin.jones@nhs.net"),
		fill("#org_name", "Riverside Practice"),
		fill("#ods_code", "Y12345"),
		chromedp.Click(tid("setup-submit")),
		chromedp.WaitVisible(tid("security-information")),
	)
}

// setPassword completes the Security Information screen the browser shows
// (registration or reset): it checks the User ID, optionally takes a
// screenshot, types the password and its confirmation, and waits for the
// confirmation page.
func setPassword(t *testing.T, ctx context.Context, userID, password, shot string) {
	t.Helper()
	step(t, ctx, "wait for the Security Information screen", chromedp.WaitVisible(tid("security-information")))
	if got := textOf(t, ctx, "register-user-id"); got != userID {
		t.Fatalf("Security Information for User ID %q, want %q", got, userID)
	}
	if shot != "" {
		screenshot(t, ctx, shot)
	}
	step(t, ctx, "submit a password and its confirmation",
		fill("#password", password),
		fill("#confirm_password", password),
		chromedp.Click(tid("security-submit")),
		chromedp.WaitVisible(tid("registration-complete")),
	)
}

// trainerUserID is the training data set's trainer, who lands on the
// class board rather than the Message Centre.
const trainerUserID = "trainer"

// legacySignIn signs in on the CQRS Login page with User ID and password
// and waits for where they land: the Message Centre, or for the trainer
// the class board.
func legacySignIn(t *testing.T, ctx context.Context, baseURL, userID, password string) {
	t.Helper()
	step(t, ctx, "open the CQRS Login page",
		chromedp.Navigate(baseURL+"/login"),
		chromedp.WaitVisible(tid("legacy-form")),
	)
	submitLegacy(t, ctx, userID, password)
	if userID == trainerUserID {
		arriveAt(t, ctx, "the trainer lands on the class board", baseURL+"/training/board", "class-board")
		return
	}
	step(t, ctx, "wait for the Message Centre after signing in as "+userID,
		chromedp.WaitVisible(tid("message-centre-heading")))
}

// submitLegacy fills in and submits the legacy login form on the page the
// browser shows, waits for the answer page and returns its status.
func submitLegacy(t *testing.T, ctx context.Context, userID, password string) int64 {
	t.Helper()
	return load(t, ctx, "legacy sign-in as "+userID,
		fill("#user_id", userID),
		fill("#password", password),
		chromedp.Click(tid("legacy-sign-in")),
	)
}

// signOut uses the header's Sign out and waits for the login page's notice.
func signOut(t *testing.T, ctx context.Context) {
	t.Helper()
	load(t, ctx, "sign out", chromedp.Click(tid("sign-out")))
	step(t, ctx, "wait for the login page", chromedp.WaitVisible(tid("login-heading")))
	if got := textOf(t, ctx, "notice"); got != "You have signed out." {
		t.Errorf("notice after signing out = %q", got)
	}
}

// newUser is what an administrator types into "Set up a user".
type newUser struct {
	UserID, FirstName, LastName, WorkPhone, Email string
}

// setUpUser creates a user with the role User in the administrator's own
// organisation (the form's default) through "Set up a user", optionally
// screenshotting the filled-in form, and waits for the user's page.
func setUpUser(t *testing.T, ctx context.Context, baseURL string, u newUser, shot string) {
	t.Helper()
	step(t, ctx, "open Set up a user",
		chromedp.Navigate(baseURL+"/admin/users/new"),
		chromedp.WaitVisible(tid("user-form")),
	)
	step(t, ctx, "fill in Set up a user",
		fill("#user_id", u.UserID),
		fill("#first_name", u.FirstName),
		fill("#last_name", u.LastName),
		fill("#work_phone", u.WorkPhone),
		fill("#email", u.Email),
		chromedp.SetValue(chromedp.CSS("#role"), "user"),
	)
	if org := selectedLabel(t, ctx, "#org_id"); !strings.Contains(org, "Riverside Practice (Y12345)") {
		t.Errorf("organisation selected = %q, want the administrator's, Riverside Practice (Y12345)", org)
	}
	if role := selectedLabel(t, ctx, "#role"); role != "User" {
		t.Errorf("role selected = %q, want User", role)
	}
	if shot != "" {
		screenshot(t, ctx, shot)
	}
	load(t, ctx, "submit Set up a user", chromedp.Click(tid("user-submit")))
	step(t, ctx, "wait for the user's page", chromedp.WaitVisible(tid("detail-invitation")))
}

// selectedLabel is the text of a select's chosen option.
func selectedLabel(t *testing.T, ctx context.Context, sel string) string {
	t.Helper()
	selJSON, _ := json.Marshal(sel)
	s, err := chromedp.Run(ctx, chromedp.Evaluate[string](`(() => { const s = document.querySelector(`+string(selJSON)+`); return s ? s.options[s.selectedIndex].text : "" })()`))
	if err != nil {
		t.Fatalf("selected option of %s: %v", sel, err)
	}
	return s
}

// openMailbox shows the local mailbox.
func openMailbox(t *testing.T, ctx context.Context, baseURL string) {
	t.Helper()
	step(t, ctx, "open the local mailbox",
		chromedp.Navigate(baseURL+"/mailbox"),
		chromedp.WaitVisible(tid("email-table")),
	)
}

// openEmail opens, from the local mailbox the browser shows, the newest
// email to the address whose subject contains subject, and returns the
// address of the link it carries.
func openEmail(t *testing.T, ctx context.Context, to, subject string) string {
	t.Helper()
	args, _ := json.Marshal([]string{"<" + to + ">", subject})
	find := `((want) => {
		for (const row of document.querySelectorAll('[data-testid="email-table"] tbody tr')) {
			if (row.cells[1].textContent.includes(want[0]) && row.cells[2].textContent.includes(want[1])) {
				return row.cells[2].querySelector('a').getAttribute('href');
			}
		}
		return "";
	})(` + string(args) + `)`
	href, err := chromedp.Run(ctx, chromedp.Evaluate[string](find))
	if err != nil {
		t.Fatalf("finding the email to %s: %v", to, err)
	}
	if href == "" {
		t.Fatalf("no email to %s about %q in the local mailbox:\n%s", to, subject, bodyText(t, ctx))
	}
	load(t, ctx, "open the email to "+to, chromedp.Click(chromedp.CSS(`[data-testid="email-table"] a[href="`+href+`"]`)))
	step(t, ctx, "wait for the email", chromedp.WaitVisible(tid("mailbox-link")))
	if got := textOf(t, ctx, "mailbox-subject"); !strings.Contains(got, subject) {
		t.Errorf("email subject = %q, want %q", got, subject)
	}
	return attr(t, ctx, `[data-testid="mailbox-link"]`, "href")
}

// registerFromMailbox is the administrator's browser fetching a new user's
// registration link from the local mailbox and the user, in a browser
// context of their own, registering a password with it. It returns the
// user's tab, left on the registration complete page.
func registerFromMailbox(t *testing.T, adminCtx context.Context, baseURL string, u newUser, password string) context.Context {
	t.Helper()
	openMailbox(t, adminCtx, baseURL)
	link := openEmail(t, adminCtx, u.Email, "Complete your CQRS registration")
	userCtx := newIsolatedTab(t, adminCtx)
	step(t, userCtx, "follow the registration link", chromedp.Navigate(link))
	setPassword(t, userCtx, u.UserID, password, "")
	return userCtx
}

// Every journey also walks as people do, not only straight through: it
// reloads each result page and presses Back once (revisit), closes the
// browser in the middle and comes back (comeBack), runs once at a phone's
// width and never scrolls sideways there (onAPhone, wantNoSidewaysScroll),
// and sends its email with no mail server: startApp and startDemoApp
// configure no SMTP, so every email reaches the local mailbox only.

// phoneWidth is the narrowest common phone's width in CSS pixels.
const phoneWidth = 360

// onAPhone narrows the tab to a phone's screen for the rest of its life.
func onAPhone(t *testing.T, ctx context.Context) {
	t.Helper()
	step(t, ctx, "narrow the tab to a phone's width", chromedp.EmulateViewport(phoneWidth, 740, chromedp.EmulateScale(2), chromedp.EmulateMobile))
}

// wantNoSidewaysScroll fails the test when the page the tab shows is wider
// than the window (a person on a phone would have to scroll sideways).
func wantNoSidewaysScroll(t *testing.T, ctx context.Context, page string) {
	t.Helper()
	got, err := chromedp.Run(ctx, chromedp.Evaluate[[]float64](`[document.documentElement.scrollWidth, innerWidth]`))
	if err != nil {
		t.Fatalf("%s: measuring the page: %v", page, err)
	}
	if got[0] > got[1] {
		wide, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`[...document.querySelectorAll('body *')].filter(e => e.getBoundingClientRect().right > innerWidth + 1).slice(-3).map(e => e.tagName + '.' + e.className + ' ' + (e.dataset.testid || '')).join(', ')`))
		t.Errorf("%s is %v px wide in a %v px window: it scrolls sideways (too wide: %s)", page, got[0], got[1], wide)
	}
}

// revisit is what people do on a page that ends a step: reload it, press
// Back, and come to it again. Each time it must still be the page (with
// the element testid), never an error such as "this sign-in answer was
// already used". The tab is left on the page.
func revisit(t *testing.T, ctx context.Context, what, testid string) {
	t.Helper()
	here := location(t, ctx)
	load(t, ctx, "reload "+what, chromedp.Reload())
	arriveAt(t, ctx, "reloaded "+what, here, testid)
	wantNotAnError(t, ctx, "reloaded "+what)
	step(t, ctx, "press Back on "+what, chromedp.NavigateBack())
	// Back may land on the page before, or (a redirect chain) on this one
	// again: either way a page, not an error.
	sctx, cancel := context.WithTimeout(ctx, stepTimeout)
	defer cancel()
	if _, err := chromedp.Run(sctx, chromedp.Poll[bool](`document.readyState === "complete" && document.body !== null`)); err != nil {
		t.Fatalf("after Back on %s: %v", what, err)
	}
	wantNotAnError(t, ctx, "Back from "+what)
	step(t, ctx, "open "+what+" again", chromedp.Navigate(here))
	arriveAt(t, ctx, what+" opened again", here, testid)
}

// wantNotAnError fails when the page is one of the app's answers that
// strand a person: a used sign-in answer, an expired form, a server fault.
func wantNotAnError(t *testing.T, ctx context.Context, what string) {
	t.Helper()
	text := bodyText(t, ctx)
	for _, bad := range []string{"already used", "Your form has expired", "did not start in this browser", "Something went wrong"} {
		if strings.Contains(text, bad) {
			t.Errorf("%s shows %q:\n%s", what, bad, text)
		}
	}
}

// toggleJobAidOn hides the job aid on the page the tab shows and shows it
// again; the page (with the element testid) must survive both.
func toggleJobAidOn(t *testing.T, ctx context.Context, what, testid string) {
	t.Helper()
	here := location(t, ctx)
	for _, press := range []string{"Hide", "Show"} {
		load(t, ctx, press+" the job aid on "+what, chromedp.Click(tid("jobaid-toggle")))
		arriveAt(t, ctx, what+" after "+press+" the job aid", here, testid)
		wantNotAnError(t, ctx, what+" after "+press+" the job aid")
	}
}

// comeBack closes the browser as a person does (its session cookies go,
// the ones with an expiry stay on disk) and opens it again on the same
// profile, at a phone's width when phone is set.
func comeBack(t *testing.T, parent context.Context, profile string, close func(), phone bool) (context.Context, func()) {
	t.Helper()
	close()
	ctx, closeAgain := browserWithProfile(t, parent, profile)
	if phone {
		onAPhone(t, ctx)
	}
	return ctx, closeAgain
}
