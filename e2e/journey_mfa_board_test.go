package e2e

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// Journey: the trainer's controls of a learner's NHSmail second step, on
// the class board. The trainer makes the learner's next prompt denied,
// then makes the next one time out (moved on by the training clock), then
// says the learner's phone changed; each time the board shows the control
// as pending until the learner's next NHSmail sign-in uses it, the board's
// step column shows NHSmail's second step (job aid 4a), the learner
// reaches their phone from their own mailbox, and the sign-in after the
// control works. Walked twice without clearing anything.

// sameContextTab opens another tab beside ctx's, sharing its cookies: the
// learner's mailbox in a second tab of their own browser.
func sameContextTab(t *testing.T, ctx context.Context) context.Context {
	t.Helper()
	tab, cancel := chromedp.NewContext(ctx)
	if err := chromedp.Do(tab); err != nil {
		cancel()
		t.Fatalf("opening a second tab: %v", err)
	}
	watchConsole(t, tab)
	t.Cleanup(func() {
		tctx, stop := context.WithTimeout(tab, 10*time.Second)
		defer stop()
		if err := chromedp.Cancel(tctx); err != nil && !errors.Is(err, context.Canceled) && !errors.Is(err, context.DeadlineExceeded) {
			t.Logf("closing the tab: %v", err)
		}
		cancel()
	})
	return tab
}

// pressLearnerControl opens the learner's buttons on the class board and
// presses one; the board then names the control as pending.
func pressLearnerControl(t *testing.T, trainer context.Context, base, userID, action, pending string) {
	t.Helper()
	step(t, trainer, "open the class board", chromedp.Navigate(base+"/training/board"), chromedp.WaitVisible(tid("board-row-"+userID)))
	load(t, trainer, "open "+userID+"'s buttons", chromedp.Click(chromedp.CSS(`[data-testid="board-row-`+userID+`"] a`)))
	load(t, trainer, "press "+action, chromedp.Click(tid("action-"+action)))
	step(t, trainer, "wait for the notice", chromedp.WaitVisible(tid("notice")))
	wantTexts(t, "the learner's buttons", textOf(t, trainer, "learner-mfa-pending"), pending)
	waitBoard(t, trainer, userID, "Pending: "+pending)
}

// learnerPhone is the phone page the learner's own mailbox leads to (its
// address), once it shows one.
func learnerPhone(t *testing.T, mailbox context.Context, base string) string {
	t.Helper()
	step(t, mailbox, "open the mailbox", chromedp.Navigate(base+"/training/mailbox"), chromedp.WaitVisible(tid("learner-phone-link")))
	return base + attr(t, mailbox, `[data-testid="learner-phone-link"]`, "href")
}

// signInToMessages finishes an NHSmail sign-in that should succeed: when
// the account has a second step (after "phone changed" it has), the
// learner approves it on their phone and does not stay signed in.
func signInToMessages(t *testing.T, learner, mailbox context.Context, base string) {
	t.Helper()
	sctx, cancel := context.WithTimeout(learner, stepTimeout)
	defer cancel()
	if _, err := chromedp.Run(sctx, chromedp.Poll[bool](`location.pathname === "/messages" || document.querySelector('[data-testid="nhsmail-mfa-number"]') !== null`)); err != nil {
		t.Fatalf("waiting for the message centre or the second step: %v; the browser is at %s:\n%s", err, location(t, learner), bodyText(t, learner))
	}
	if strings.HasSuffix(location(t, learner), "/nhsmail/mfa") {
		number := strings.TrimSpace(textOf(t, learner, "nhsmail-mfa-number"))
		phone := learnerPhone(t, mailbox, base)
		if want := attr(t, learner, `[data-testid="nhsmail-phone-link"]`, "href"); !strings.HasSuffix(phone, want) {
			t.Errorf("the mailbox's phone link %q is not the waiting page's %q", phone, want)
		}
		answerOnPhone(t, mailbox, base, strings.TrimPrefix(phone, base), "approve", number)
		arriveAt(t, learner, "Stay signed in? after approving", base+"/nhsmail/mfa", "nhsmail-stay-heading")
		load(t, learner, "No, do not stay signed in", chromedp.Click(tid("nhsmail-stay-no")))
	}
	arriveAt(t, learner, "the message centre", base+"/messages", "message-centre-heading")
}

