package e2e

import (
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
)

// Journey: a User Administrator sets up a user (design journey 1), the
// registration email lands in the local mailbox (journey 2), and the user,
// at another computer, follows its link to the Security Information screen,
// registers and signs in (the job aid).
func TestAdministrationJourney(t *testing.T)           { administrationJourney(t) }
func TestAdministrationJourneyOnPostgres(t *testing.T) { administrationJourney(t, onPostgres(t)...) }

func administrationJourney(t *testing.T, appArgs ...string) {
	ctx, base, adminPW := startJourney(t, appArgs...)
	jo := newUser{UserID: "jo.bloggs", FirstName: "Jo", LastName: "Bloggs", WorkPhone: "0113 496 0000", Email: "jo.bloggs@nhs.net"}
	const joPassword = "Harbour#Lights42"

	legacySignIn(t, ctx, base, adminUserID, adminPW)

	// The administration area: the users list.
	load(t, ctx, "open Administration", chromedp.Click(tid("header-admin")))
	step(t, ctx, "wait for the users list", chromedp.WaitVisible(tid("user-row-"+adminUserID)))
	wantTexts(t, "the users list", textOf(t, ctx, "user-table"), "Showing 1 to 1 of 1 users.", "admin.jones", "System administrator")
	screenshot(t, ctx, "10-admin-users")

	// Set up a user: jo.bloggs in the administrator's organisation, role User.
	setUpUser(t, ctx, base, jo, "11-admin-new-user")
	if got := textOf(t, ctx, "notice"); got != "The user has been set up and the registration email queued." {
		t.Errorf("notice = %q", got)
	}
	if got := textOf(t, ctx, "detail-state"); got != "invited" {
		t.Errorf("jo.bloggs's status = %q, want invited", got)
	}
	if got := textOf(t, ctx, "detail-invitation"); !strings.HasPrefix(got, "pending") || !strings.Contains(got, "link expires") {
		t.Errorf("jo.bloggs's invitation = %q, want pending with its expiry", got)
	}
	wantTexts(t, "jo.bloggs's emails", textOf(t, ctx, "email-table"), "jo.bloggs@nhs.net", "Complete your CQRS registration")

	// The list shows the invitation too.
	step(t, ctx, "back to the users list",
		chromedp.Navigate(base+"/admin/users"),
		chromedp.WaitVisible(tid("user-row-jo.bloggs")),
	)
	wantTexts(t, "jo.bloggs's row", textOf(t, ctx, "user-row-jo.bloggs"),
		"Jo Bloggs", "jo.bloggs@nhs.net", "Riverside Practice (Y12345)", "User", "invited", "pending")

	// No mail server: the email is in the local mailbox, with its link.
	load(t, ctx, "open the local mailbox", chromedp.Click(tid("nav-mailbox")))
	step(t, ctx, "wait for the mailbox", chromedp.WaitVisible(tid("email-table")))
	wantTexts(t, "the local mailbox", bodyText(t, ctx),
		"Local mailbox", "No mail server is set up, so emails are delivered here instead", "Jo Bloggs <jo.bloggs@nhs.net>", "Complete your CQRS registration")
	screenshot(t, ctx, "12-mailbox")

	link := openEmail(t, ctx, jo.Email, "Complete your CQRS registration")
	if !strings.HasPrefix(link, base+"/register?token=") {
		t.Errorf("registration link %q is not %s/register?token=…", link, base)
	}
	wantTexts(t, "the email", textOf(t, ctx, "mailbox-email"),
		"To: Jo Bloggs <jo.bloggs@nhs.net>", "Dear Jo Bloggs,", "Your User ID is: jo.bloggs", "CQRS Registration screen")
	screenshot(t, ctx, "13-mailbox-email")

	// Jo, at another computer (a browser context with no cookies of the
	// administrator's), follows the link: the token leaves the address bar
	// and the Security Information screen is theirs.
	joCtx := newIsolatedTab(t, ctx)
	step(t, joCtx, "follow the registration link",
		chromedp.Navigate(link),
		chromedp.WaitVisible(tid("security-information")),
	)
	if loc := location(t, joCtx); strings.Contains(loc, "token=") {
		t.Errorf("the registration token stayed in the address bar: %s", loc)
	}
	wantTexts(t, "jo's Security Information", textOf(t, joCtx, "security-information"),
		"Security Information:", "* indicates required field(s)", "Password Policy:",
		"Password may only be changed once every 72 hours.", "Password must be 8-32 characters long.")
	if n, err := chromedp.Run(joCtx, chromedp.Evaluate[int](`document.querySelectorAll('[data-testid="sign-out"]').length`)); err != nil || n != 0 {
		t.Errorf("jo's browser shows a signed-in header (%d sign-out buttons, err %v)", n, err)
	}
	setPassword(t, joCtx, jo.UserID, joPassword, "14-invited-security-information")
	wantTexts(t, "jo's registration complete page", textOf(t, joCtx, "registration-complete"),
		"Your password has been set", "jo.bloggs")

	// Jo signs in with the new password and lands in the Message Centre.
	load(t, joCtx, "go to the CQRS Login page", chromedp.Click(tid("go-to-login")))
	submitLegacy(t, joCtx, jo.UserID, joPassword)
	step(t, joCtx, "wait for jo's Message Centre", chromedp.WaitVisible(tid("message-centre-heading")))
	if got := textOf(t, joCtx, "signed-in-as"); got != "Jo Bloggs (jo.bloggs)" {
		t.Errorf("jo signed in as %q", got)
	}
	if n, err := chromedp.Run(joCtx, chromedp.Evaluate[int](`document.querySelectorAll('[data-testid="header-admin"]').length`)); err != nil || n != 0 {
		t.Errorf("a User sees Administration (%d links, err %v)", n, err)
	}

	// The administrator sees the invitation accepted.
	step(t, ctx, "back to the users list",
		chromedp.Navigate(base+"/admin/users"),
		chromedp.WaitVisible(tid("user-row-jo.bloggs")),
	)
	wantTexts(t, "jo.bloggs's row after registering", textOf(t, ctx, "user-row-jo.bloggs"), "active", "accepted")

	// The second time, in the same browsers with nothing cleared: the
	// administrator sets up sam.patel, and sam registers at the computer jo
	// used, once jo has signed out.
	sam := newUser{UserID: "sam.patel", FirstName: "Sam", LastName: "Patel", WorkPhone: "0113 496 0001", Email: "sam.patel@nhs.net"}
	const samPassword = "Willow&Creek7781"
	setUpUser(t, ctx, base, sam, "")
	openMailbox(t, ctx, base)
	samLink := openEmail(t, ctx, sam.Email, "Complete your CQRS registration")
	signOut(t, joCtx)
	step(t, joCtx, "follow sam's registration link",
		chromedp.Navigate(samLink),
		chromedp.WaitVisible(tid("security-information")),
	)
	setPassword(t, joCtx, sam.UserID, samPassword, "")
	load(t, joCtx, "go to the CQRS Login page", chromedp.Click(tid("go-to-login")))
	submitLegacy(t, joCtx, sam.UserID, samPassword)
	step(t, joCtx, "wait for sam's Message Centre", chromedp.WaitVisible(tid("message-centre-heading")))
	if got := textOf(t, joCtx, "signed-in-as"); got != "Sam Patel (sam.patel)" {
		t.Errorf("sam signed in as %q", got)
	}
	step(t, ctx, "back to the users list once more",
		chromedp.Navigate(base+"/admin/users"),
		chromedp.WaitVisible(tid("user-row-sam.patel")),
	)
	wantTexts(t, "sam.patel's row after registering", textOf(t, ctx, "user-row-sam.patel"), "active", "accepted")
}
