package e2e

import (
	"net/http"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
)

// Journey: too many failed legacy sign-ins lock the account, and from then
// on every attempt, the right password included, gets the same answer as
// any failure; the owner is told by email. The user unlocks the account and
// chooses a new password through Unlock Account or Forgotten Password and
// the emailed link (design journey 8).
func TestLockoutAndRecoveryJourney(t *testing.T) { lockoutAndRecoveryJourney(t) }
func TestLockoutAndRecoveryJourneyOnPostgres(t *testing.T) {
	lockoutAndRecoveryJourney(t, onPostgres(t)...)
}

func lockoutAndRecoveryJourney(t *testing.T, appArgs ...string) {
	ctx, base, adminPW := startJourney(t, appArgs...)
	lee := newUser{UserID: "lee.smith", FirstName: "Lee", LastName: "Smith", WorkPhone: "0113 496 0002", Email: "lee.smith@nhs.net"}
	const (
		leePassword = "Harbour#Lights42"
		newPassword = "Meadow!Bank2027"
		signInError = "Incorrect user ID or password. Type the correct user ID and password, and try again."
		lockoutHelp = "5 unsuccessful attempts in a row lock your account. If it is locked, we have emailed you a link to unlock it; you can also use Unlock Account or Forgotten Password, or ask your CQRS User Administrator to unlock it."
	)

	// The administrator sets up lee.smith, who registers.
	legacySignIn(t, ctx, base, adminUserID, adminPW)
	setUpUser(t, ctx, base, lee, "")
	leeCtx := registerFromMailbox(t, ctx, base, lee, leePassword)

	// Five wrong passwords: the same generic answer each time, which says
	// how the lockout works.
	step(t, leeCtx, "open the CQRS Login page",
		chromedp.Navigate(base+"/login"),
		chromedp.WaitVisible(tid("legacy-form")),
	)
	for i := 1; i <= 5; i++ {
		status := submitLegacy(t, leeCtx, lee.UserID, "Wrong#Guess"+string(rune('0'+i)))
		if status != http.StatusUnauthorized {
			t.Errorf("failed sign-in %d: status %d, want 401", i, status)
		}
		if got := textOf(t, leeCtx, "signin-error"); got != signInError {
			t.Errorf("failed sign-in %d: message %q", i, got)
		}
		if got := textOf(t, leeCtx, "signin-lockout"); got != lockoutHelp {
			t.Errorf("failed sign-in %d: lockout text %q", i, got)
		}
		if got := attr(t, leeCtx, "#user_id", "value"); got != lee.UserID {
			t.Errorf("failed sign-in %d: User ID kept as %q", i, got)
		}
	}
	screenshot(t, leeCtx, "19-lockout-failed-sign-in")
	failedPage := bodyText(t, leeCtx)

	// Now the right password gets exactly the same answer: the page tells
	// nobody that the account is locked, or that the password was right.
	if status := submitLegacy(t, leeCtx, lee.UserID, leePassword); status != http.StatusUnauthorized {
		t.Errorf("right password on a locked account: status %d, want 401", status)
	}
	if got := bodyText(t, leeCtx); got != failedPage {
		t.Errorf("the right password on a locked account changed the page:\n%s\nwas:\n%s", got, failedPage)
	}
	screenshot(t, leeCtx, "20-lockout-locked")

	// The owner learns of the lock by email, with a link to unlock it.
	openMailbox(t, ctx, base)
	if link := openEmail(t, ctx, lee.Email, "Your CQRS account is locked"); !strings.HasPrefix(link, base+"/reset?token=") {
		t.Errorf("unlock link %q is not %s/reset?token=…", link, base)
	}
	wantTexts(t, "the lock email", bodyText(t, ctx), "after 5 unsuccessful attempts in a row", "Unlock your CQRS account")

	// The administrator's list shows the account locked.
	step(t, ctx, "open the users list",
		chromedp.Navigate(base+"/admin/users"),
		chromedp.WaitVisible(tid("user-row-lee.smith")),
	)
	if got := textOf(t, ctx, "user-row-lee.smith"); !strings.Contains(got, "locked") {
		t.Errorf("lee.smith's row does not say locked: %q", got)
	}

	// Unlock Account or Forgotten Password, from the login page's link.
	step(t, leeCtx, "open the CQRS Login page",
		chromedp.Navigate(base+"/login"),
		chromedp.WaitVisible(tid("forgotten-link")),
	)
	if got := textOf(t, leeCtx, "forgotten-link"); got != "Click here." {
		t.Errorf("forgotten link text = %q, want Click here.", got)
	}
	load(t, leeCtx, "select Click here.", chromedp.Click(tid("forgotten-link")))
	step(t, leeCtx, "wait for the form", chromedp.WaitVisible(tid("forgotten-form")))
	wantTexts(t, "the forgotten page", bodyText(t, leeCtx), "Unlock Account or Forgotten Password", "User ID or email address")
	step(t, leeCtx, "enter the User ID", fill("#who", lee.UserID))
	screenshot(t, leeCtx, "21-forgotten")
	load(t, leeCtx, "ask for a link", chromedp.Click(tid("forgotten-submit")))
	step(t, leeCtx, "wait for the answer", chromedp.WaitVisible(tid("reset-sent")))
	if got := textOf(t, leeCtx, "reset-sent"); !strings.HasPrefix(got, "If an account matches what you entered, we have sent an email") {
		t.Errorf("answer = %q", got)
	}
	screenshot(t, leeCtx, "22-forgotten-sent")

	// The link is in the local mailbox (for administrators); lee follows it.
	openMailbox(t, ctx, base)
	link := openEmail(t, ctx, lee.Email, "Unlock your CQRS account or reset your password")
	if !strings.HasPrefix(link, base+"/reset?token=") {
		t.Errorf("reset link %q is not %s/reset?token=…", link, base)
	}
	step(t, leeCtx, "follow the reset link", chromedp.Navigate(link))
	setPassword(t, leeCtx, lee.UserID, newPassword, "23-reset-security-information")
	if got := textOf(t, leeCtx, "complete-heading"); got != "Your password has been changed" {
		t.Errorf("reset complete heading = %q", got)
	}
	wantTexts(t, "the reset complete page", textOf(t, leeCtx, "registration-complete"), "If your account was locked, it is now unlocked")
	screenshot(t, leeCtx, "24-reset-complete")

	// The old password no longer works; the new one signs lee in.
	load(t, leeCtx, "go to the CQRS Login page", chromedp.Click(tid("go-to-login")))
	if status := submitLegacy(t, leeCtx, lee.UserID, leePassword); status != http.StatusUnauthorized {
		t.Errorf("old password after the reset: status %d, want 401", status)
	}
	submitLegacy(t, leeCtx, lee.UserID, newPassword)
	step(t, leeCtx, "wait for lee's Message Centre", chromedp.WaitVisible(tid("message-centre-heading")))
	if got := textOf(t, leeCtx, "signed-in-as"); got != "Lee Smith (lee.smith)" {
		t.Errorf("signed in as %q", got)
	}

	// The second time, in the same browsers with nothing cleared: lee signs
	// out, is locked out again, and this time unlocks through the link in
	// the lock email itself.
	const thirdPassword = "Orchard?Gate2028"
	signOut(t, leeCtx)
	for i := 1; i <= 5; i++ {
		if status := submitLegacy(t, leeCtx, lee.UserID, "Again#Wrong"+string(rune('0'+i))); status != http.StatusUnauthorized {
			t.Errorf("second lockout, failed sign-in %d: status %d, want 401", i, status)
		}
	}
	if status := submitLegacy(t, leeCtx, lee.UserID, newPassword); status != http.StatusUnauthorized {
		t.Errorf("right password on the account locked again: status %d, want 401", status)
	}
	openMailbox(t, ctx, base)
	unlock := openEmail(t, ctx, lee.Email, "Your CQRS account is locked") // the newest
	step(t, leeCtx, "follow the unlock link", chromedp.Navigate(unlock))
	setPassword(t, leeCtx, lee.UserID, thirdPassword, "")
	if got := textOf(t, leeCtx, "complete-heading"); got != "Your password has been changed" {
		t.Errorf("second reset complete heading = %q", got)
	}
	load(t, leeCtx, "go to the CQRS Login page again", chromedp.Click(tid("go-to-login")))
	submitLegacy(t, leeCtx, lee.UserID, thirdPassword)
	step(t, leeCtx, "wait for lee's Message Centre again", chromedp.WaitVisible(tid("message-centre-heading")))
}
