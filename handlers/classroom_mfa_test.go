package handlers

import (
	"fmt"
	"net/url"
	"strings"
	"testing"

	"github.com/cqrs-local/cqrs-signin/cqrs"
)

// nhsmailForm posts the form testid on the simulator page r with its own
// CSRF token, plus extra fields.
func (c *client) nhsmailForm(r response, testid string, extra url.Values) response {
	c.env.t.Helper()
	form := r.doc(c.env.t).Find(`[data-testid="` + testid + `"]`)
	if form.Length() != 1 {
		c.env.t.Fatalf("no form %s in %s", testid, excerpt(r.body))
	}
	action, _ := form.Attr("action")
	token, _ := form.Find(`[name="csrf_token"]`).Attr("value")
	v := url.Values{"csrf_token": {token}}
	for k, vs := range extra {
		v[k] = vs
	}
	return c.post(action, v)
}

// testidText is the trimmed text of the element testid.
func testidText(t *testing.T, r response, testid string) string {
	t.Helper()
	return strings.TrimSpace(r.doc(t).Find(`[data-testid="` + testid + `"]`).Text())
}

// TestTrainerMFAControls: the trainer's controls of a learner's NHSmail
// second step. Only the trainer can set them (a learner signed in to CQRS
// cannot set one for another learner), each shows on the board as pending
// until the learner's next NHSmail sign-in uses it, is audited, and
// happens once: "denied" ends that sign-in with "Request denied", and
// the next sign-in is the documents' journey again. The learner's own
// mailbox leads to their phone page for the sign-in waiting, by the
// waiting page's own link; the board knows the second step.
func TestTrainerMFAControls(t *testing.T) {
	e := newClassroomEnv(t)
	tr := e.classroomClient()
	wantStatus(t, tr.signIn(TrainerUserID, e.cfg.TrainerPassword, ""), 303)

	learner := e.classroomClient()
	id, nhsmailPassword := learner.startLearner()
	u, _ := e.store.UserByUserID(t.Context(), id)
	wantStatus(t, learner.get(e.learnerLink(u)), 303)
	wantStatus(t, learner.post("/register", url.Values{"password": {"Harbour!2026x"}, "confirm_password": {"Harbour!2026x"}, "csrf_token": {learner.csrf("/register")}}), 303)

	// Another learner, signed in to CQRS, cannot use the controls on
	// anybody, themselves included.
	other := e.classroomClient()
	otherUser := other.registeredLearner("Meadow!2026y")
	wantStatus(t, other.signIn(otherUser.UserID, "Meadow!2026y", ""), 303)
	for _, action := range []string{"mfa-deny", "mfa-timeout", "mfa-phone-changed"} {
		wantStatus(t, other.learnerAction(u, action), 403)
		wantStatus(t, other.learnerAction(otherUser, action), 403)
	}
	if row := boardRow(t, tr.get("/training/board/rows"), id); strings.Contains(row, "Pending") {
		t.Fatalf("a learner's refused press left %q", row)
	}

	// Without the form's CSRF token even the trainer's press changes nothing.
	wantStatus(t, tr.post(fmt.Sprintf("/training/trainer/learners/%d/mfa-deny", u.ID), url.Values{}), 403)
	if row := boardRow(t, tr.get("/training/board/rows"), id); strings.Contains(row, "Pending") {
		t.Fatalf("a press without its CSRF token left %q", row)
	}

	r := tr.learnerAction(u, "mfa-deny")
	wantStatus(t, r, 303)
	r = tr.get(tr.localPath(r))
	wantText(t, r, "Next NHSmail prompt is denied done for "+id, "Request denied")
	if got := testidText(t, r, "learner-mfa-pending"); !strings.Contains(got, "Next NHSmail prompt is denied") {
		t.Errorf("the learner's buttons say %q", got)
	}
	if row := boardRow(t, tr.get("/training/board/rows"), id); !strings.Contains(row, "Pending: Next NHSmail prompt is denied") {
		t.Errorf("board row = %q, want the pending control", row)
	}
	if events, _, _ := e.store.AuditEvents(t.Context(), cqrs.AuditFilter{Type: evTrainingLearnerAction, Subject: id}); len(events) != 1 || events[0].Actor != TrainerUserID {
		t.Errorf("audit of the control: %+v", events)
	}

	// The mailbox has no phone while no sign-in waits.
	if r := learner.get("/training/mailbox"); r.doc(t).Find(`[data-testid="learner-phone-link"]`).Length() != 0 {
		t.Error("the mailbox leads to a phone before any sign-in")
	}

	// The next NHSmail sign-in: the password, then the prompt.
	waiting := learner.nhsmailSignIn(id+"@nhs.net", nhsmailPassword)
	wantStatus(t, waiting, 200)
	wantText(t, waiting, "Approve sign in request")
	phone, _ := waiting.doc(t).Find(`[data-testid="nhsmail-phone-link"]`).Attr("href")
	number := testidText(t, waiting, "nhsmail-mfa-number")
	rows := tr.get("/training/board/rows")
	if row := boardRow(t, rows, id); strings.Contains(row, "Pending") || !strings.Contains(row, "Job aid 4a") {
		t.Errorf("board row during the second step = %q, want step 4a and nothing pending", row)
	}

	// Their own page leads to their phone, by the waiting page's link;
	// the other learner's does not.
	if got, _ := learner.get("/training/phone").doc(t).Find(`[data-testid="learner-phone-link"]`).Attr("href"); got != phone || phone == "" {
		t.Errorf("the learner's phone link = %q, want the waiting page's %q", got, phone)
	}
	if r := other.get("/training/mailbox"); strings.Contains(string(r.body), phone) || r.doc(t).Find(`[data-testid="learner-phone-link"]`).Length() != 0 {
		t.Error("another learner's mailbox leads to this learner's phone")
	}

	// Approving with the right number is denied all the same.
	p := learner.get(phone)
	wantText(t, p, "Are you trying to sign in?")
	learner.nhsmailForm(p, "nhsmail-phone-form", url.Values{"decision": {"approve"}, "number": {number}})
	r = learner.get("/nhsmail/mfa")
	wantStatus(t, r, 401)
	wantText(t, r, "Request denied", "Sign in again")
	row := boardRow(t, tr.get("/training/board/rows"), id)
	if !strings.Contains(row, errNHSmailMFA) {
		t.Errorf("board row after the denial = %q, want %q", row, errNHSmailMFA)
	}

	// Once: the next sign-in is the documents' journey, with no prompt.
	r = learner.nhsmailSignIn(id+"@nhs.net", nhsmailPassword)
	if r.StatusCode != 303 || r.Header.Get("Location") != "/messages" {
		t.Fatalf("the sign-in after the denial: %d %s %s", r.StatusCode, r.Header.Get("Location"), excerpt(r.body))
	}
	board := tr.get("/training/board/rows")
	if row := boardRow(t, board, id); strings.Contains(row, "Pending") {
		t.Errorf("board row after both sign-ins = %q", row)
	}
	if done := strings.Join(strings.Fields(board.doc(t).Find(`[data-testid="board-row-`+id+`"] td`).Text()), " "); !strings.Contains(done, "Job aid 4a: No") {
		t.Errorf("a denied second step is marked done: %q", done)
	}
}

