package e2e

import (
	"context"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"
)

// Journey: the legacy login (job aid step 3), the Message Centre, My
// account's change of password under the 72-hour rule, and Sign out.
func TestLegacySignInJourney(t *testing.T)           { legacySignInJourney(t) }
func TestLegacySignInJourneyOnPostgres(t *testing.T) { legacySignInJourney(t, onPostgres(t)...) }

func legacySignInJourney(t *testing.T, appArgs ...string) {
	ctx, base, adminPW := startJourney(t, appArgs...)

	// The registration complete page leads to the CQRS Login page.
	load(t, ctx, "go to the CQRS Login page", chromedp.Click(tid("go-to-login")))
	step(t, ctx, "wait for the login page", chromedp.WaitVisible(tid("legacy-form")))
	if got := textOf(t, ctx, "login-heading"); got != "Welcome to the Calculating Quality Reporting Service (CQRS)" {
		t.Errorf("login heading = %q", got)
	}
	wantTexts(t, "the Sign In panel", textOf(t, ctx, "sso-panel"),
		"Sign In", "Login using your NHSmail account by selecting the button below.")
	wantTexts(t, "the Help panel", textOf(t, ctx, "help-panel"), "Help", "Contact Us", "GP Collections Website")
	wantTexts(t, "the legacy login", textOf(t, ctx, "legacy-form"),
		"If you do not have an NHSmail account, please use your legacy login.", "User ID:", "Password:", "Sign In")
	screenshot(t, ctx, "06-login")
	// The NHS stylesheet comes without its web font: the page falls back to
	// Arial, as the NHS design system does, not to the browser's serif.
	if font, err := chromedp.Run(ctx, chromedp.Evaluate[string](`getComputedStyle(document.body).fontFamily`)); err != nil || !strings.HasPrefix(strings.ToLower(font), "arial") {
		t.Errorf("the page's font is %q (err %v), want Arial first", font, err)
	}

	// Legacy sign in: the Message Centre, with the welcome message unread.
	submitLegacy(t, ctx, adminUserID, adminPW)
	step(t, ctx, "wait for the Message Centre", chromedp.WaitVisible(tid("message-centre-heading")))
	revisit(t, ctx, "the Message Centre after signing in", "message-centre-heading")
	if got := textOf(t, ctx, "signed-in-as"); got != "Alex Jones (admin.jones)" {
		t.Errorf("signed in as %q", got)
	}
	if got := textOf(t, ctx, "unread-count"); got != "1 unread" {
		t.Errorf("header unread count = %q, want 1 unread", got)
	}
	item := `[data-testid="message-list"] li`
	if got := attr(t, ctx, item, "data-unread"); got != "true" {
		t.Errorf("welcome message data-unread = %q, want true", got)
	}
	wantTexts(t, "the message list", textOf(t, ctx, "message-list"), "Unread", "Welcome to CQRS")
	screenshot(t, ctx, "07-message-centre")

	// Opening it (htmx) shows it beside the list, marks it read and takes
	// the unread count out of the header, without a page load.
	step(t, ctx, "mark the page, so a reload would show",
		chromedp.Evaluate[chromedp.Void](`window.__samePage = true`))
	step(t, ctx, "open the welcome message",
		chromedp.Click(chromedp.CSS(item+` [data-testid="open-message-link"]`)),
		chromedp.WaitVisible(tid("open-message-subject")),
		chromedp.WaitNotPresent(tid("unread-count")),
	)
	if got := textOf(t, ctx, "open-message-subject"); got != "Welcome to CQRS" {
		t.Errorf("open message subject = %q", got)
	}
	wantTexts(t, "the open message", textOf(t, ctx, "open-message-body"), "Welcome, Alex.", "This is your message centre")
	if got := attr(t, ctx, item, "data-unread"); got != "false" {
		t.Errorf("opened message data-unread = %q, want false", got)
	}
	if same, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`window.__samePage === true`)); err != nil || !same {
		t.Errorf("opening the message loaded a new page instead of an htmx swap (err %v)", err)
	}
	screenshot(t, ctx, "08-message-opened")

	// My account: a change of password straight after registering is
	// refused under the 72-hour rule, saying when it will be allowed.
	load(t, ctx, "open My account", chromedp.Click(tid("header-account")))
	step(t, ctx, "wait for My account", chromedp.WaitVisible(tid("security-form")))
	wantTexts(t, "My account", textOf(t, ctx, "next-change"),
		"Password may only be changed once every 72 hours", "you can change it again after")
	step(t, ctx, "ask for a new password",
		fill("#current_password", adminPW),
		fill("#password", "Harbour#Lights42"),
		fill("#confirm_password", "Harbour#Lights42"),
		chromedp.Click(tid("security-submit")),
		chromedp.WaitVisible(tid("password-error")),
	)
	refusal := textOf(t, ctx, "security-information")
	wantTexts(t, "the refusal", refusal, "Password may only be changed once every 72 hours.", "You can change your password again after")
	if strings.Contains(refusal, "Your password has been changed.") {
		t.Errorf("the change was accepted within 72 hours:\n%s", refusal)
	}
	if got := attr(t, ctx, `[data-testid="rule-minimum-age"]`, "data-state"); got != "not-met" {
		t.Errorf("72-hour rule state = %q, want not-met", got)
	}
	screenshot(t, ctx, "09-account-72-hours")

	// Sign out: back on the login page, which says so.
	signOut(t, ctx)
	if loc := location(t, ctx); !strings.HasPrefix(loc, base+"/login") {
		t.Errorf("after signing out the browser is at %s", loc)
	}
	// The session ended on the server: the Message Centre wants a sign-in.
	step(t, ctx, "open the Message Centre signed out",
		chromedp.Navigate(base+"/messages"),
		chromedp.WaitVisible(tid("legacy-form")),
	)

	// The second time, in the same browser with all its cookies: signing
	// in from that page takes the administrator back to the Message Centre,
	// and signing out works again.
	submitLegacy(t, ctx, adminUserID, adminPW)
	step(t, ctx, "wait for the Message Centre, the second time", chromedp.WaitVisible(tid("message-centre-heading")))
	if got := textOf(t, ctx, "signed-in-as"); got != "Alex Jones (admin.jones)" {
		t.Errorf("signed in the second time as %q", got)
	}
	signOut(t, ctx)
	legacySignIn(t, ctx, base, adminUserID, adminPW)
	signOut(t, ctx)
}

