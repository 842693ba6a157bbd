package e2e

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// The second step's screens walked as people use them, beyond the
// straight journey of TestJourneySecondFactor: Back after each step,
// reloads, a refresh after each form, the browser closed in the middle of
// setting up and of signing in, every screen at a phone's width (axe on
// each), the keyboard's focus after a wrong code, and a User
// Administrator's reset while the person is at the code prompt.

// keyOnPage is the authenticator key the set-up page shows, without its
// spaces, as a person types it into their app.
func keyOnPage(t *testing.T, ctx context.Context) string {
	t.Helper()
	return strings.ReplaceAll(textOf(t, ctx, "second-factor-key"), " ", "")
}

// recoveryCodesOnPage are the recovery codes the page shows.
func recoveryCodesOnPage(t *testing.T, ctx context.Context) []string {
	t.Helper()
	step(t, ctx, "wait for the recovery codes", chromedp.WaitVisible(tid("recovery-codes")))
	codes, err := chromedp.Run(ctx, chromedp.Evaluate[[]string](`[...document.querySelectorAll('[data-testid="recovery-codes"] code')].map(e => e.textContent)`))
	if err != nil || len(codes) != 10 {
		t.Fatalf("recovery codes: %q, %v", codes, err)
	}
	return codes
}

// wantNoSecretShown fails when the page shows the authenticator key (in
// the groups of four the set-up page uses, or whole) or any of the codes:
// after the step that showed them, nothing shows them again.
func wantNoSecretShown(t *testing.T, ctx context.Context, what, key string, codes []string) {
	t.Helper()
	text := bodyText(t, ctx)
	for _, s := range append([]string{key, groupsOfFourForTest(key)}, codes...) {
		if s != "" && strings.Contains(text, s) {
			t.Errorf("%s shows %q again:\n%s", what, s, text)
		}
	}
	if exists(t, ctx, `[data-testid="second-factor-key"], [data-testid="second-factor-qr"], [data-testid="recovery-codes"]`) {
		t.Errorf("%s shows a key, a QR code or recovery codes again:\n%s", what, text)
	}
}

// groupsOfFourForTest spaces a key as the set-up page shows it.
func groupsOfFourForTest(s string) string {
	var b strings.Builder
	for i, r := range s {
		if i > 0 && i%4 == 0 {
			b.WriteByte(' ')
		}
		b.WriteRune(r)
	}
	return b.String()
}

// textNow is the text of the element testid on the page shown now, ""
// when there is none (textOf waits for it to appear).
func textNow(t *testing.T, ctx context.Context, testid string) string {
	t.Helper()
	sctx, cancel := context.WithTimeout(ctx, stepTimeout)
	defer cancel()
	s, err := chromedp.Run(sctx, chromedp.Evaluate[string](`(() => { const e = document.querySelector('[data-testid="`+testid+`"]'); return e ? e.textContent.trim() : "" })()`))
	if err != nil {
		t.Fatalf("text of %s: %v", testid, err)
	}
	return s
}

// pressBack presses the browser's Back button and waits for the page it
// shows. (chromedp.NavigateBack waits for a load event that a page the
// browser keeps in its back-forward cache never fires again.)
func pressBack(t *testing.T, ctx context.Context, what string) {
	t.Helper()
	before := location(t, ctx)
	step(t, ctx, what, chromedp.Evaluate[chromedp.Void](`window.__left = true; history.back()`))
	for deadline := time.Now().Add(stepTimeout); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		pctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		arrived, err := chromedp.Run(pctx, chromedp.Evaluate[bool](`window.__left !== true && document.readyState === "complete" && document.body !== null`))
		cancel()
		if err == nil && arrived {
			kind, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`performance.getEntriesByType("navigation")[0].type`))
			t.Logf("%s: from %s to %s (%s)", what, before, location(t, ctx), kind)
			return
		}
	}
	t.Fatalf("%s (from %s): no page after %s, at %s", what, before, stepTimeout, location(t, ctx))
}

