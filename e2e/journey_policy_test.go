package e2e

import (
	"context"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
)

// TestHardenedPolicyJourney: registration under --password-policy hardened
// lists the hardened rules, ticks them live as the user types (with the
// estimator's reason), refuses the passwords on submit and accepts
// a passphrase, which then signs in. The faithful journey under the default
// policy is TestFirstRunJourney, unchanged.
func TestHardenedPolicyJourney(t *testing.T) {
	app := startApp(t, "--password-policy", "hardened")
	parent, cancel := context.WithTimeout(context.Background(), journeyTimeout)
	t.Cleanup(cancel)
	ctx := newBrowser(t, parent)

	const passphrase = "purple tortoise under lamplight"
	step(t, ctx, "open the set-up link", chromedp.Navigate(app.SetupURL), chromedp.WaitVisible(tid("setup-heading")))
	submitSetUpForm(t, ctx)
	box := textOf(t, ctx, "password-policy")
	wantTexts(t, "the hardened Password Policy box", box,
		"Password must be 15-64 characters long.",
		"Password must not be a commonly used password, or one with a few characters added.",
		"Password can not contain the User ID or part of it, your first or last name, your organisation's name or ODS code, or the words NHS, NHSmail or CQRS.",
		"Password must be hard to guess: a strength of at least 3 out of 4.",
		"Password must be different from the previous 8 passwords.",
		"Password must be different from the current password.",
		"Password may only be changed once every 72 hours.")
	for _, cqrsOnly := range []string{"8-32", "three of the following four categories", "Uppercase characters"} {
		if strings.Contains(box, cqrsOnly) {
			t.Errorf("the hardened box shows the CQRS rule %q:\n%s", cqrsOnly, box)
		}
	}

	do(t, ctx, "type Password1!", typeInto("#password", "Password1!"))
	waitRules(t, ctx, map[string]string{"length": "not-met", "common": "not-met", "context": "met", "strength": "not-met"})
	if got, want := textOf(t, ctx, "reason-strength"), "This is similar to a commonly used password."; !strings.Contains(got, want) {
		t.Errorf("strength reason = %q, want it to contain %q", got, want)
	}
	screenshot(t, ctx, "30-hardened-policy-weak")

	do(t, ctx, "type a password with the organisation in it", typeInto("#password", "riverside practice lamplight"))
	waitRules(t, ctx, map[string]string{"length": "met", "context": "not-met"})

	do(t, ctx, "type a passphrase", typeInto("#password", passphrase))
	waitRules(t, ctx, map[string]string{"length": "met", "common": "met", "context": "met", "strength": "met"})
	screenshot(t, ctx, "31-hardened-policy-passphrase")

	// The server enforces the same rules on submit.
	step(t, ctx, "submit Welcome2026!",
		fill("#password", "Welcome2026!"),
		fill("#confirm_password", "Welcome2026!"),
		chromedp.Click(tid("security-submit")),
		chromedp.WaitVisible(tid("password-error")),
	)
	wantTexts(t, "the password error", textOf(t, ctx, "password-error"),
		"Password must be 15-64 characters long.",
		"Password must not be a commonly used password",
		"Password must be hard to guess")

	setPassword(t, ctx, adminUserID, passphrase, "")
	legacySignIn(t, ctx, app.BaseURL, adminUserID, passphrase)
}
