package handlers

import (
	"bytes"
	"encoding/csv"
	"fmt"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/cqrs-local/cqrs-signin/store"
)

// resetLinkFor returns the path of the newest reset link emailed to u.
func (e *testEnv) resetLinkFor(u store.User) string {
	e.t.Helper()
	emails, _ := e.store.Emails(store.EmailFilter{UserID: u.ID, Limit: 5})
	for _, m := range emails {
		if m.Kind == "reset" {
			i := strings.Index(m.Text, "/reset?token=")
			return m.Text[i : i+strings.IndexByte(m.Text[i:], '\n')]
		}
	}
	e.t.Fatal("no reset email")
	return ""
}

func TestLockoutAndRecovery(t *testing.T) {
	e := newAdminEnv(t)
	sam, _ := e.store.UserByUserID("sam.patel")
	c := e.client()
	for i := 1; i <= 4; i++ {
		wantStatus(t, c.signIn("sam.patel", "wrong-password", ""), 401)
	}
	if u, _ := e.store.User(sam.ID); !u.LockedAt.IsZero() {
		t.Fatal("locked after 4 failures")
	}
	wantStatus(t, c.signIn("sam.patel", "wrong-password", ""), 401)
	if u, _ := e.store.User(sam.ID); u.LockedAt.IsZero() {
		t.Fatal("not locked after the 5th failure")
	}
	if r := e.user.get("/messages"); r.StatusCode != 303 {
		t.Errorf("a locked account's existing session still works: %d", r.StatusCode)
	}

	t.Run("while locked the right password is refused, and only it shows the locked page", func(t *testing.T) {
		r := c.signIn("sam.patel", "Harbour!2026x", "")
		wantStatus(t, r, 403)
		wantText(t, r, "Your account is locked", "Unlock Account or Forgotten Password")
		if c.cookie(sessionCookie) != "" {
			t.Fatal("a locked account got a session")
		}
		wrong := c.signIn("sam.patel", "still-wrong", "")
		wantStatus(t, wrong, 401)
		if strings.Contains(wrong.body, "locked") {
			t.Fatal("a wrong password learns the account is locked")
		}
	})

	t.Run("the user unlocks through the emailed link", func(t *testing.T) {
		f := e.client()
		r := f.post("/forgotten", url.Values{"who": {"SAM.PATEL"}, "csrf_token": {f.csrf("/forgotten")}})
		wantStatus(t, r, 200)
		wantText(t, r, "If an account matches")
		link := e.resetLinkFor(sam)
		wantStatus(t, f.get(link), 303)
		wantText(t, f.get("/reset"), "Security Information:")
		t.Run("the history rules apply", func(t *testing.T) {
			r := f.post("/reset", url.Values{"password": {"Harbour!2026x"}, "confirm_password": {"Harbour!2026x"}, "csrf_token": {f.csrf("/reset")}})
			wantStatus(t, r, 422)
			wantText(t, r, "Password must be different from the current password.")
		})
		r = f.post("/reset", url.Values{"password": {"Lakeside#2026"}, "confirm_password": {"Lakeside#2026"}, "csrf_token": {f.csrf("/reset")}})
		wantStatus(t, r, 303)
		u, _ := e.store.User(sam.ID)
		if !u.LockedAt.IsZero() || u.FailedSignIns != 0 {
			t.Fatalf("after reset: locked %v, failures %d", u.LockedAt, u.FailedSignIns)
		}
		wantStatus(t, c.signIn("sam.patel", "Lakeside#2026", ""), 303)
		// The link was single use.
		again := e.client()
		again.get(link)
		wantStatus(t, again.get("/reset"), 404)
	})

	t.Run("the 72-hour minimum does not apply to a reset, and restarts", func(t *testing.T) {
		wantStatus(t, e.orgAdmin.post(fmt.Sprintf("/admin/users/%d/reset", sam.ID), url.Values{"csrf_token": {e.orgAdmin.csrf("/admin/users")}}), 303)
		f := e.client()
		f.get(e.resetLinkFor(sam))
		wantStatus(t, f.post("/reset", url.Values{"password": {"Quayside#2026"}, "confirm_password": {"Quayside#2026"}, "csrf_token": {f.csrf("/reset")}}), 303)
		s := e.client()
		wantStatus(t, s.signIn("sam.patel", "Quayside#2026", ""), 303)
		r := s.post("/account/password", url.Values{"current_password": {"Quayside#2026"}, "password": {"Brookside#2026"}, "confirm_password": {"Brookside#2026"}, "csrf_token": {s.csrf("/account")}})
		wantStatus(t, r, 422)
		wantText(t, r, "Password may only be changed once every 72 hours.")
	})

	t.Run("an administrator unlocks", func(t *testing.T) {
		for i := 0; i < 5; i++ {
			e.client().signIn("sam.patel", "wrong-password", "")
		}
		wantStatus(t, e.client().signIn("sam.patel", "Quayside#2026", ""), 403)
		wantText(t, e.orgAdmin.get("/admin/users?state=locked"), "sam.patel")
		wantStatus(t, e.orgAdmin.post(fmt.Sprintf("/admin/users/%d/unlock", sam.ID), url.Values{"csrf_token": {e.orgAdmin.csrf("/admin/users")}}), 303)
		wantStatus(t, e.client().signIn("sam.patel", "Quayside#2026", ""), 303)
	})
}