// wantFitsOnAPhone checks a second-step screen at a phone's width: no
// sideways scroll, the QR code and the key (when shown) wholly inside the
// window, and axe.
func wantFitsOnAPhone(t *testing.T, ctx context.Context, a11y *a11yChecker, screen string) {
	t.Helper()
	wantNoSidewaysScroll(t, ctx, screen)
	outside, err := chromedp.Run(ctx, chromedp.Evaluate[[]string](`[...document.querySelectorAll('[data-testid="second-factor-qr"], [data-testid="second-factor-key"], [data-testid="recovery-codes"] code')]
		.filter(e => { const r = e.getBoundingClientRect(); return r.left < 0 || r.right > document.documentElement.clientWidth; })
		.map(e => e.dataset.testid || e.textContent)`))
	if err != nil {
		t.Fatalf("%s: measuring the QR code and key: %v", screen, err)
	}
	if len(outside) > 0 {
		t.Errorf("%s at %d px: %q do not fit in the window", screen, phoneWidth, outside)
	}
	a11y.check(ctx, screen+" (phone)")
}

// wantNotPastTheSecondStep checks that, between the password and the
// second step, the signed-in pages send the person to the Login page.
func wantNotPastTheSecondStep(t *testing.T, ctx context.Context, base, what string) {
	t.Helper()
	for _, page := range []string{"/messages", "/account/second-factor", "/account/second-factor/recovery-codes"} {
		step(t, ctx, what+": open "+page, chromedp.Navigate(base+page), chromedp.WaitReady("body"))
		if loc := location(t, ctx); !strings.HasPrefix(loc, base+"/login") || strings.HasPrefix(loc, base+secondFactorPagePath) {
			t.Errorf("%s: %s opened at %s, want the Login page", what, page, loc)
		}
		if !exists(t, ctx, `[data-testid="login-heading"]`) {
			t.Errorf("%s: %s is not the Login page:\n%s", what, page, bodyText(t, ctx))
		}
	}
}

const secondFactorPagePath = "/login/second-factor"

// wantSecondStepOver checks the answer to a second step whose sign-in has
// gone (the browser closed, an administrator's reset): the clear "Sign in
// again" page with its way to the Login page, not a form that can never
// work.
func wantSecondStepOver(t *testing.T, ctx context.Context, what string, status int64) {
	t.Helper()
	if status != 410 {
		t.Errorf("%s answered %d, want 410", what, status)
	}
	if got := textNow(t, ctx, "error-heading"); got != "Sign in again" {
		t.Errorf("%s shows %q, want Sign in again:\n%s", what, got, bodyText(t, ctx))
	}
	wantTexts(t, what, bodyText(t, ctx), "Nothing was changed")
}

