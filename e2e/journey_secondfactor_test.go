package e2e

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/cqrs-local/cqrs-signin/secret"
)

// Journey: a second factor for CQRS accounts (--second-factor
// administrators). The system administrator signs in with their password,
// sets up an authenticator app from the key on the page (the test computes
// the codes from it, as a phone would), keeps the recovery codes, signs
// out and back in with a code; a code used once is refused; a recovery
// code works once. Walked twice in the same browser without clearing
// anything.

// authenticator is the test's phone: it computes codes from the key read
// off the page and never offers a time step it has already given.
type authenticator struct {
	key  string
	last int64 // the last time step offered
}

// code is the next code the server can accept: for the current time step
// or the next (one step of drift), never one already given; when both are
// used up it waits for the clock, as a person waits for the next code.
func (a *authenticator) code(t *testing.T) string {
	t.Helper()
	period := int64(secret.TOTPPeriod / time.Second)
	now := time.Now().Unix() / period
	s := max(a.last+1, now)
	if s > now+1 {
		time.Sleep(time.Until(time.Unix((s-1)*period, 0).Add(time.Second)))
	}
	a.last = s
	c, err := secret.TOTPCode(a.key, time.Unix(s*period, 0))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// secondStep signs in with the password and waits for the second step.
func secondStep(t *testing.T, ctx context.Context, base, heading string) {
	t.Helper()
	step(t, ctx, "open the CQRS Login page", chromedp.Navigate(base+"/login"), chromedp.WaitVisible(tid("legacy-form")))
	submitLegacy(t, ctx, adminUserID, adminPassword)
	arriveAt(t, ctx, "the second step after the password", base+"/login/second-factor", "second-factor-heading")
	if got := textOf(t, ctx, "second-factor-heading"); got != heading {
		t.Fatalf("the second step says %q, want %q", got, heading)
	}
}

// answerSecondStep types a code and returns the answer's status.
func answerSecondStep(t *testing.T, ctx context.Context, code string) int64 {
	t.Helper()
	return load(t, ctx, "answer the second step", fill("#code", code), chromedp.Click(tid("second-factor-submit")))
}

func TestJourneySecondFactor(t *testing.T) {
	app := startApp(t, "--second-factor", "administrators")
	base := app.BaseURL
	parent, cancel := context.WithTimeout(context.Background(), journeyTimeout+90*time.Second)
	defer cancel()
	ctx := newBrowser(t, parent)
	firstRunSetUp(t, ctx, app.SetupURL)
	a11y := &a11yChecker{t: t, axe: axeSource(t)}
	var (
		phone    *authenticator
		recovery []string
	)
	for round := 1; round <= 2; round++ {
		t.Logf("round %d", round)
		shot := func(name string) {
			if round == 1 {
				screenshot(t, ctx, name)
			}
		}
		if round == 1 {
			// The first sign-in sets up the app: a QR code and the key.
			secondStep(t, ctx, base, "Set up your authenticator app")
			if attr(t, ctx, `[data-testid="second-factor-qr"]`, "src") == "" {
				t.Fatal("no QR code on the set-up page")
			}
			phone = &authenticator{key: strings.ReplaceAll(textOf(t, ctx, "second-factor-key"), " ", "")}
			shot("second-factor-enrol")
			a11y.check(ctx, "Second step: set up your authenticator app")
			if status := answerSecondStep(t, ctx, phone.code(t)); status != 200 {
				t.Fatalf("the first code answered %d", status)
			}
			step(t, ctx, "wait for the recovery codes", chromedp.WaitVisible(tid("recovery-codes")))
			codes, err := chromedp.Run(ctx, chromedp.Evaluate[[]string](`[...document.querySelectorAll('[data-testid="recovery-codes"] code')].map(e => e.textContent)`))
			if err != nil || len(codes) != 10 {
				t.Fatalf("recovery codes: %q, %v", codes, err)
			}
			recovery = codes
			shot("second-factor-recovery-codes")
			a11y.check(ctx, "Your recovery codes")
			load(t, ctx, "continue to the Message Centre", chromedp.Click(tid("recovery-codes-continue")))
			step(t, ctx, "wait for the Message Centre", chromedp.WaitVisible(tid("message-centre-heading")))
			signOut(t, ctx)
		}

		// Every sign-in after that: a code from the app.
		secondStep(t, ctx, base, "Enter a code from your authenticator app")
		shot("second-factor-code")
		code := phone.code(t)
		if status := answerSecondStep(t, ctx, code); status != 200 {
			t.Fatalf("round %d: a fresh code answered %d", round, status)
		}
		arriveAt(t, ctx, "signed in with a code", base+"/messages", "message-centre-heading")
		signOut(t, ctx)

		// The same code again, within its 30 seconds: refused.
		secondStep(t, ctx, base, "Enter a code from your authenticator app")
		if status := answerSecondStep(t, ctx, code); status != 401 {
			t.Fatalf("round %d: a used code answered %d, want 401", round, status)
		}
		wantTexts(t, "a used code", bodyText(t, ctx), "The code is not right.")
		shot("second-factor-refused")
		if round == 1 {
			a11y.check(ctx, "Second step: the code is not right")
		}

		// A recovery code instead: it works once, and says how many are left.
		used := recovery[round-1]
		if status := answerSecondStep(t, ctx, strings.ToLower(used)); status != 200 {
			t.Fatalf("round %d: a recovery code answered %d", round, status)
		}
		arriveAt(t, ctx, "signed in with a recovery code", base+"/account/second-factor", "second-factor-status")
		wantTexts(t, "the account's second step", textOf(t, ctx, "second-factor-status"), []string{"", "9 recovery codes left", "8 recovery codes left"}[round])
		shot("second-factor-account")
		if round == 1 {
			a11y.check(ctx, "Second step at sign-in (account)")
		}
		signOut(t, ctx)
		secondStep(t, ctx, base, "Enter a code from your authenticator app")
		if status := answerSecondStep(t, ctx, used); status != 401 {
			t.Fatalf("round %d: a used recovery code answered %d, want 401", round, status)
		}
		// Leave the browser at the Login page for the next round, as a
		// person who gives up on the second step would.
		load(t, ctx, "cancel the second step", chromedp.Click(tid("second-factor-cancel")))
	}
}
