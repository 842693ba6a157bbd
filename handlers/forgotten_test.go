package handlers

import (
	"net/url"
	"testing"
	"time"

	"github.com/cqrs-local/cqrs-signin/cqrs"
)

func TestForgottenAnswersTheSameWhateverMatches(t *testing.T) {
	e := newAdminEnv(t)
	disabled := e.addUser(e.admin.OrgID, "gone.away", "Harbour!2026x")
	e.store.SetStatus(t.Context(), disabled.ID, cqrs.StatusDisabled)
	starter := e.addUser(e.admin.OrgID, "new.starter", "")
	sam, _ := e.store.UserByUserID(t.Context(), "sam.patel")
	allBefore, _ := e.store.Emails(t.Context(), cqrs.EmailFilter{})
	var bodies []string
	for _, who := range []string{"sam.patel", "sam.patel@nhs.net", "nobody.here", "nobody@nhs.net", "gone.away", "new.starter"} {
		c := e.client()
		c.get("/forgotten")
		c.setCookie(csrfCookie, "AAAAAAAAAAAAAAAAAAAAAA")
		r := c.post("/forgotten", url.Values{"who": {who}, "csrf_token": {c.csrf("/forgotten")}})
		wantStatus(t, r, 303)
		bodies = append(bodies, r.body)
	}
	for i := range bodies {
		if bodies[i] != bodies[0] {
			t.Errorf("answer %d differs from answer 0", i)
		}
	}
	if emails, _ := e.store.Emails(t.Context(), cqrs.EmailFilter{UserID: disabled.ID}); len(emails) != 0 {
		t.Error("a disabled account was sent a reset link")
	}
	if emails, _ := e.store.Emails(t.Context(), cqrs.EmailFilter{UserID: starter.ID}); len(emails) != 0 && emails[0].Kind == "reset" {
		t.Error("an account not registered yet was sent a reset link")
	}
	// The same answer must not mean nothing happened: the matching account
	// (by User ID and by email) was emailed each time, and nobody else.
	resets := 0
	emails, _ := e.store.Emails(t.Context(), cqrs.EmailFilter{UserID: sam.ID})
	for _, m := range emails {
		if m.Kind == "reset" {
			resets++
		}
	}
	if resets != 2 {
		t.Errorf("sam.patel, matched by User ID and by email, was sent %d reset emails, want 2", resets)
	}
	if allAfter, _ := e.store.Emails(t.Context(), cqrs.EmailFilter{}); len(allAfter)-len(allBefore) != 2 {
		t.Errorf("%d emails were queued, want 2 (both to sam.patel)", len(allAfter)-len(allBefore))
	}
}

func TestResetRateLimits(t *testing.T) {
	e := newAdminEnv(t, func(c *Config) { c.ResetRateLimit = 5 })
	sam, _ := e.store.UserByUserID(t.Context(), "sam.patel")
	c := e.client()
	for i := 0; i < 5; i++ {
		wantStatus(t, c.post("/forgotten", url.Values{"who": {"sam.patel"}, "csrf_token": {c.csrf("/forgotten")}}), 303)
	}
	if emails, _ := e.store.Emails(t.Context(), cqrs.EmailFilter{UserID: sam.ID}); len(emails) != 3 {
		t.Errorf("reset emails sent = %d, want 3 (the per-account hourly limit)", len(emails))
	}
	wantStatus(t, c.post("/forgotten", url.Values{"who": {"sam.patel"}, "csrf_token": {c.csrf("/forgotten")}}), 429)
}

func TestResetLinkExpiresAndDisabledAccountRefused(t *testing.T) {
	e := newAdminEnv(t)
	sam, _ := e.store.UserByUserID(t.Context(), "sam.patel")
	// Each case in a new browser that asked for the link and opened it.
	runScenarios(t, e.testEnv, map[string]*client{roleAnon: nil}, []scenario{
		{Name: "expired after an hour", URL: "/reset", Role: roleAnon,
			Before: func(t *testing.T, c *client, _ url.Values) {
				c.post("/forgotten", url.Values{"who": {"sam.patel"}, "csrf_token": {c.csrf("/forgotten")}})
				link := e.resetLinkFor(sam)
				e.clock.Advance(61 * time.Minute)
				c.get(link)
			},
			ExpectedStatus: 410, ExpectedContent: []string{"This link has expired"}},
		{Name: "the account disabled meanwhile", URL: "/reset", Role: roleAnon,
			Before: func(t *testing.T, c *client, _ url.Values) {
				e.clock.Advance(-61 * time.Minute)
				c.post("/forgotten", url.Values{"who": {"sam.patel"}, "csrf_token": {c.csrf("/forgotten")}})
				link := e.resetLinkFor(sam)
				e.store.SetStatus(t.Context(), sam.ID, cqrs.StatusDisabled)
				c.get(link)
			},
			ExpectedStatus: 403, ExpectedContent: []string{"Contact your CQRS User Administrator"}},
	})
}