// TestWalkSecondFactorSetUpAndSignIn walks the authenticator set-up and
// the code prompt as people do (--second-factor administrators, the
// system administrator): the browser closed after the QR code is shown
// and before the first code, then a new secret (the half-set-up one does
// not work); Back and reload after every step; new recovery codes; the
// browser closed between the password and the code; every screen at a
// phone's width with axe; focus on the error summary after a wrong code.
func TestWalkSecondFactorSetUpAndSignIn(t *testing.T) {
	app := startApp(t, "--second-factor", "administrators")
	base := app.BaseURL
	parent, cancel := context.WithTimeout(context.Background(), journeyBudget(t, journeyTimeout+2*time.Minute))
	defer cancel()
	profile := filepath.Join(t.TempDir(), "profile")
	ctx, closeBrowser := browserWithProfile(t, parent, profile)
	a11y := &a11yChecker{t: t, axe: axeSource(t)}
	firstRunSetUp(t, ctx, app.SetupURL)

	// Set-up, shown: the QR code and a key. A reload shows the same key;
	// nothing signed in is reachable without the second step.
	secondStep(t, ctx, base, "Set up your authenticator app")
	halfSetUp := &authenticator{key: keyOnPage(t, ctx)}
	load(t, ctx, "reload the set-up page", chromedp.Reload())
	arriveAt(t, ctx, "the set-up page reloaded", base+secondFactorPagePath, "second-factor-qr")
	if got := keyOnPage(t, ctx); got != halfSetUp.key {
		t.Errorf("a reload of the set-up page shows the key %q, want the same %q", got, halfSetUp.key)
	}
	wantNotPastTheSecondStep(t, ctx, base, "half set up")
	step(t, ctx, "back to the set-up page", chromedp.Navigate(base+secondFactorPagePath), chromedp.WaitVisible(tid("second-factor-qr")))
	if got := keyOnPage(t, ctx); got != halfSetUp.key {
		t.Errorf("the set-up page opened again shows the key %q, want the same %q", got, halfSetUp.key)
	}

	// The browser closed before the first code, and opened again on a
	// phone: the old tab's page says to sign in again; the password leads
	// to set-up again, with a new key, and the half-set-up key's codes
	// are refused.
	ctx, closeBrowser = comeBack(t, parent, profile, closeBrowser, true)
	status := load(t, ctx, "open the set-up page in the browser opened again", chromedp.Navigate(base+secondFactorPagePath))
	wantSecondStepOver(t, ctx, "the set-up page after the browser was closed", status)
	wantFitsOnAPhone(t, ctx, a11y, "Sign in again")
	secondStep(t, ctx, base, "Set up your authenticator app")
	phone := &authenticator{key: keyOnPage(t, ctx)}
	if phone.key == halfSetUp.key {
		t.Fatalf("set-up after the browser was closed shows the half-set-up key %q again, want a new one", phone.key)
	}
	wantFitsOnAPhone(t, ctx, a11y, "Set up your authenticator app")

	if status := answerSecondStep(t, ctx, halfSetUp.code(t)); status != 401 {
		t.Fatalf("a code from the half-set-up key answered %d, want 401", status)
	}
	wantTexts(t, "a code from the half-set-up key", bodyText(t, ctx), "The code is not right.")
	wantSummaryFocused(t, ctx, "a code from the half-set-up key")
	if got := keyOnPage(t, ctx); got != phone.key {
		t.Errorf("after a wrong code the set-up page shows the key %q, want the same %q", got, phone.key)
	}
	wantFitsOnAPhone(t, ctx, a11y, "Set up your authenticator app, the code not right")

	// The first code: the recovery codes. Back lands past the set-up
	// (signed in), never on it; Forward does not show the codes again.
	if status := answerSecondStep(t, ctx, phone.code(t)); status != 200 {
		t.Fatalf("the first code answered %d", status)
	}
	arriveAt(t, ctx, "the recovery codes after the first code", base+"/account/second-factor/recovery-codes", "recovery-codes")
	codes := recoveryCodesOnPage(t, ctx)
	wantFitsOnAPhone(t, ctx, a11y, "Your recovery codes")
	step(t, ctx, "press Back on the recovery codes", chromedp.NavigateBack())
	arriveAt(t, ctx, "Back from the recovery codes", base+"/messages", "message-centre-heading")
	wantNoSecretShown(t, ctx, "Back from the recovery codes", phone.key, codes)
	step(t, ctx, "press Forward to the recovery codes", chromedp.NavigateForward())
	arriveAt(t, ctx, "Forward to the recovery codes", base+"/account/second-factor", "second-factor-status")
	wantNoSecretShown(t, ctx, "Forward to the recovery codes", phone.key, codes)
	wantTexts(t, "the account's second step", textNow(t, ctx, "second-factor-status"), "10 recovery codes left")
	wantFitsOnAPhone(t, ctx, a11y, "Second step at sign-in (account)")

	// New recovery codes: shown once; a reload shows how many are left,
	// not the codes, and makes no new set; Back does not resubmit.
	load(t, ctx, "ask for new recovery codes", chromedp.Click(tid("new-recovery-codes")))
	arriveAt(t, ctx, "the new recovery codes", base+"/account/second-factor/recovery-codes", "recovery-codes")
	fresh := recoveryCodesOnPage(t, ctx)
	for _, c := range fresh {
		for _, old := range codes {
			if c == old {
				t.Errorf("the new recovery codes repeat an old one, %q", c)
			}
		}
	}
	wantFitsOnAPhone(t, ctx, a11y, "Your new recovery codes")
	load(t, ctx, "reload the new recovery codes", chromedp.Reload())
	arriveAt(t, ctx, "the new recovery codes reloaded", base+"/account/second-factor", "second-factor-status")
	wantNoSecretShown(t, ctx, "the new recovery codes reloaded", phone.key, append(codes, fresh...))
	pressBack(t, ctx, "press Back after the new recovery codes")
	arriveAt(t, ctx, "Back after the new recovery codes", base+"/account/second-factor", "second-factor-status")
	wantNoSecretShown(t, ctx, "Back after the new recovery codes", phone.key, append(codes, fresh...))
	wantTexts(t, "the account's second step after new codes", textNow(t, ctx, "second-factor-status"), "10 recovery codes left")
	step(t, ctx, "open the Message Centre", chromedp.Navigate(base+"/messages"), chromedp.WaitVisible(tid("message-centre-heading")))
	signOut(t, ctx)

	// The code prompt: the replaced recovery codes are refused (focus on
	// the error summary); a refresh after the wrong code shows the same
	// clear page; nothing signed in is reachable before the code.
	secondStep(t, ctx, base, "Enter a code from your authenticator app")
	wantFitsOnAPhone(t, ctx, a11y, "Enter a code from your authenticator app")
	wantNotPastTheSecondStep(t, ctx, base, "at the code prompt")
	step(t, ctx, "back to the code prompt", chromedp.Navigate(base+secondFactorPagePath), chromedp.WaitVisible(tid("second-factor-form")))
	// By keyboard alone: Tab to the field, type, Enter.
	tabTo(t, ctx, "#code", 30, false)
	keys(t, ctx, "type a replaced recovery code", typeKeys(codes[0]))
	if status := enterAndLoad(t, ctx, "Enter on the code prompt"); status != 401 {
		t.Fatalf("a replaced recovery code answered %d, want 401", status)
	}
	wantSummaryFocused(t, ctx, "a replaced recovery code")
	followErrorLink(t, ctx, "code", "The code is not right.")
	wantFitsOnAPhone(t, ctx, a11y, "Enter a code, the code not right")
	status = load(t, ctx, "refresh after the wrong code", chromedp.Reload())
	if status != 401 && status != 200 {
		t.Errorf("a refresh after the wrong code answered %d", status)
	}
	if got := textNow(t, ctx, "second-factor-heading"); got != "Enter a code from your authenticator app" {
		t.Errorf("a refresh after the wrong code shows %q", got)
	}
	wantNotAnError(t, ctx, "a refresh after the wrong code")

	// The browser closed between the password and the code, and opened
	// again at a desk: the old prompt says to sign in again; the password
	// and a code sign in. Back then does not return to the prompt.
	closeBrowser()
	ctx, closeBrowser = browserWithProfile(t, parent, profile)
	defer closeBrowser()
	status = load(t, ctx, "open the code prompt in the browser opened again", chromedp.Navigate(base+secondFactorPagePath))
	wantSecondStepOver(t, ctx, "the code prompt after the browser was closed", status)
	wantNotPastTheSecondStep(t, ctx, base, "the browser closed at the code prompt")
	secondStep(t, ctx, base, "Enter a code from your authenticator app")
	if status := answerSecondStep(t, ctx, phone.code(t)); status != 200 {
		t.Fatalf("a code after the browser was closed answered %d", status)
	}
	arriveAt(t, ctx, "signed in with a code", base+"/messages", "message-centre-heading")
	load(t, ctx, "reload the Message Centre", chromedp.Reload())
	arriveAt(t, ctx, "the Message Centre reloaded", base+"/messages", "message-centre-heading")
	step(t, ctx, "press Back after the code", chromedp.NavigateBack())
	if _, err := chromedp.Run(ctx, chromedp.Poll[bool](`document.readyState === "complete" && document.body !== null`)); err != nil {
		t.Fatalf("after Back from the Message Centre: %v", err)
	}
	if exists(t, ctx, `[data-testid="second-factor-form"]`) {
		t.Errorf("Back after the code shows the code prompt again at %s:\n%s", location(t, ctx), bodyText(t, ctx))
	}
	wantNotAnError(t, ctx, "Back after the code")

	// A recovery code from the new set works once.
	step(t, ctx, "open the Message Centre", chromedp.Navigate(base+"/messages"), chromedp.WaitVisible(tid("message-centre-heading")))
	signOut(t, ctx)
	secondStep(t, ctx, base, "Enter a code from your authenticator app")
	if status := answerSecondStep(t, ctx, fresh[0]); status != 200 {
		t.Fatalf("a new recovery code answered %d", status)
	}
	arriveAt(t, ctx, "signed in with a new recovery code", base+"/account/second-factor", "second-factor-status")
	wantTexts(t, "the account's second step after a recovery code", textNow(t, ctx, "second-factor-status"), "9 recovery codes left")
	step(t, ctx, "press Back after the recovery code", chromedp.NavigateBack())
	if _, err := chromedp.Run(ctx, chromedp.Poll[bool](`document.readyState === "complete" && document.body !== null`)); err != nil {
		t.Fatalf("after Back from the account page: %v", err)
	}
	if exists(t, ctx, `[data-testid="second-factor-form"]`) {
		t.Errorf("Back after a recovery code shows the code prompt again at %s", location(t, ctx))
	}
}

