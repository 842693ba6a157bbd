package e2e

import (
	"testing"

	"github.com/chromedp/chromedp"
)

// TestLoginRefusalThenBack walks a mistyped password as people do, twice in
// one browser: the refusal, then "Unlock Account or Forgotten Password",
// then Back, as someone who changes their mind: the Login page opens again,
// not Chromium's resubmission page (ERR_CACHE_MISS, a failed request, which
// the browser helpers report). A refresh of the refusal opens the Login page
// afresh instead of sending the password again.
func TestLoginRefusalThenBack(t *testing.T) {
	ctx, base, _ := startJourney(t)
	step(t, ctx, "open the CQRS Login page", chromedp.Navigate(base+"/login"), chromedp.WaitVisible(tid("legacy-form")))
	for _, round := range []string{"first", "second"} {
		if status := submitLegacy(t, ctx, adminUserID, "not the password"); status != 401 {
			t.Fatalf("%s round: a wrong password answered %d, want 401", round, status)
		}
		wantTexts(t, round+" round: the refusal", textOf(t, ctx, "signin-error"), "Incorrect user ID or password")
		load(t, ctx, round+" round: open Forgotten Password", chromedp.Click(tid("forgotten-link")))
		pressBack(t, ctx, round+" round: press Back to the refusal")
		arriveAt(t, ctx, round+" round: Back to the Login page", base+"/login", "legacy-form")
		wantNotAnError(t, ctx, round+" round: Back to the Login page")

		submitLegacy(t, ctx, adminUserID, "still not the password")
		load(t, ctx, round+" round: refresh the refusal", chromedp.Reload())
		arriveAt(t, ctx, round+" round: the refusal refreshed", base+"/login", "legacy-form")
		if exists(t, ctx, `[data-testid="error-summary"]`) {
			t.Errorf("%s round: a refresh of the refusal sent the password again", round)
		}
	}
	legacySignIn(t, ctx, base, adminUserID, adminPassword)
}
