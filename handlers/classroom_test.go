package handlers

import (
	"fmt"
	"net/url"
	"testing"
	"time"

	"github.com/cqrs-local/cqrs-signin/store"
)

// registeredLearner makes c a learner who has opened their registration
// email and set password pw, and returns their account.
func (c *client) registeredLearner(pw string) store.User {
	t := c.env.t
	t.Helper()
	id, _ := c.startLearner()
	u, err := c.env.store.UserByUserID(id)
	if err != nil {
		t.Fatal(err)
	}
	wantStatus(t, c.get(c.env.learnerLink(u)), 303)
	wantStatus(t, c.post("/register", url.Values{"password": {pw}, "confirm_password": {pw}, "csrf_token": {c.csrf("/register")}}), 303)
	u, _ = c.env.store.User(u.ID)
	return u
}

// learnerLink is the registration link in u's newest registration email.
func (e *testEnv) learnerLink(u store.User) string {
	e.t.Helper()
	m := registerLink.FindStringSubmatch(e.newestEmail(u, "registration").Text)
	if m == nil {
		e.t.Fatalf("no registration link for %s", u.UserID)
	}
	return m[1]
}

// learnerAction presses one of a learner's buttons on the class board.
func (c *client) learnerAction(u store.User, action string) response {
	c.env.t.Helper()
	return c.post(fmt.Sprintf("/training/trainer/learners/%d/%s", u.ID, action), url.Values{"csrf_token": {c.csrf("/training/board")}})
}

// changePassword is a signed-in learner's own change on My account.
func (c *client) changePassword(current, next string) response {
	return c.post("/account/password", url.Values{"current_password": {current}, "password": {next}, "confirm_password": {next}, "csrf_token": {c.csrf("/account")}})
}

// TestLearnerClockMovesOneLearnerOnly: "+72 hours" on learner A lets A
// change their password again; B, on the class clock, is still refused.
func TestLearnerClockMovesOneLearnerOnly(t *testing.T) {
	e := newTrainingEnv(t)
	a, b := e.client(), e.client()
	ua, ub := a.registeredLearner("Harbour!2026x"), b.registeredLearner("Harbour!2026y")
	wantStatus(t, a.signIn(ua.UserID, "Harbour!2026x", ""), 303)
	wantStatus(t, b.signIn(ub.UserID, "Harbour!2026y", ""), 303)
	r := a.changePassword("Harbour!2026x", "Meadow!2026a")
	wantStatus(t, r, 422)
	wantText(t, r, "Password may only be changed once every 72 hours.")

	tr := e.trainer()
	classBefore := e.cfg.Clock.Now()
	r = tr.learnerAction(ua, "clock-72h")
	wantStatus(t, r, 303)
	r = tr.get(r.Header.Get("Location"))
	wantText(t, r, "+72 hours done for "+ua.UserID)
	if got := e.cfg.Clock.Now().Sub(classBefore); got > time.Minute {
		t.Errorf("the class clock moved %v", got)
	}

	wantStatus(t, a.changePassword("Harbour!2026x", "Meadow!2026a"), 200)
	r = b.changePassword("Harbour!2026y", "Meadow!2026b")
	wantStatus(t, r, 422)
	wantText(t, r, "Password may only be changed once every 72 hours.")
	// A's change restarts A's 72 hours, on A's own clock.
	r = a.changePassword("Meadow!2026a", "Orchard!2026c")
	wantStatus(t, r, 422)
	wantText(t, r, "Password may only be changed once every 72 hours.")
	// The board says whose clock is ahead, and only the trainer reaches it.
	r = tr.get(fmt.Sprintf("/training/board?learner=%d", ua.ID))
	wantText(t, r, "+3 days on the class")
	wantStatus(t, a.learnerAction(ub, "clock-72h"), 403)
}