// Journey: Unlock Account or Forgotten Password twice in one browser, as a
// user who forgets again: each time the emailed link leads to Security
// Information, the new password is set and signs the user in. Nothing is
// cleared between the two.
func TestForgottenPasswordTwiceJourney(t *testing.T) { forgottenPasswordTwiceJourney(t) }
func TestForgottenPasswordTwiceJourneyOnPostgres(t *testing.T) {
	forgottenPasswordTwiceJourney(t, onPostgres(t)...)
}

func forgottenPasswordTwiceJourney(t *testing.T, appArgs ...string) {
	ctx, base, adminPW := startJourney(t, appArgs...)
	kim := newUser{UserID: "kim.ward", FirstName: "Kim", LastName: "Ward", WorkPhone: "0113 496 0003", Email: "kim.ward@nhs.net"}
	legacySignIn(t, ctx, base, adminUserID, adminPW)
	setUpUser(t, ctx, base, kim, "")
	kimCtx := registerFromMailbox(t, ctx, base, kim, "Harbour#Lights42")
	onAPhone(t, kimCtx) // kim resets her password on her phone

	for i, password := range []string{"Meadow!Bank2027", "Orchard#Gate2028"} {
		round := []string{"first", "second"}[i]
		step(t, kimCtx, "open Unlock Account or Forgotten Password, the "+round+" time",
			chromedp.Navigate(base+"/forgotten"),
			chromedp.WaitVisible(tid("forgotten-form")),
		)
		wantNoSidewaysScroll(t, kimCtx, "Unlock Account or Forgotten Password")
		step(t, kimCtx, "enter the User ID", fill("#who", kim.UserID))
		load(t, kimCtx, "ask for a link", chromedp.Click(tid("forgotten-submit")))
		step(t, kimCtx, "wait for the answer", chromedp.WaitVisible(tid("reset-sent")))

		openMailbox(t, ctx, base)
		link := openEmail(t, ctx, kim.Email, "Unlock your CQRS account or reset your password")
		step(t, kimCtx, "follow the reset link, the "+round+" time", chromedp.Navigate(link), chromedp.WaitVisible(tid("security-information")))
		wantNoSidewaysScroll(t, kimCtx, "Security Information")
		setPassword(t, kimCtx, kim.UserID, password, "")
		if got := textOf(t, kimCtx, "complete-heading"); got != "Your password has been changed" {
			t.Errorf("%s reset: complete heading = %q", round, got)
		}
		load(t, kimCtx, "go to the CQRS Login page", chromedp.Click(tid("go-to-login")))
		submitLegacy(t, kimCtx, kim.UserID, password)
		step(t, kimCtx, "wait for kim's Message Centre, the "+round+" time", chromedp.WaitVisible(tid("message-centre-heading")))
		wantNoSidewaysScroll(t, kimCtx, "kim's Message Centre")
		signOut(t, kimCtx)
	}
	// The confirmation is not shown again to someone typing its address.
	step(t, kimCtx, "type the reset confirmation's address",
		chromedp.Navigate(base+"/reset/complete"),
		chromedp.WaitVisible(tid("legacy-form")),
	)
	if strings.Contains(bodyText(t, kimCtx), "Your password has been changed") {
		t.Error("the reset confirmation was shown again at its typed address")
	}
}

