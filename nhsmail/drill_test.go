package nhsmail

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/cqrs-local/cqrs-signin/cqrs"
)

// TestMFADrills: the trainer's controls act once on the account's next
// sign-in with a password. "Times out" sends a prompt (even to an account
// with no method) that never reaches the phone and ends when the clock
// passes its minute; "denied" denies the prompt a moment after it shows,
// whatever the phone answers; then the account signs in as it did before.
// The account's phone link is the waiting page's own, and only while the
// step waits.
func TestMFADrills(t *testing.T) {
	e := newEnv(t)
	p := e.provider.Load()
	ctx := context.Background()
	acct := e.accounts["sam.patel@nhs.net"] // no second step of its own
	if err := p.SetMFADrill(ctx, acct.ID, "explode"); err == nil {
		t.Error("an unknown control was accepted")
	}

	t.Run("times out", func(t *testing.T) {
		e := e.with(t)
		if err := p.SetMFADrill(ctx, acct.ID, cqrs.MFADrillTimeout); err != nil {
			t.Fatal(err)
		}
		if got, _ := p.MFADrills(ctx, []uint64{acct.ID}); got[acct.ID] != cqrs.MFADrillTimeout {
			t.Fatalf("pending controls %v", got)
		}
		browser := e.newBrowser()
		wait := e.mfaWait(browser, e.start(), acct.Email, false)
		if got, _ := p.MFADrills(ctx, []uint64{acct.ID}); len(got) != 0 {
			t.Errorf("the control is still pending once used: %v", got)
		}
		phoneURL := wait.testid("nhsmail-phone-link").AttrOr("href", "")
		if link, err := p.PhoneLink(ctx, acct.ID); err != nil || link != phoneURL {
			t.Errorf("PhoneLink = %q (%v), want the waiting page's %q", link, err, phoneURL)
		}
		if got := strings.TrimSpace(e.get(e.newBrowser(), e.srv.URL+phoneURL).testid("nhsmail-phone-heading").Text()); got != "No new notifications" {
			t.Errorf("the phone shows %q", got)
		}
		if pg := e.get(browser, e.srv.URL+"/nhsmail/mfa/status"); pg.status != http.StatusNoContent {
			t.Errorf("status before the minute: %d", pg.status)
		}
		e.clock.Advance(MFAAnswerWithin + 1)
		pg := e.get(browser, e.srv.URL+"/nhsmail/mfa")
		if got := strings.TrimSpace(pg.testid("nhsmail-message-heading").Text()); got != "We didn't hear from you" {
			t.Errorf("after the minute: %d %q", pg.status, got)
		}
		if link, _ := p.PhoneLink(ctx, acct.ID); link != "" {
			t.Errorf("PhoneLink after the step ended = %q", link)
		}
		// Once: the next sign-in is the password alone again.
		if pg := e.submit(e.newBrowser(), e.start(), acct.Email, password, false); pg.status != http.StatusSeeOther || strings.HasSuffix(pg.header.Get("Location"), "/nhsmail/mfa") {
			t.Errorf("the sign-in after the control: %d %q", pg.status, pg.header.Get("Location"))
		}
	})

	t.Run("denied", func(t *testing.T) {
		e := e.with(t)
		if err := p.SetMFADrill(ctx, acct.ID, cqrs.MFADrillDeny); err != nil {
			t.Fatal(err)
		}
		browser := e.newBrowser()
		wait := e.mfaWait(browser, e.start(), acct.Email, false)
		if got := strings.TrimSpace(wait.testid("nhsmail-mfa-heading").Text()); got != "Approve sign in request" {
			t.Fatalf("the prompt: %q", got)
		}
		if pg := e.get(browser, e.srv.URL+"/nhsmail/mfa/status"); pg.status != http.StatusNoContent {
			t.Errorf("status as the prompt shows: %d", pg.status)
		}
		e.clock.Advance(drillDenyAfter)
		if pg := e.get(browser, e.srv.URL+"/nhsmail/mfa/status"); pg.header.Get("HX-Redirect") != "/nhsmail/mfa" {
			t.Errorf("status once denied: %d %v", pg.status, pg.header)
		}
		pg := e.get(browser, e.srv.URL+"/nhsmail/mfa")
		if got := strings.TrimSpace(pg.testid("nhsmail-message-heading").Text()); got != "Request denied" {
			t.Errorf("after the denial: %d %q", pg.status, got)
		}
		if pg := e.submit(e.newBrowser(), e.start(), acct.Email, password, false); pg.status != http.StatusSeeOther || strings.HasSuffix(pg.header.Get("Location"), "/nhsmail/mfa") {
			t.Errorf("the sign-in after the control: %d %q", pg.status, pg.header.Get("Location"))
		}
	})
}