// secondStepAs signs in as userID with the password on the Login page and
// waits for the second step's heading.
func secondStepAs(t *testing.T, ctx context.Context, base, userID, password, heading string) {
	t.Helper()
	step(t, ctx, "open the CQRS Login page", chromedp.Navigate(base+"/login"), chromedp.WaitVisible(tid("legacy-form")))
	submitLegacy(t, ctx, userID, password)
	arriveAt(t, ctx, "the second step after "+userID+"'s password", base+secondFactorPagePath, "second-factor-heading")
	if got := textNow(t, ctx, "second-factor-heading"); got != heading {
		t.Fatalf("%s's second step says %q, want %q", userID, got, heading)
	}
}

// setUpFirstApp signs in as userID (the second step not yet set up), sets
// up the authenticator app from the key on the page and continues past
// the recovery codes to the Message Centre. It returns the phone and the
// codes.
func setUpFirstApp(t *testing.T, ctx context.Context, base, userID, password string) (*authenticator, []string) {
	t.Helper()
	secondStepAs(t, ctx, base, userID, password, "Set up your authenticator app")
	phone := &authenticator{key: keyOnPage(t, ctx)}
	if status := answerSecondStep(t, ctx, phone.code(t)); status != 200 {
		t.Fatalf("%s's first code answered %d", userID, status)
	}
	codes := recoveryCodesOnPage(t, ctx)
	load(t, ctx, "continue to the Message Centre", chromedp.Click(tid("recovery-codes-continue")))
	step(t, ctx, "wait for the Message Centre", chromedp.WaitVisible(tid("message-centre-heading")))
	return phone, codes
}