// Journey: two instances on one computer (a trainer's copy beside a real
// site, both on 127.0.0.1): one browser, with one cookie store, signs in to
// both and stays signed in to both while using each in turn.
func TestTwoInstancesOneBrowserJourney(t *testing.T) {
	first, second := startApp(t), startApp(t)
	parent, cancel := context.WithTimeout(context.Background(), journeyTimeout)
	t.Cleanup(cancel)
	ctx := newBrowser(t, parent)
	firstRunSetUp(t, ctx, first.SetupURL)
	firstRunSetUp(t, ctx, second.SetupURL)
	legacySignIn(t, ctx, first.BaseURL, adminUserID, adminPassword)
	legacySignIn(t, ctx, second.BaseURL, adminUserID, adminPassword)
	for round := 1; round <= 2; round++ {
		for _, base := range []string{first.BaseURL, second.BaseURL} {
			step(t, ctx, fmt.Sprintf("open the Message Centre at %s (round %d)", base, round),
				chromedp.Navigate(base+"/messages"),
				chromedp.WaitVisible(tid("message-centre-heading")+`, [data-testid="legacy-form"]`),
			)
			if loc := location(t, ctx); loc != base+"/messages" {
				t.Fatalf("round %d: %s signed the browser out: it is at %s", round, base, loc)
			}
			// A form (its CSRF cookie and token) still works there.
			load(t, ctx, "open My account", chromedp.Click(tid("header-account")))
			step(t, ctx, "wait for My account", chromedp.WaitVisible(tid("security-form")))
			step(t, ctx, "check a password against the policy (an htmx POST)",
				fill("#password", "abc"),
				chromedp.WaitVisible(`[data-testid="rule-length"][data-state="not-met"]`),
			)
		}
	}
	signOut(t, ctx)
	step(t, ctx, "the other instance is still signed in",
		chromedp.Navigate(first.BaseURL+"/messages"),
		chromedp.WaitVisible(tid("message-centre-heading")),
	)
	signOut(t, ctx)

	// The NHSmail simulator's cookies are named per instance too: open its
	// sign-in page on both, then look at every cookie the browser holds.
	var urls []string
	for _, base := range []string{first.BaseURL, second.BaseURL} {
		step(t, ctx, "open the CQRS Login page at "+base,
			chromedp.Navigate(base+"/login"),
			chromedp.WaitVisible(tid("sso-sign-in")),
		)
		load(t, ctx, "select Sign In at "+base, chromedp.Click(tid("sso-sign-in")))
		if loc := location(t, ctx); !strings.HasPrefix(loc, base+"/nhsmail/") {
			t.Fatalf("Sign In at %s led to %s, not its NHSmail simulator", base, loc)
		}
		urls = append(urls, base+"/", base+"/nhsmail/authorize", base+"/sso/callback")
	}
	got, err := chromedp.Call(ctx, network.GetCookies, network.GetCookiesParams{URLs: urls})
	if err != nil {
		t.Fatalf("reading the browser's cookies: %v", err)
	}
	instances := map[string][]string{}
	for _, ck := range got.Cookies {
		m := instanceCookieRE.FindStringSubmatch(ck.Name)
		if m == nil {
			t.Errorf("cookie %s (path %s) does not name its instance", ck.Name, ck.Path)
			continue
		}
		instances[m[2]] = append(instances[m[2]], m[1])
	}
	if len(instances) != 2 {
		t.Errorf("the browser's cookies name %d instances, want 2: %v", len(instances), instances)
	}
	for id, names := range instances {
		for _, want := range []string{"cqrs_csrf", "cqrs_sso", "nhsmail_csrf"} {
			if !slices.Contains(names, want) {
				t.Errorf("instance %s: cookies %v, want %s among them", id, names, want)
			}
		}
	}
}

// instanceCookieRE splits a cookie name into its plain name and instance id.
var instanceCookieRE = regexp.MustCompile(`^(?:__Host-|__Secure-)?([a-z_]+)-([0-9a-f]{10})$`)
