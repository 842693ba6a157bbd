package e2e

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
)

// Journey: NHSmail as people meet it today, in training mode: the second
// step after the password (Microsoft Authenticator on a phone that is a
// second browser context, a texted code), a denied prompt then an approved
// one, a timeout moved by the training clock, and "Stay signed in?" Yes
// (a new browser on the same profile is let in without the password) and
// No (it asks again). Walked twice without clearing anything.

const (
	mfaAppEmail  = "mo.authenticator@nhs.net"
	mfaTextEmail = "tess.text@nhs.net"
	mfaPassword  = "NHSmail!2026" // the training NHSmail password
)

// mfaWaitingPage signs in with the password and waits for the second step.
func mfaWaitingPage(t *testing.T, ctx context.Context, base, email, testid string) {
	t.Helper()
	nhsmailSignIn(t, ctx, email, mfaPassword)
	arriveAt(t, ctx, "the second step for "+email, base+"/nhsmail/mfa", testid)
}

// answerOnPhone opens the phone link in the phone's tab and answers the
// Authenticator prompt.
func answerOnPhone(t *testing.T, phone context.Context, base, phoneURL, decision, number string) {
	t.Helper()
	load(t, phone, "open the phone", chromedp.Navigate(base+phoneURL))
	if got := textOf(t, phone, "nhsmail-phone-heading"); got != "Are you trying to sign in?" {
		t.Fatalf("the phone shows %q", got)
	}
	steps := []chromedp.Action[chromedp.Void]{}
	if number != "" {
		steps = append(steps, fill(`[data-testid="nhsmail-phone-number"]`, number))
	}
	steps = append(steps, chromedp.Click(tid("nhsmail-phone-"+decision)))
	load(t, phone, "answer "+decision+" on the phone", steps...)
	step(t, phone, "wait for the phone's answer", chromedp.WaitVisible(tid("nhsmail-phone-answered")))
}