func TestResetEndsOtherSessions(t *testing.T) {
	e := newAdminEnv(t)
	sam, _ := e.store.UserByUserID("sam.patel")
	f := e.client()
	f.post("/forgotten", url.Values{"who": {"sam.patel@nhs.net"}, "csrf_token": {f.csrf("/forgotten")}})
	f.get(e.resetLinkFor(sam))
	wantStatus(t, f.post("/reset", url.Values{"password": {"Lakeside#2026"}, "confirm_password": {"Lakeside#2026"}, "csrf_token": {f.csrf("/reset")}}), 303)
	if r := e.user.get("/messages"); r.StatusCode != 303 {
		t.Fatalf("the session from before the reset still works: %d", r.StatusCode)
	}
}

func TestForgottenAnswersTheSameWhateverMatches(t *testing.T) {
	e := newAdminEnv(t)
	disabled := e.addUser(e.admin.OrgID, "gone.away", "Harbour!2026x")
	e.store.SetStatus(disabled.ID, store.StatusDisabled)
	starter := e.addUser(e.admin.OrgID, "new.starter", "")
	sam, _ := e.store.UserByUserID("sam.patel")
	allBefore, _ := e.store.Emails(store.EmailFilter{})
	var bodies []string
	for _, who := range []string{"sam.patel", "sam.patel@nhs.net", "nobody.here", "nobody@nhs.net", "gone.away", "new.starter"} {
		c := e.client()
		c.get("/forgotten")
		c.setCookie(csrfCookie, "AAAAAAAAAAAAAAAAAAAAAA")
		r := c.post("/forgotten", url.Values{"who": {who}, "csrf_token": {c.csrf("/forgotten")}})
		wantStatus(t, r, 200)
		bodies = append(bodies, r.body)
	}
	for i := range bodies {
		if bodies[i] != bodies[0] {
			t.Errorf("answer %d differs from answer 0", i)
		}
	}
	if emails, _ := e.store.Emails(store.EmailFilter{UserID: disabled.ID}); len(emails) != 0 {
		t.Error("a disabled account was sent a reset link")
	}
	if emails, _ := e.store.Emails(store.EmailFilter{UserID: starter.ID}); len(emails) != 0 && emails[0].Kind == "reset" {
		t.Error("an account not registered yet was sent a reset link")
	}
	// The same answer must not mean nothing happened: the matching account
	// (by User ID and by email) was emailed each time, and nobody else.
	resets := 0
	emails, _ := e.store.Emails(store.EmailFilter{UserID: sam.ID})
	for _, m := range emails {
		if m.Kind == "reset" {
			resets++
		}
	}
	if resets != 2 {
		t.Errorf("sam.patel, matched by User ID and by email, was sent %d reset emails, want 2", resets)
	}
	if allAfter, _ := e.store.Emails(store.EmailFilter{}); len(allAfter)-len(allBefore) != 2 {
		t.Errorf("%d emails were queued, want 2 (both to sam.patel)", len(allAfter)-len(allBefore))
	}
}

