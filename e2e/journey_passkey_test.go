package e2e

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/webauthn"
	"github.com/chromedp/chromedp"
)

// Journey: passkeys as the second step (--second-factor administrators),
// in Chromium with the DevTools WebAuthn virtual authenticator (a
// platform authenticator with resident keys and user verification), at
// http://localhost, where browsers allow passkeys. The system
// administrator sets up a passkey at the second step instead of an
// authenticator app, keeps the recovery codes, signs out and back in with
// the password and the passkey, then with the passkey alone ("Sign in with
// a passkey" on the Login page); on their passkeys page, adding the same device again is
// refused by the browser (the page says so and moves focus there), the
// passkey is renamed and then removed (the result pages reloaded), which
// sends them back to set-up. Walked twice in the same browser without
// clearing anything. Then, at the bare IP address 127.0.0.1, the second
// step says why passkeys are not offered.

// addVirtualAuthenticator gives the tab's browser a passkey authenticator.
func addVirtualAuthenticator(t *testing.T, ctx context.Context) {
	t.Helper()
	if _, err := chromedp.Call(ctx, webauthn.Enable, webauthn.EnableParams{}); err != nil {
		t.Fatalf("WebAuthn.enable: %v", err)
	}
	_, err := chromedp.Call(ctx, webauthn.AddVirtualAuthenticator, webauthn.AddVirtualAuthenticatorParams{Options: &webauthn.VirtualAuthenticatorOptions{
		Protocol: webauthn.AuthenticatorProtocolCtap2, Transport: webauthn.AuthenticatorTransportInternal,
		HasResidentKey: true, HasUserVerification: true, IsUserVerified: true, AutomaticPresenceSimulation: true,
	}})
	if err != nil {
		t.Fatalf("WebAuthn.addVirtualAuthenticator: %v", err)
	}
}

// usePasskeyButton presses the page's passkey button once passkey.js has
// shown it.
func usePasskeyButton(t *testing.T, ctx context.Context, what string) {
	t.Helper()
	step(t, ctx, what, chromedp.WaitVisible(tid("passkey-start")), chromedp.Click(tid("passkey-start")))
}