func TestJourneyMFA(t *testing.T) {
	app := startDemoApp(t)
	base := app.BaseURL
	profile := filepath.Join(t.TempDir(), "learner-profile")
	learner, closeLearner := browserWithProfile(t, context.Background(), profile)
	phoneBrowser := newBrowser(t, context.Background())
	phone := newIsolatedTab(t, phoneBrowser)
	attacker := newIsolatedTab(t, phoneBrowser)
	trainer := newIsolatedTab(t, phoneBrowser)
	legacySignIn(t, trainer, base, app.TrainerUserID, app.TrainerPassword)
	a11y := &a11yChecker{t: t, axe: axeSource(t)}

	for round := 1; round <= 2; round++ {
		shot := func(ctx context.Context, name string) {
			if round == 1 {
				screenshot(t, ctx, name)
			}
		}
		t.Logf("round %d", round)

		// Authenticator: a denied prompt, then an approved one.
		startNHSmailSignIn(t, learner, base)
		mfaWaitingPage(t, learner, base, mfaAppEmail, "nhsmail-mfa-number")
		number := strings.TrimSpace(textOf(t, learner, "nhsmail-mfa-number"))
		phoneURL := attr(t, learner, `[data-testid="nhsmail-phone-link"]`, "href")
		if attr(t, learner, `[data-testid="nhsmail-phone-qr"]`, "src") == "" || len(number) != 2 {
			t.Fatalf("the waiting page lacks its number (%q) or QR code", number)
		}
		shot(learner, "nhsmail-mfa-approve")
		if round == 1 {
			a11y.check(learner, "NHSmail: Approve sign in request")
		}

		// Someone who knows the password but not the phone link cannot
		// answer this prompt, nor continue this sign-in.
		load(t, attacker, "another browser opens the waiting page", chromedp.Navigate(base+"/nhsmail/mfa"))
		if got := textOf(t, attacker, "nhsmail-message-heading"); got != "This sign-in request has expired" {
			t.Errorf("another browser's waiting page: %q", got)
		}
		guess := phoneURL[:len(phoneURL)-4] + "AAAA"
		load(t, attacker, "another browser guesses a phone link", chromedp.Navigate(base+guess))
		if got := textOf(t, attacker, "nhsmail-phone-heading"); got != "No sign-in request" {
			t.Errorf("a guessed phone link shows %q", got)
		}

		answerOnPhone(t, phone, base, phoneURL, "deny", "")
		arriveAt(t, learner, "the denied prompt (the waiting page updates itself)", base+"/nhsmail/mfa", "nhsmail-message-heading")
		wantTexts(t, "the denied page", bodyText(t, learner), "Request denied", "Sign in again")
		shot(learner, "nhsmail-mfa-denied")
		load(t, learner, "Sign in again", chromedp.Click(tid("nhsmail-message-link")))
		mfaWaitingPage(t, learner, base, mfaAppEmail, "nhsmail-mfa-number")
		number = strings.TrimSpace(textOf(t, learner, "nhsmail-mfa-number"))
		phoneURL = attr(t, learner, `[data-testid="nhsmail-phone-link"]`, "href")

		if round == 1 {
			step(t, phone, "the phone's screen is 360 px wide", chromedp.EmulateViewport(360, 740))
			load(t, phone, "open the phone", chromedp.Navigate(base+phoneURL))
			if w, err := chromedp.Run(phone, chromedp.Evaluate[int](`document.documentElement.scrollWidth`)); err != nil || w > 360 {
				t.Errorf("the phone page is %d px wide at a 360 px viewport (%v)", w, err)
			}
			a11y.check(phone, "NHSmail phone: Are you trying to sign in?")
			screenshot(t, phone, "nhsmail-mfa-phone")
		}
		answerOnPhone(t, phone, base, phoneURL, "approve", number)
		arriveAt(t, learner, "Stay signed in? after approving", base+"/nhsmail/mfa", "nhsmail-stay-heading")
		shot(learner, "nhsmail-stay-signed-in")
		load(t, learner, "No, do not stay signed in", chromedp.Click(tid("nhsmail-stay-no")))
		arriveAt(t, learner, "the message centre after Authenticator", base+"/messages", "message-centre-heading")

		// "No": the simulator forgets the person when the browser closes.
		closeLearner()
		learner, closeLearner = browserWithProfile(t, context.Background(), profile)
		startNHSmailSignIn(t, learner, base)

		// Text message: a wrong code, then the one on the phone, pasted.
		mfaWaitingPage(t, learner, base, mfaTextEmail, "nhsmail-code")
		wantTexts(t, "the code page", bodyText(t, learner), "Enter code", "We texted your phone +44 XXXXXXXX")
		phoneURL = attr(t, learner, `[data-testid="nhsmail-phone-link"]`, "href")
		load(t, phone, "read the text message", chromedp.Navigate(base+phoneURL))
		code := strings.TrimSpace(textOf(t, phone, "nhsmail-phone-code"))
		shot(learner, "nhsmail-mfa-code")
		load(t, learner, "type a wrong code", fill(`[data-testid="nhsmail-code"]`, "000000"), chromedp.Click(tid("nhsmail-verify")))
		if code != "000000" {
			wantTexts(t, "a wrong code", bodyText(t, learner), "You didn't enter the expected verification code")
		}
		load(t, learner, "paste the texted code", fill(`[data-testid="nhsmail-code"]`, code[:3]+" "+code[3:]), chromedp.Click(tid("nhsmail-verify")))
		arriveAt(t, learner, "Stay signed in? after the code", base+"/nhsmail/mfa", "nhsmail-stay-heading")
		load(t, learner, "Yes, stay signed in", chromedp.Click(tid("nhsmail-stay-yes")))
		arriveAt(t, learner, "the message centre after the code", base+"/messages", "message-centre-heading")

		// "Yes": a new browser on the same profile is let in without the
		// password or the second step.
		closeLearner()
		learner, closeLearner = browserWithProfile(t, context.Background(), profile)
		step(t, learner, "open the CQRS Login page", chromedp.Navigate(base+"/login"), chromedp.WaitVisible(tid("sso-sign-in")))
		load(t, learner, "select Sign In", chromedp.Click(tid("sso-sign-in")))
		arriveAt(t, learner, "signed in by the kept session", base+"/messages", "message-centre-heading")

		// A prompt nobody answers: the trainer moves the training clock on,
		// and the waiting page says the request timed out.
		load(t, learner, "Sign in with a different NHSmail account", chromedp.Navigate(base+"/sso/start?prompt=select_account"))
		mfaWaitingPage(t, learner, base, mfaAppEmail, "nhsmail-mfa-number")
		load(t, trainer, "open the trainer's page", chromedp.Navigate(base+"/training/trainer"))
		load(t, trainer, "+72 hours on the training clock", chromedp.Click(tid("clock-72h")))
		arriveAt(t, learner, "the timed-out prompt", base+"/nhsmail/mfa", "nhsmail-message-heading")
		wantTexts(t, "the timed-out page", bodyText(t, learner), "We didn't hear from you", "Sign in again")
		shot(learner, "nhsmail-mfa-timeout")
		closeLearner()
		learner, closeLearner = browserWithProfile(t, context.Background(), profile)
		load(t, learner, "sign out of CQRS", chromedp.Navigate(base+"/login"))
	}
	if a11y.runs == 0 {
		t.Error(fmt.Sprint("axe never ran"))
	}
}