// setUpUserAs is setUpUser with a role (its select's value); it returns
// the address of the new user's page.
func setUpUserAs(t *testing.T, ctx context.Context, base string, u newUser, role string) string {
	t.Helper()
	step(t, ctx, "open Set up a user", chromedp.Navigate(base+"/admin/users/new"), chromedp.WaitVisible(tid("user-form")))
	step(t, ctx, "fill in Set up a user for "+u.UserID,
		fill("#user_id", u.UserID), fill("#first_name", u.FirstName), fill("#last_name", u.LastName),
		fill("#work_phone", u.WorkPhone), fill("#email", u.Email),
		chromedp.SetValue(chromedp.CSS("#role"), role))
	load(t, ctx, "submit Set up a user", chromedp.Click(tid("user-submit")))
	step(t, ctx, "wait for the user's page", chromedp.WaitVisible(tid("detail-invitation")))
	page, _, _ := strings.Cut(location(t, ctx), "?")
	return page
}

const resetAction = `[data-testid="action-Reset second step (authenticator app, passkeys)"]`

// TestWalkSecondFactorResetByUserAdministrator walks a User
// Administrator's reset of a person's second step (--second-factor
// everyone) while that person waits at the code prompt: the reset's
// answer reloaded and Back pressed send nothing again (one email); the
// person's waiting prompt says to sign in again; their password leads to
// set-up with a new key, and neither the old key's codes nor the old
// recovery codes work.
func TestWalkSecondFactorResetByUserAdministrator(t *testing.T) {
	app := startApp(t, "--second-factor", "everyone")
	base := app.BaseURL
	parent, cancel := context.WithTimeout(context.Background(), journeyBudget(t, journeyTimeout+2*time.Minute))
	defer cancel()
	ctx := newBrowser(t, parent)
	a11y := &a11yChecker{t: t, axe: axeSource(t)}
	firstRunSetUp(t, ctx, app.SetupURL)
	adminPhone, adminCodes := setUpFirstApp(t, ctx, base, adminUserID, adminPassword)
	// Back from the Message Centre, twice: past the recovery codes and the
	// set-up page, neither shown again.
	for _, back := range []struct{ what, want, testid string }{
		{"press Back to the recovery codes", "/account/second-factor", "second-factor-status"},
		{"press Back to the set-up page", "/messages", "message-centre-heading"},
	} {
		pressBack(t, ctx, back.what)
		arriveAt(t, ctx, back.what, base+back.want, back.testid)
		wantNoSecretShown(t, ctx, back.what, adminPhone.key, adminCodes)
		wantNotAnError(t, ctx, back.what)
	}

	const password = "Harbour#Lights42"
	uma := newUser{UserID: "uma.shah", FirstName: "Uma", LastName: "Shah", WorkPhone: "01632 960001", Email: "uma.shah@nhs.net"}
	pat := newUser{UserID: "pat.kerr", FirstName: "Pat", LastName: "Kerr", WorkPhone: "01632 960002", Email: "pat.kerr@nhs.net"}
	setUpUserAs(t, ctx, base, uma, "user-admin")
	patPage := setUpUserAs(t, ctx, base, pat, "user")
	umaCtx := registerFromMailbox(t, ctx, base, uma, password)
	patCtx := registerFromMailbox(t, ctx, base, pat, password)

	// Pat sets up their app, signs out, and is back at the code prompt
	// when the reset comes.
	patOld, patCodes := setUpFirstApp(t, patCtx, base, pat.UserID, password)
	signOut(t, patCtx)
	secondStepAs(t, patCtx, base, pat.UserID, password, "Enter a code from your authenticator app")

	// Uma, a User Administrator, resets it from Pat's page; the answer
	// reloaded, and Back, reset nothing again.
	setUpFirstApp(t, umaCtx, base, uma.UserID, password)
	step(t, umaCtx, "open Pat's page", chromedp.Navigate(patPage), chromedp.WaitVisible(resetAction))
	load(t, umaCtx, "reset Pat's second step", chromedp.Click(resetAction))
	arriveAt(t, umaCtx, "the question before the reset", patPage+"/second-factor/reset", "confirm-heading")
	wantTexts(t, "the question before the reset", bodyText(t, umaCtx), "Reset the second step of Pat Kerr", "stop working now")
	a11y.check(umaCtx, "Reset the second step?")
	load(t, umaCtx, "confirm the reset", chromedp.Click(tid("confirm-submit")))
	arriveAt(t, umaCtx, "the reset's answer", patPage+"?notice=second-factor-reset", "notice")
	wantTexts(t, "the reset's answer", textNow(t, umaCtx, "notice"), "The second step has been reset and the user told by email.")
	if exists(t, umaCtx, resetAction) {
		t.Error("after the reset Pat's page still offers to reset the second step")
	}
	a11y.check(umaCtx, "A user's page after the second step's reset")
	load(t, umaCtx, "reload the reset's answer", chromedp.Reload())
	arriveAt(t, umaCtx, "the reset's answer reloaded", patPage+"?notice=second-factor-reset", "notice")
	wantNotAnError(t, umaCtx, "the reset's answer reloaded")
	// Back may show the question as it was, its button and all (Chromium
	// keeps it in its back-forward cache): pressed again, it changes
	// nothing and says so.
	pressBack(t, umaCtx, "press Back after the reset")
	wantNotAnError(t, umaCtx, "Back after the reset")
	if again := `[data-testid="confirm-submit"]`; exists(t, umaCtx, again) {
		t.Logf("Back after the reset shows the question as it was, with its button")
		// (A click by script: chromedp loses the frame of a page restored
		// from the back-forward cache.)
		step(t, umaCtx, "reset Pat's second step again", chromedp.Evaluate[chromedp.Void](`document.querySelector(`+jsString(again)+`).click()`))
		arriveAt(t, umaCtx, "a second reset", patPage+"/second-factor/reset", "error-heading")
		wantTexts(t, "a second reset", bodyText(t, umaCtx), "There is no second step to reset", "Nothing was changed.")
		a11y.check(umaCtx, "There is no second step to reset")
	}

	// Pat's waiting prompt: sign in again. Then set-up with a new key;
	// the old key's codes and the old recovery codes are refused.
	status := answerSecondStep(t, patCtx, patOld.code(t))
	wantSecondStepOver(t, patCtx, "Pat's code prompt after the reset", status)
	wantNotPastTheSecondStep(t, patCtx, base, "Pat after the reset")
	secondStepAs(t, patCtx, base, pat.UserID, password, "Set up your authenticator app")
	patNew := &authenticator{key: keyOnPage(t, patCtx)}
	if patNew.key == patOld.key {
		t.Fatalf("set-up after the reset shows the old key %q again", patNew.key)
	}
	for _, old := range []string{patOld.code(t), patCodes[0]} {
		if status := answerSecondStep(t, patCtx, old); status != 401 {
			t.Errorf("after the reset an old code %q answered %d, want 401", old, status)
		}
		wantSummaryFocused(t, patCtx, "an old code after the reset")
	}
	if got := keyOnPage(t, patCtx); got != patNew.key {
		t.Errorf("after wrong codes the set-up page shows the key %q, want the same %q", got, patNew.key)
	}
	if status := answerSecondStep(t, patCtx, patNew.code(t)); status != 200 {
		t.Fatalf("the new key's first code answered %d", status)
	}
	recoveryCodesOnPage(t, patCtx)

	// One email to Pat about the reset, whatever was reloaded.
	openMailbox(t, ctx, base)
	if n := countMatching(t, ctx, `[data-testid="email-table"] tbody tr`, "The second step of your CQRS sign-in was reset"); n != 1 {
		t.Errorf("%d emails about the reset in the local mailbox, want 1:\n%s", n, textNow(t, ctx, "email-table"))
	}
}