func TestResetRateLimits(t *testing.T) {
	e := newAdminEnv(t, func(c *Config) { c.ResetRateLimit = 5 })
	sam, _ := e.store.UserByUserID("sam.patel")
	c := e.client()
	for i := 0; i < 5; i++ {
		wantStatus(t, c.post("/forgotten", url.Values{"who": {"sam.patel"}, "csrf_token": {c.csrf("/forgotten")}}), 200)
	}
	if emails, _ := e.store.Emails(store.EmailFilter{UserID: sam.ID}); len(emails) != 3 {
		t.Errorf("reset emails sent = %d, want 3 (the per-account hourly limit)", len(emails))
	}
	wantStatus(t, c.post("/forgotten", url.Values{"who": {"sam.patel"}, "csrf_token": {c.csrf("/forgotten")}}), 429)
}

func TestResetLinkExpiresAndDisabledAccountRefused(t *testing.T) {
	e := newAdminEnv(t)
	sam, _ := e.store.UserByUserID("sam.patel")
	c := e.client()
	c.post("/forgotten", url.Values{"who": {"sam.patel"}, "csrf_token": {c.csrf("/forgotten")}})
	link := e.resetLinkFor(sam)
	e.clock.Advance(61 * time.Minute)
	c.get(link)
	r := c.get("/reset")
	wantStatus(t, r, 410)
	wantText(t, r, "This link has expired")

	e.clock.Advance(-61 * time.Minute)
	c2 := e.client()
	c2.post("/forgotten", url.Values{"who": {"sam.patel"}, "csrf_token": {c2.csrf("/forgotten")}})
	link = e.resetLinkFor(sam)
	e.store.SetStatus(sam.ID, store.StatusDisabled)
	c2.get(link)
	r = c2.get("/reset")
	wantStatus(t, r, 403)
	wantText(t, r, "Contact your CQRS User Administrator")
}

func TestAuditLog(t *testing.T) {
	e := newAdminEnv(t)
	sam, _ := e.store.UserByUserID("sam.patel")
	for i := 0; i < 5; i++ {
		e.client().signIn("sam.patel", "wrong-password", "")
	}
	e.client().signIn("=HYPERLINK(\"evil\")", "x", "")
	wantStatus(t, e.orgAdmin.post(fmt.Sprintf("/admin/users/%d/unlock", sam.ID), url.Values{"csrf_token": {e.orgAdmin.csrf("/admin/users")}}), 303)

	events, _, _ := e.store.AuditEvents(store.AuditFilter{})
	count := map[string]int{}
	for _, ev := range events {
		count[ev.Type]++
	}
	for typ, want := range map[string]int{evSignInFailed: 6, "lockout": 1, evUnlock: 1, evSetupUsed: 1, evPasswordSet: 1} {
		if count[typ] != want {
			t.Errorf("%s events = %d, want %d", typ, count[typ], want)
		}
	}
	raw := e.dbBytes()
	for _, secretText := range []string{"wrong-password", "Harbour!2026x", strongPassword} {
		if bytes.Contains(raw, []byte(secretText)) {
			t.Errorf("the database contains %q", secretText)
		}
	}

	t.Run("the page filters and is scoped to the organisation", func(t *testing.T) {
		r := e.orgAdmin.get("/admin/audit?type=lockout")
		wantStatus(t, r, 200)
		wantText(t, r, "1 events.", "sam.patel")
		other := e.otherAdmin.get("/admin/audit?user=sam.patel")
		wantText(t, other, "0 events.")
		wantStatus(t, e.user.get("/admin/audit"), 403)
	})
	t.Run("CSV escapes formula cells", func(t *testing.T) {
		r := e.sys.get("/admin/audit.csv?type=" + evSignInFailed)
		wantStatus(t, r, 200)
		if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/csv") {
			t.Fatalf("Content-Type = %q", ct)
		}
		rows, err := csv.NewReader(strings.NewReader(r.body)).ReadAll()
		if err != nil {
			t.Fatal(err)
		}
		found := false
		for _, row := range rows {
			if strings.Contains(row[3], "HYPERLINK") {
				found = true
				if !strings.HasPrefix(row[3], "'=") {
					t.Errorf("formula cell not escaped: %q", row[3])
				}
			}
		}
		if !found {
			t.Error("the attempt with a formula User ID is not in the CSV")
		}
	})
}
