package e2e

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// tid selects the element with the given data-testid.
func tid(id string) chromedp.CSS {
	return chromedp.CSS(`[data-testid="` + id + `"]`)
}

// typeInto replaces an input's value by typing, so the browser fires the
// input events htmx listens for. The old value is cleared from script,
// without events, so only the typed text reaches the live check.
func typeInto(sel, text string) chromedp.Action[chromedp.Void] {
	selJSON, _ := json.Marshal(sel)
	return chromedp.Steps(
		chromedp.WaitVisible(chromedp.CSS(sel)),
		chromedp.Evaluate[chromedp.Void](`document.querySelector(`+string(selJSON)+`).value = ""`),
		chromedp.SendKeys(chromedp.CSS(sel), text),
	)
}

// textOf returns the visible text of the element with the given data-testid.
func textOf(t *testing.T, ctx context.Context, id string) string {
	t.Helper()
	s, err := chromedp.Run(ctx, chromedp.Text(tid(id)))
	if err != nil {
		t.Fatalf("text of %s: %v", id, err)
	}
	return s
}

// do runs the actions and fails the test on error.
func do(t *testing.T, ctx context.Context, what string, steps ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	if err := chromedp.Do(ctx, steps...); err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

// waitRules waits (bounded) until each Password Policy line rule-<code> has
// the wanted data-state, and reports the states it saw when it gives up.
func waitRules(t *testing.T, ctx context.Context, want map[string]string) {
	t.Helper()
	wantJSON, _ := json.Marshal(want)
	const states = `Object.fromEntries([...document.querySelectorAll('[data-testid^="rule-"]')].map(e => [e.dataset.testid, e.dataset.state]))`
	expr := `((want) => Object.entries(want).every(([code, state]) => {
		const e = document.querySelector('[data-testid="rule-' + code + '"]');
		return e !== null && e.getAttribute('data-state') === state;
	}))(` + string(wantJSON) + `)`
	_, err := chromedp.Run(ctx, chromedp.Poll[bool](expr,
		chromedp.WithPollingInterval(50*time.Millisecond),
		chromedp.WithPollingTimeout(10*time.Second)))
	if err != nil {
		got, _ := chromedp.Run(ctx, chromedp.Evaluate[map[string]string](states))
		t.Fatalf("policy rules: want %v; have %v (%v)", want, got, err)
	}
}

func TestFirstRunJourney(t *testing.T)           { firstRunJourney(t) }
func TestFirstRunJourneyOnPostgres(t *testing.T) { firstRunJourney(t, onPostgres(t)...) }

func firstRunJourney(t *testing.T, appArgs ...string) {
	app := startApp(t, appArgs...)
	// One bound for the whole journey; the browser lives inside it.
	parent, cancel := context.WithTimeout(context.Background(), journeyBudget(t, 90*time.Second))
	t.Cleanup(cancel)
	ctx := newBrowser(t, parent)

	const (
		userID   = "admin.jones"
		strong   = "Riverside#2026q"
		mismatch = "Riverside#2026x"
	)

	// 0. Before set-up the address alone shows the waiting page, which
	// offers no Login page (it would be this page again).
	do(t, ctx, "open the address before set-up",
		chromedp.Navigate(app.BaseURL+"/"),
		chromedp.WaitVisible(tid("error-heading")),
	)
	if got := textOf(t, ctx, "error-heading"); got != "CQRS is waiting to be set up" {
		t.Errorf("before set-up the address shows %q", got)
	}
	if strings.Contains(bodyText(t, ctx), "Go to the CQRS Login page") {
		t.Error("the waiting page offers the CQRS Login page, which leads back to itself")
	}

	// 1. The one-time set-up link shows the set-up form.
	do(t, ctx, "open the set-up link",
		chromedp.Navigate(app.SetupURL),
		chromedp.WaitVisible(tid("setup-heading")),
	)
	if got := textOf(t, ctx, "setup-heading"); got != "Set up CQRS" {
		t.Errorf("set-up heading = %q", got)
	}
	loc, err := chromedp.Run(ctx, chromedp.Location())
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(loc, "token=") {
		t.Errorf("the set-up token stayed in the address bar: %s", loc)
	}
	screenshot(t, ctx, "01-setup")

	// 2. Creating the administrator leads to the Security Information screen.
	do(t, ctx, "fill in and submit the set-up form",
		chromedp.SendKeys(chromedp.CSS("#user_id"), userID),
		chromedp.SendKeys(chromedp.CSS("#first_name"), "Alex"),
		chromedp.SendKeys(chromedp.CSS("#last_name"), "Jones"),
		chromedp.SendKeys(chromedp.CSS("#email"), "admin.jones@nhs.net"),
		chromedp.SendKeys(chromedp.CSS("#org_name"), "Riverside Practice"),
		chromedp.SendKeys(chromedp.CSS("#ods_code"), "Y12345"),
		chromedp.Click(tid("setup-submit")),
		chromedp.WaitVisible(tid("security-information")),
	)
	screen := textOf(t, ctx, "security-information")
	for _, want := range []string{"Security Information", "* indicates required field(s)", "Password Policy"} {
		if !strings.Contains(screen, want) {
			t.Errorf("Security Information screen lacks %q:\n%s", want, screen)
		}
	}
	if got := textOf(t, ctx, "register-user-id"); got != userID {
		t.Errorf("User ID shown = %q, want %q", got, userID)
	}
	screenshot(t, ctx, "02-security-information")

	// 3. A weak password: the live check marks the broken rules as you type.
	do(t, ctx, "type a weak password", typeInto("#password", "abc"))
	waitRules(t, ctx, map[string]string{"length": "not-met", "categories": "not-met"})
	screenshot(t, ctx, "03-weak-password")

	// 4. A password with part of the User ID in it.
	do(t, ctx, "type a password with the User ID in it", typeInto("#password", "Jones2024!x"))
	waitRules(t, ctx, map[string]string{"user-id": "not-met", "length": "met", "categories": "met"})

	// 5. A strong password meets every live rule.
	do(t, ctx, "type a strong password", typeInto("#password", strong))
	waitRules(t, ctx, map[string]string{"length": "met", "categories": "met", "user-id": "met"})
	screenshot(t, ctx, "04-strong-password")

	// 6. A confirmation that does not match is refused on the same screen.
	do(t, ctx, "submit with a mismatched confirmation",
		typeInto("#confirm_password", mismatch),
		chromedp.Click(tid("security-submit")),
		chromedp.WaitVisible(tid("confirm_password-error")),
	)
	if got := textOf(t, ctx, "confirm_password-error"); !strings.Contains(got, "Confirm Password must match Password.") {
		t.Errorf("confirm_password error = %q", got)
	}
	if got := textOf(t, ctx, "error-summary"); !strings.Contains(got, "There is a problem") {
		t.Errorf("error summary = %q", got)
	}
	if focused, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.activeElement.dataset.testid || ""`)); err != nil || focused != "error-summary" {
		t.Errorf("focus after the form's problems is on %q (err %v), want the error summary", focused, err)
	}
	// The form came back through htmx; the title says so all the same.
	if title, err := chromedp.Run(ctx, chromedp.Title()); err != nil || !strings.HasPrefix(title, "Error: Security Information") {
		t.Errorf("title with the form's problems = %q (err %v), want it to start Error: Security Information", title, err)
	}

	// 7. The matching confirmation completes the registration.
	do(t, ctx, "submit the password and its confirmation",
		typeInto("#password", strong),
		typeInto("#confirm_password", strong),
		chromedp.Click(tid("security-submit")),
		chromedp.WaitVisible(tid("registration-complete")),
	)
	done := textOf(t, ctx, "registration-complete")
	for _, want := range []string{"Your password has been set", userID} {
		if !strings.Contains(done, want) {
			t.Errorf("registration complete page lacks %q:\n%s", want, done)
		}
	}
	screenshot(t, ctx, "05-registration-complete")

	// 8. Then, in the same browser, sign in with the new password; the
	// confirmation is not shown again to a reload or a typed address.
	load(t, ctx, "go to the CQRS Login page", chromedp.Click(tid("go-to-login")))
	submitLegacy(t, ctx, userID, strong)
	do(t, ctx, "wait for the Message Centre", chromedp.WaitVisible(tid("message-centre-heading")))
	signOut(t, ctx)
	do(t, ctx, "type the registration confirmation's address",
		chromedp.Navigate(app.BaseURL+"/register/complete"),
		chromedp.WaitVisible(tid("legacy-form")),
	)
	if strings.Contains(bodyText(t, ctx), "Your password has been set") {
		t.Error("the registration confirmation was shown again at its typed address")
	}
}