func TestJourneyPasskeys(t *testing.T) {
	app := startApp(t, "--second-factor", "administrators")
	ip := app.BaseURL
	base := strings.Replace(ip, "127.0.0.1", "localhost", 1)
	parent, cancel := context.WithTimeout(context.Background(), journeyTimeout+90*time.Second)
	defer cancel()
	ctx := newBrowser(t, parent)
	addVirtualAuthenticator(t, ctx)
	firstRunSetUp(t, ctx, strings.Replace(app.SetupURL, ip, base, 1))
	a11y := &a11yChecker{t: t, axe: axeSource(t)}
	for round := 1; round <= 2; round++ {
		t.Logf("round %d", round)
		shot := func(name string) {
			if round == 1 {
				screenshot(t, ctx, name)
			}
		}
		// The first sign-in: a passkey instead of an authenticator app.
		secondStep(t, ctx, base, "Set up your authenticator app")
		wantTexts(t, "the set-up page", bodyText(t, ctx), "Or use a passkey instead")
		step(t, ctx, "wait for the passkey button", chromedp.WaitVisible(tid("passkey-start")))
		shot("passkey-enrol")
		if round == 1 {
			a11y.check(ctx, "Second step: set up (with the passkey option)")
		}
		usePasskeyButton(t, ctx, "set up a passkey")
		arriveAt(t, ctx, "the recovery codes after a passkey", base+"/account/second-factor/recovery-codes", "recovery-codes")
		load(t, ctx, "continue to the Message Centre", chromedp.Click(tid("recovery-codes-continue")))
		step(t, ctx, "wait for the Message Centre", chromedp.WaitVisible(tid("message-centre-heading")))
		signOut(t, ctx)

		// The next sign-in: the passkey.
		secondStep(t, ctx, base, "Use your passkey")
		step(t, ctx, "wait for the passkey button", chromedp.WaitVisible(tid("passkey-start")))
		shot("passkey-sign-in")
		if round == 1 {
			a11y.check(ctx, "Second step: use your passkey")
		}
		usePasskeyButton(t, ctx, "use the passkey")
		arriveAt(t, ctx, "signed in with the passkey", base+"/messages", "message-centre-heading")
		signOut(t, ctx)

		// The passkey alone, from the Login page: no password.
		step(t, ctx, "wait for Sign in with a passkey", chromedp.WaitVisible(tid("passkey-start")))
		shot("passkey-login")
		if round == 1 {
			a11y.check(ctx, "Login page with Sign in with a passkey")
		}
		usePasskeyButton(t, ctx, "sign in with the passkey alone")
		arriveAt(t, ctx, "signed in with the passkey alone", base+"/messages", "message-centre-heading")

		// The passkeys page: the same device again is refused by the
		// browser, which the page says, with focus on it.
		step(t, ctx, "open Your passkeys", chromedp.Navigate(base+"/account/passkeys"), chromedp.WaitVisible(tid("passkeys-heading")))
		wantTexts(t, "the passkeys page", bodyText(t, ctx), "Passkey in Chrome on Linux", "Last used")
		usePasskeyButton(t, ctx, "add the same device again")
		step(t, ctx, "wait for the browser's refusal", chromedp.WaitVisible(tid("error-summary")))
		wantTexts(t, "the refusal", textOf(t, ctx, "error-summary"), "This device already has a passkey")
		if focused, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.activeElement.dataset.testid || ""`)); err != nil || focused != "error-summary" {
			t.Errorf("focus after the browser's refusal is on %q (%v), want the error summary", focused, err)
		}
		if round == 1 {
			a11y.check(ctx, "Your passkeys: the browser refused")
		}
		// Rename it; the result page reloads as itself.
		name := []string{"", "Work laptop", "Home laptop"}[round]
		load(t, ctx, "rename the passkey", fill(`[data-testid="passkey-rename-form"] input.nhsuk-input`, name), chromedp.Click(tid("passkey-rename")))
		arriveAt(t, ctx, "renamed", base+"/account/passkeys", "notice")
		wantTexts(t, "the renamed passkey", textOf(t, ctx, "passkey-name"), name)
		shot("passkeys-account")
		if round == 1 {
			a11y.check(ctx, "Your passkeys")
		}
		load(t, ctx, "reload the renamed passkey's page", chromedp.Reload())
		arriveAt(t, ctx, "reloaded", base+"/account/passkeys", "passkeys-heading")
		wantNotAnError(t, ctx, "the reloaded passkeys page")
		wantTexts(t, "the reloaded page", textOf(t, ctx, "passkey-name"), name)
		// Remove it: the last second step gone, set-up comes next time.
		load(t, ctx, "remove the passkey", chromedp.Click(tid("passkey-remove")))
		wantTexts(t, "the question before the removal", textOf(t, ctx, "confirm-heading"), "Remove the passkey “"+name+"”?")
		wantTexts(t, "the question before the removal", bodyText(t, ctx), "your recovery codes go with it")
		if round == 1 {
			a11y.check(ctx, "Remove the passkey")
		}
		load(t, ctx, "confirm the removal", chromedp.Click(tid("confirm-submit")))
		arriveAt(t, ctx, "removed", base+"/account/passkeys", "notice")
		wantTexts(t, "the removal", textOf(t, ctx, "notice"), "removed", "you will set one up the next time you sign in")
		load(t, ctx, "reload after the removal", chromedp.Reload())
		arriveAt(t, ctx, "reloaded after the removal", base+"/account/passkeys", "passkeys-none")
		signOut(t, ctx)
	}

	// A phone's width: the passkey pages never scroll sideways.
	phone := newIsolatedTab(t, ctx)
	onAPhone(t, phone)
	addVirtualAuthenticator(t, phone)
	secondStep(t, phone, base, "Set up your authenticator app")
	wantNoSidewaysScroll(t, phone, "the second step with the passkey option")
	usePasskeyButton(t, phone, "set up a passkey on the phone")
	arriveAt(t, phone, "the recovery codes", base+"/account/second-factor/recovery-codes", "recovery-codes")
	step(t, phone, "open Your passkeys", chromedp.Navigate(base+"/account/passkeys"), chromedp.WaitVisible(tid("passkeys-heading")))
	wantNoSidewaysScroll(t, phone, "Your passkeys")
	signOut(t, phone)
	secondStep(t, phone, base, "Use your passkey")
	wantNoSidewaysScroll(t, phone, "the second step with a passkey")

	// At the bare IP address the browser could not use them: the page
	// says why, and the recovery code form stays.
	step(t, ctx, "open the Login page at the IP address", chromedp.Navigate(ip+"/login"), chromedp.WaitVisible(tid("legacy-form")))
	secondStep(t, ctx, ip, "Use your passkey")
	wantTexts(t, "the second step at an IP address", textOf(t, ctx, "passkey-not-offered"), "127.0.0.1 is a bare IP address")
	if n, err := chromedp.Run(ctx, chromedp.Evaluate[int](`document.querySelectorAll('[data-testid="passkey-form"]').length`)); err != nil || n != 0 {
		t.Errorf("a passkey form at the IP address: %d, %v", n, err)
	}
	shot := func(name string) { screenshot(t, ctx, name) }
	shot("passkey-not-offered")
	a11y.check(ctx, "Second step: passkeys not offered")
}
