package handlers

import (
	"fmt"
	"net/url"
	"testing"
	"time"
)

func TestChangePassword(t *testing.T) {
	e := newEnv(t)
	admin := e.registeredAdmin()
	e.addUser(admin.OrgID, "sam.patel", "Harbour!2026x")
	c := e.client()
	wantStatus(t, c.signIn("sam.patel", "Harbour!2026x", ""), 303)
	change := func(current, pw string) response {
		return c.post("/account/password", url.Values{"current_password": {current}, "password": {pw}, "confirm_password": {pw}, "csrf_token": {c.csrf("/account")}})
	}

	changeTo := func(current, pw string) url.Values {
		return url.Values{"current_password": {current}, "password": {pw}, "confirm_password": {pw}}
	}
	runScenarios(t, e, map[string]*client{roleUser: c}, []scenario{
		{Name: "wrong current password", Method: "POST", URL: "/account/password", Role: roleUser, CSRFFrom: "/account",
			Form: changeTo("nope", "Meadow!2026a"), ExpectedStatus: 422, ExpectedContent: []string{wrongCurrentPasswd}},
		{Name: "72 hours: refused at 71h59m with the time it is allowed", Method: "POST", URL: "/account/password", Role: roleUser, CSRFFrom: "/account",
			Before: func(t *testing.T, c *client, _ url.Values) {
				e.clock.Advance(71*time.Hour + 59*time.Minute)
				// Keep the session alive past the idle limit for this test.
				wantStatus(t, c.signIn("sam.patel", "Harbour!2026x", ""), 303)
			},
			Form:           changeTo("Harbour!2026x", "Meadow!2026a"),
			ExpectedStatus: 422, ExpectedContent: []string{"Password may only be changed once every 72 hours.", "You can change your password again after 5 November 2026 at 09:00"}},
		{Name: "same as current", Method: "POST", URL: "/account/password", Role: roleUser, CSRFFrom: "/account",
			Before:         func(*testing.T, *client, url.Values) { e.clock.Advance(time.Minute) }, // exactly 72h
			Form:           changeTo("Harbour!2026x", "Harbour!2026x"),
			ExpectedStatus: 422, ExpectedContent: []string{"Password must be different from the current password."}},
	})

	other := e.client()
	wantStatus(t, other.signIn("sam.patel", "Harbour!2026x", ""), 303)

	t.Run("allowed at 72h", func(t *testing.T) {
		r := change("Harbour!2026x", "Meadow!2026a")
		wantStatus(t, r, 303) // POST-redirect-GET
		wantText(t, c.get(r.Header.Get("Location")), "Your password has been changed.")
		wantStatus(t, c.get("/messages"), 200)
		if r := other.get("/messages"); r.StatusCode != 303 {
			t.Errorf("the user's other session survived the password change: %d", r.StatusCode)
		}
	})
	t.Run("history of 8", func(t *testing.T) {
		current := "Meadow!2026a"
		used := []string{"Harbour!2026x", current}
		for i := 0; i < 7; i++ {
			e.clock.Advance(72 * time.Hour)
			wantStatus(t, c.signIn("sam.patel", current, ""), 303)
			next := fmt.Sprintf("Meadow!%04dz", i)
			wantStatus(t, change(current, next), 303)
			current = next
			used = append(used, next)
		}
		// Now: current = used[8], previous 8 = used[0..7].
		e.clock.Advance(72 * time.Hour)
		wantStatus(t, c.signIn("sam.patel", current, ""), 303)
		r := change(current, used[0])
		wantStatus(t, r, 422)
		wantText(t, r, "Password must be different from the previous 8 passwords.")
		// One more change pushes used[0] out of the history.
		wantStatus(t, change(current, "Orchard!2026b"), 303)
		e.clock.Advance(72 * time.Hour)
		wantStatus(t, c.signIn("sam.patel", "Orchard!2026b", ""), 303)
		wantStatus(t, change("Orchard!2026b", used[0]), 303)
	})
}