// TestTrainerPhoneChanged: "Their phone changed" makes the learner's next
// NHSmail sign-in say "More information required", set up Authenticator on
// the phone page, approve its first prompt, and sign in; the account then
// has Authenticator, the set-up is audited, and the board marks the
// second step done.
func TestTrainerPhoneChanged(t *testing.T) {
	e := newClassroomEnv(t)
	tr := e.classroomClient()
	wantStatus(t, tr.signIn(TrainerUserID, e.cfg.TrainerPassword, ""), 303)
	learner := e.classroomClient()
	id, nhsmailPassword := learner.startLearner()
	u, _ := e.store.UserByUserID(t.Context(), id)
	wantStatus(t, learner.get(e.learnerLink(u)), 303)
	wantStatus(t, learner.post("/register", url.Values{"password": {"Harbour!2026x"}, "confirm_password": {"Harbour!2026x"}, "csrf_token": {learner.csrf("/register")}}), 303)
	wantStatus(t, tr.learnerAction(u, "mfa-phone-changed"), 303)

	r := learner.nhsmailSignIn(id+"@nhs.net", nhsmailPassword)
	wantStatus(t, r, 200)
	if got := testidText(t, r, "nhsmail-setup-heading"); got != "More information required" {
		t.Fatalf("after the password: %q", got)
	}
	wantStatus(t, learner.nhsmailForm(r, "nhsmail-setup-form", nil), 303)
	r = learner.get("/nhsmail/mfa")
	if got := testidText(t, r, "nhsmail-setup-heading"); got != "Set up your account" {
		t.Fatalf("after Next: %q", got)
	}
	phone, _ := r.doc(t).Find(`[data-testid="nhsmail-phone-link"]`).Attr("href")
	if got, _ := learner.get("/training/phone").doc(t).Find(`[data-testid="learner-phone-link"]`).Attr("href"); got != phone {
		t.Errorf("the learner's phone link = %q, want %q", got, phone)
	}
	p := learner.get(phone)
	wantText(t, p, "Add account")
	learner.nhsmailForm(p, "nhsmail-phone-form", url.Values{"decision": {"register"}})
	r = learner.get("/nhsmail/mfa")
	if got := testidText(t, r, "nhsmail-mfa-heading"); got != "Let's try it out" {
		t.Fatalf("after adding the account: %q", got)
	}
	number := testidText(t, r, "nhsmail-mfa-number")
	p = learner.get(phone)
	wantText(t, p, "Are you trying to sign in?")
	learner.nhsmailForm(p, "nhsmail-phone-form", url.Values{"decision": {"approve"}, "number": {number}})
	r = learner.get("/nhsmail/mfa")
	if got := testidText(t, r, "nhsmail-setup-heading"); got != "Success!" {
		t.Fatalf("after approving: %q", got)
	}
	wantStatus(t, learner.nhsmailForm(r, "nhsmail-setup-form", nil), 303)
	r = learner.get("/nhsmail/mfa")
	wantText(t, r, "Stay signed in?")
	r = learner.nhsmailForm(r, "nhsmail-stay-form", url.Values{"stay": {"no"}})
	r = learner.get(learner.localPath(r))
	if r.StatusCode != 303 || r.Header.Get("Location") != "/messages" {
		t.Fatalf("after Stay signed in? No: %d %s", r.StatusCode, r.Header.Get("Location"))
	}
	acct, err := e.store.NHSmailAccountByEmail(t.Context(), id+"@nhs.net")
	if err != nil || acct.MFAMethod != cqrs.MFAAuthenticator {
		t.Errorf("the account's method after the set-up: %q (%v)", acct.MFAMethod, err)
	}
	if events, _, _ := e.store.AuditEvents(t.Context(), cqrs.AuditFilter{Type: cqrs.AuditNHSmailMFARegistered}); len(events) != 1 || events[0].Subject != id+"@nhs.net" {
		t.Errorf("audit of the set-up: %+v", events)
	}
	if done := strings.Join(strings.Fields(tr.get("/training/board/rows").doc(t).Find(`[data-testid="board-row-`+id+`"] td`).Text()), " "); !strings.Contains(done, "Job aid 4a: Yes") {
		t.Errorf("the board does not mark the second step done: %q", done)
	}
}