func TestJourneyTrainerMFAControls(t *testing.T) {
	app := startDemoApp(t)
	base := app.BaseURL
	browser := newBrowser(t, context.Background())
	learner := browser
	mailbox := sameContextTab(t, learner)
	trainer := newIsolatedTab(t, browser)
	legacySignIn(t, trainer, base, app.TrainerUserID, app.TrainerPassword)
	a11y := &a11yChecker{t: t, axe: axeSource(t)}

	// A learner of their own, registered, as the job aid leaves them.
	step(t, learner, "open the training home", chromedp.Navigate(base+"/training"), chromedp.WaitVisible(tid("start-learner")))
	load(t, learner, "start as a new learner", chromedp.Click(tid("start-learner")))
	userID := strings.TrimSpace(textOf(t, learner, "learner-user-id"))
	email := strings.TrimSpace(textOf(t, learner, "learner-nhsmail"))
	password := strings.TrimSpace(textOf(t, learner, "learner-nhsmail-password"))
	toSecurityInformation(t, learner, base)
	registerPassword(t, learner, "Harbour!2026x")

	for round := 1; round <= 2; round++ {
		shot := func(ctx context.Context, name string) {
			if round == 1 {
				screenshot(t, ctx, name)
			}
		}
		t.Logf("round %d", round)

		// "Next prompt is denied": the prompt shows, then the denial.
		pressLearnerControl(t, trainer, base, userID, "mfa-deny", "Next NHSmail prompt is denied")
		shot(trainer, "43-class-board-mfa-controls")
		startNHSmailSignIn(t, learner, base)
		nhsmailSignIn(t, learner, email, password)
		arriveAt(t, learner, "the prompt the trainer made denied", base+"/nhsmail/mfa", "nhsmail-mfa-number")
		waitBoard(t, trainer, userID, "Job aid 4a")
		if row := boardRowText(t, trainer, userID); strings.Contains(row, "Pending") {
			t.Errorf("the control is still pending once used: %q", row)
		}
		waiting := attr(t, learner, `[data-testid="nhsmail-phone-link"]`, "href")
		if phone := learnerPhone(t, mailbox, base); !strings.HasSuffix(phone, waiting) {
			t.Errorf("the mailbox leads to %q, the waiting page to %q", phone, waiting)
		}
		arriveAt(t, learner, "Request denied (the waiting page updates itself)", base+"/nhsmail/mfa", "nhsmail-message-heading")
		wantTexts(t, "the denied page", bodyText(t, learner), "Request denied", "Sign in again")
		waitBoard(t, trainer, userID, "NHSmail second step failed")
		load(t, learner, "Sign in again", chromedp.Click(tid("nhsmail-message-link")))
		nhsmailSignIn(t, learner, email, password)
		signInToMessages(t, learner, mailbox, base)
		signOut(t, learner)

		// "Next prompt times out": nothing reaches the phone, and moving
		// the training clock on ends the wait.
		pressLearnerControl(t, trainer, base, userID, "mfa-timeout", "Next NHSmail prompt times out")
		startNHSmailSignIn(t, learner, base)
		nhsmailSignIn(t, learner, email, password)
		arriveAt(t, learner, "the prompt that will time out", base+"/nhsmail/mfa", "nhsmail-mfa-number")
		load(t, mailbox, "open the phone", chromedp.Navigate(learnerPhone(t, mailbox, base)))
		if got := textOf(t, mailbox, "nhsmail-phone-heading"); got != "No new notifications" {
			t.Errorf("the phone of a prompt that times out shows %q", got)
		}
		load(t, trainer, "open the trainer's page", chromedp.Navigate(base+"/training/trainer"))
		load(t, trainer, "+72 hours on the training clock", chromedp.Click(tid("clock-72h")))
		arriveAt(t, learner, "the timed-out prompt", base+"/nhsmail/mfa", "nhsmail-message-heading")
		wantTexts(t, "the timed-out page", bodyText(t, learner), "We didn't hear from you", "Sign in again")
		step(t, trainer, "back to the class board", chromedp.Navigate(base+"/training/board"), chromedp.WaitVisible(tid("board-row-"+userID)))
		waitBoard(t, trainer, userID, "NHSmail second step failed")
		// From the CQRS Login page again: CQRS's own sign-in request is
		// 72 hours old on the training clock, too old to finish.
		startNHSmailSignIn(t, learner, base)
		nhsmailSignIn(t, learner, email, password)
		signInToMessages(t, learner, mailbox, base)
		signOut(t, learner)

		// "Phone changed": More information required, the set-up on the
		// phone page, its first prompt, and the sign-in goes on.
		pressLearnerControl(t, trainer, base, userID, "mfa-phone-changed", "Phone changed")
		startNHSmailSignIn(t, learner, base)
		nhsmailSignIn(t, learner, email, password)
		arriveAt(t, learner, "More information required", base+"/nhsmail/mfa", "nhsmail-setup-heading")
		if got := textOf(t, learner, "nhsmail-setup-heading"); got != "More information required" {
			t.Fatalf("after the password: %q", got)
		}
		shot(learner, "nhsmail-more-information-required")
		if round == 1 {
			a11y.check(learner, "NHSmail: More information required")
		}
		load(t, learner, "Next", chromedp.Click(tid("nhsmail-setup-next")))
		step(t, learner, "wait for Set up your account", chromedp.WaitVisible(tid("nhsmail-setup-poll")))
		if round == 1 {
			a11y.check(learner, "NHSmail: Set up your account")
		}
		phone := learnerPhone(t, mailbox, base)
		if round == 1 {
			step(t, mailbox, "the phone's screen is 360 px wide", chromedp.EmulateViewport(360, 740))
		}
		load(t, mailbox, "open the phone", chromedp.Navigate(phone))
		if got := textOf(t, mailbox, "nhsmail-phone-heading"); got != "Add account" {
			t.Fatalf("the phone during the set-up shows %q", got)
		}
		if round == 1 {
			if w, err := chromedp.Run(mailbox, chromedp.Evaluate[int](`document.documentElement.scrollWidth`)); err != nil || w > 360 {
				t.Errorf("the phone's set-up page is %d px wide at a 360 px viewport (%v)", w, err)
			}
			a11y.check(mailbox, "NHSmail phone: Add account")
			screenshot(t, mailbox, "nhsmail-mfa-phone-setup")
		}
		load(t, mailbox, "Work or school account", chromedp.Click(tid("nhsmail-phone-register")))
		arriveAt(t, learner, "Let's try it out (the set-up page updates itself)", base+"/nhsmail/mfa", "nhsmail-mfa-number")
		if got := textOf(t, learner, "nhsmail-mfa-heading"); got != "Let's try it out" {
			t.Errorf("the set-up's prompt is headed %q", got)
		}
		number := strings.TrimSpace(textOf(t, learner, "nhsmail-mfa-number"))
		answerOnPhone(t, mailbox, base, strings.TrimPrefix(phone, base), "approve", number)
		if round == 1 {
			step(t, mailbox, "the phone back to a computer's width", chromedp.EmulateViewport(1280, 1000))
		}
		arriveAt(t, learner, "Success!", base+"/nhsmail/mfa", "nhsmail-setup-done")
		shot(learner, "nhsmail-mfa-setup-success")
		load(t, learner, "Done", chromedp.Click(tid("nhsmail-setup-done")))
		step(t, learner, "wait for Stay signed in?", chromedp.WaitVisible(tid("nhsmail-stay-heading")))
		load(t, learner, "No, do not stay signed in", chromedp.Click(tid("nhsmail-stay-no")))
		arriveAt(t, learner, "the message centre after the set-up", base+"/messages", "message-centre-heading")
		step(t, trainer, "open the class board", chromedp.Navigate(base+"/training/board"), chromedp.WaitVisible(tid("board-row-"+userID)))
		done, err := chromedp.Run(trainer, chromedp.Evaluate[string](`document.querySelector('[data-testid="board-row-`+userID+`"]').innerText.replace(/\s+/g, " ")`))
		if err != nil || !strings.Contains(done, "Job aid 4a: Yes") {
			t.Errorf("the board does not mark the second step done: %q (%v)", done, err)
		}
		signOut(t, learner)
	}
	if a11y.runs == 0 {
		t.Error("axe never ran")
	}
}
