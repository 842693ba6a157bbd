package handlers

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/csv"
	"fmt"
	"image/png"
	"net"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/PuerkitoBio/goquery"

	"github.com/cqrs-local/cqrs-signin/cqrs"
	"github.com/cqrs-local/cqrs-signin/nhsmail"
)

// registeredLearner makes c a learner who has opened their registration
// email and set password pw, and returns their account.
func (c *client) registeredLearner(pw string) cqrs.User {
	t := c.env.t
	t.Helper()
	id, _ := c.startLearner()
	u, err := c.env.store.UserByUserID(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	wantStatus(t, c.get(c.env.learnerLink(u)), 303)
	wantStatus(t, c.post("/register", url.Values{"password": {pw}, "confirm_password": {pw}, "csrf_token": {c.csrf("/register")}}), 303)
	u, _ = c.env.store.User(context.Background(), u.ID)
	return u
}

var anyRegisterLink = regexp.MustCompile(`https?://[^/\s]+(/register\?token=[A-Za-z0-9_-]+)`)

// learnerLink is the registration link in u's newest registration email.
func (e *testEnv) learnerLink(u cqrs.User) string {
	e.t.Helper()
	m := anyRegisterLink.FindStringSubmatch(e.newestEmail(u, "registration").Text)
	if m == nil {
		e.t.Fatalf("no registration link for %s", u.UserID)
	}
	return m[1]
}

// learnerAction presses one of a learner's buttons on the class board.
func (c *client) learnerAction(u cqrs.User, action string) response {
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

	wantStatus(t, a.changePassword("Harbour!2026x", "Meadow!2026a"), 303)
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

// newClassroomEnv is training mode with the embedded NHSmail simulator,
// served on a real loopback listener so the single sign-on round trip is
// the real one: the browser side goes through app.Test with the
// listener's address as its Host, the token exchange over the network.
func newClassroomEnv(t *testing.T) *testEnv {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	base := "http://" + ln.Addr().String()
	e := newEnv(t, func(c *Config) {
		c.Training, c.TrainerPassword = true, NewTrainerPassword()
		c.SignInRateLimit, c.ResetRateLimit, c.LearnerRateLimit = 0, 0, 0
		c.BaseURL = base
	})
	secretKey, err := e.store.NHSmailClientSecret(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	// Tokens are issued and checked on real time, as in main.
	e.cfg.SSO = SSOConfig{Issuer: base + "/nhsmail", ClientID: "cqrs", ClientSecret: secretKey, RedirectURL: base + "/sso/callback", ProviderName: "NHSmail", Now: time.Now}
	sim, err := nhsmail.New(t.Context(), nilLogger(), nhsmail.Config{Issuer: e.cfg.SSO.Issuer, ClientID: "cqrs", ClientSecret: secretKey,
		RedirectURIs: []string{e.cfg.SSO.RedirectURL}, JobAid: true, Now: time.Now}, e.store, e.hasher)
	if err != nil {
		t.Fatal(err)
	}
	e.app = e.start(nilLogger(), e.cfg, e.deps(Deps{Hasher: e.hasher, NHSmail: sim, NHSmailDirectory: e.store}))
	go e.app.Listener(ln)
	t.Cleanup(func() { e.app.ShutdownWithTimeout(5 * time.Second) })
	return e
}

// classroomClient is a browser on the classroom env's own address.
func (e *testEnv) classroomClient() *client {
	c := e.client()
	c.host = strings.TrimPrefix(e.cfg.BaseURL, "http://")
	return c
}

// localPath is a redirect's target without this site's origin.
func (c *client) localPath(r response) string {
	c.env.t.Helper()
	loc := r.Header.Get("Location")
	if loc == "" {
		c.env.t.Fatalf("no redirect: %d %s", r.StatusCode, excerpt(r.body))
	}
	return strings.TrimPrefix(loc, "http://"+c.host)
}

// nhsmailSignIn presses Sign In on the CQRS Login page and signs in to the
// NHSmail simulator as email; it returns the simulator's answer when it
// refuses, else CQRS's answer to the callback, or the result page it
// redirects to when it signs nobody in.
func (c *client) nhsmailSignIn(email, password string) response {
	t := c.env.t
	t.Helper()
	r := c.get("/sso/start")
	wantStatus(t, r, 303)
	r = c.get(c.localPath(r))
	wantStatus(t, r, 200)
	form := r.doc(t).Find(`[data-testid="nhsmail-form"]`)
	action, _ := form.Attr("action")
	token, _ := form.Find(`[name="csrf_token"]`).Attr("value")
	query, _ := form.Find(`[name="query"]`).Attr("value")
	r = c.post(action, url.Values{"csrf_token": {token}, "query": {query}, "email": {email}, "password": {password}})
	if r.StatusCode != 302 && r.StatusCode != 303 {
		return r
	}
	r = c.get(c.localPath(r))
	if to := r.Header.Get("Location"); r.StatusCode == 303 && strings.HasPrefix(to, "/sso/") {
		return c.get(to)
	}
	return r
}

// boardRow is a learner's row of the live board, as text.
func boardRow(t *testing.T, r response, userID string) string {
	t.Helper()
	row := r.doc(t).Find(`[data-testid="board-row-` + userID + `"]`)
	if row.Length() != 1 {
		t.Fatalf("no board row for %s in %s", userID, excerpt(r.body))
	}
	// The learner, step, time and error cells: not the done columns,
	// whose hidden text ("SSO 3: No") names every step.
	return strings.Join(strings.Fields(row.Children().Slice(0, 4).Text()), " ")
}

// TestLearnerButtonsShowTheDocumentedPages: each per-learner button, then
// the learner's own browser sees the page the documents describe, and the
// board names the error.
func TestLearnerButtonsShowTheDocumentedPages(t *testing.T) {
	e := newClassroomEnv(t)
	tr := e.classroomClient()
	wantStatus(t, tr.signIn(TrainerUserID, e.cfg.TrainerPassword, ""), 303)

	t.Run("lock their CQRS account", func(t *testing.T) {
		c := e.classroomClient()
		u := c.registeredLearner("Harbour!2026x")
		r := tr.learnerAction(u, "lock")
		wantStatus(t, r, 303)
		wantText(t, tr.get(c.localPath(r)), "Lock their CQRS account done for "+u.UserID)
		r = c.signIn(u.UserID, "Harbour!2026x", "")
		wantStatus(t, r, 401)
		wantText(t, r, signInFailed)
		if m := e.newestEmail(u, "lockout"); m.Subject != "Your CQRS account is locked" {
			t.Errorf("lockout email = %q", m.Subject)
		}
		wantText(t, c.get("/training/mailbox"), "Your CQRS account is locked")
		if row := boardRow(t, tr.get("/training/board/rows"), u.UserID); !strings.Contains(row, errLocked) {
			t.Errorf("board row = %q, want the lock", row)
		}
		// Pressed again: nothing changes, and the trainer is told why.
		wantStatus(t, tr.learnerAction(u, "lock"), 409)
	})

	t.Run("expire their registration link", func(t *testing.T) {
		c := e.classroomClient()
		id, _ := c.startLearner()
		u, _ := e.store.UserByUserID(t.Context(), id)
		link := e.learnerLink(u)
		wantStatus(t, tr.learnerAction(u, "expire-link"), 303)
		r := c.get(link)
		if r.StatusCode == 303 {
			r = c.get(c.localPath(r))
		}
		wantStatus(t, r, 410)
		wantText(t, r, "This registration link has expired")
		if row := boardRow(t, tr.get("/training/board"), u.UserID); !strings.Contains(row, errLinkExpired) {
			t.Errorf("board row = %q", row)
		}
		// Another learner's link still works.
		other := e.classroomClient()
		oid, _ := other.startLearner()
		ou, _ := e.store.UserByUserID(t.Context(), oid)
		wantStatus(t, other.get(e.learnerLink(ou)), 303)
	})

	t.Run("an NHSmail account with no CQRS account", func(t *testing.T) {
		c := e.classroomClient()
		id, nhsmailPassword := c.startLearner()
		u, _ := e.store.UserByUserID(t.Context(), id)
		wantStatus(t, tr.learnerAction(u, "nocqrs"), 303)
		address := id + ".nocqrs@nhs.net"
		wantText(t, c.get("/training"), address)
		r := c.nhsmailSignIn(address, nhsmailPassword)
		wantStatus(t, r, 403)
		wantText(t, r, "support@cqrs.co.uk")
		wantCurrentStep(t, r, "sso-5")
		if row := boardRow(t, tr.get("/training/board"), id); !strings.Contains(row, errNoCQRS) {
			t.Errorf("board row = %q", row)
		}
	})

	t.Run("lock their NHSmail account", func(t *testing.T) {
		c := e.classroomClient()
		id, nhsmailPassword := c.startLearner()
		u, _ := e.store.UserByUserID(t.Context(), id)
		wantStatus(t, tr.learnerAction(u, "lock-nhsmail"), 303)
		r := c.nhsmailSignIn(id+"@nhs.net", nhsmailPassword)
		wantStatus(t, r, 403)
		wantText(t, r, "Your NHSmail account is locked.")
		if row := boardRow(t, tr.get("/training/board"), id); !strings.Contains(row, errNHSmailLocked) {
			t.Errorf("board row = %q", row)
		}
		// A wrong NHSmail password is its own error on the board.
		wantStatus(t, c.nhsmailSignIn(id+"@nhs.net", "not-it"), 401)
		if row := boardRow(t, tr.get("/training/board"), id); !strings.Contains(row, errNHSmailPassword) {
			t.Errorf("board row = %q", row)
		}
	})

	t.Run("reset them to the start", func(t *testing.T) {
		c := e.classroomClient()
		u := c.registeredLearner("Harbour!2026x")
		wantStatus(t, tr.learnerAction(u, "clock-72h"), 303)
		wantStatus(t, tr.learnerAction(u, "reset"), 303)
		wantStatus(t, c.signIn(u.UserID, "Harbour!2026x", ""), 401)
		r := c.get("/training/mailbox")
		if n := r.doc(t).Find(`[data-testid="learner-emails"] li`).Length(); n != 2 {
			t.Errorf("mailbox has %d emails, want the first and the new registration email", n)
		}
		wantStatus(t, c.get(e.learnerLink(u)), 303)
		r = c.get("/register")
		wantStatus(t, r, 200)
		wantCurrentStep(t, r, "ja-2")
		if u2, _ := e.store.User(t.Context(), u.ID); u2.ClockOffset != 0 || u2.PasswordHash != "" {
			t.Errorf("after reset: %+v", u2)
		}
	})

	t.Run("not a learner", func(t *testing.T) {
		active, _ := e.store.UserByUserID(t.Context(), "trn.active")
		runScenarios(t, e, map[string]*client{roleSysAdmin: tr}, []scenario{
			{Name: "a learner's button", Method: "POST", URL: fmt.Sprintf("/training/trainer/learners/%d/lock", active.ID), Role: roleSysAdmin, CSRFFrom: "/training/board", ExpectedStatus: 404},
			{Name: "no such button", Method: "POST", URL: fmt.Sprintf("/training/trainer/learners/%d/explode", active.ID), Role: roleSysAdmin, CSRFFrom: "/training/board", ExpectedStatus: 404},
		})
	})
}

// TestClassBoardShowsEachLearner: learners walk different distances; the
// board (page and live fragment alike) shows each one's step, how long on
// it, the last error and the steps done, the summary counts them, a long
// stay stands out, the CSV holds the same rows, and no password or link is
// ever on it.
func TestClassBoardShowsEachLearner(t *testing.T) {
	e := newClassroomEnv(t)
	tr := e.classroomClient()
	wantStatus(t, tr.signIn(TrainerUserID, e.cfg.TrainerPassword, ""), 303)
	wantText(t, tr.get("/training/board"), "No learners yet")

	// One only opens their mailbox.
	mailbox := e.classroomClient()
	idMailbox, pwMailbox := mailbox.startLearner()
	wantStatus(t, mailbox.get("/training/mailbox"), 200)
	// One breaks a policy rule, registers, mistypes, then signs in.
	walker := e.classroomClient()
	idWalker, pwWalker := walker.startLearner()
	uWalker, _ := e.store.UserByUserID(t.Context(), idWalker)
	link := e.learnerLink(uWalker)
	wantStatus(t, walker.get(link), 303)
	wantStatus(t, walker.post("/register", url.Values{"password": {"short"}, "confirm_password": {"short"}, "csrf_token": {walker.csrf("/register")}}), 422)
	rows := tr.get("/training/board/rows")
	if row := boardRow(t, rows, idWalker); !strings.Contains(row, errPolicy) || !strings.Contains(row, "Job aid 2") {
		t.Errorf("walker after a policy failure: %q", row)
	}
	wantStatus(t, walker.post("/register", url.Values{"password": {"Harbour!2026x"}, "confirm_password": {"Harbour!2026x"}, "csrf_token": {walker.csrf("/register")}}), 303)
	wantStatus(t, walker.signIn(idWalker, "Wrong!2026x", ""), 401)
	if row := boardRow(t, tr.get("/training/board/rows"), idWalker); !strings.Contains(row, errWrongPassword) {
		t.Errorf("walker after a wrong password: %q", row)
	}
	wantStatus(t, walker.signIn(idWalker, "Harbour!2026x", ""), 303)
	wantStatus(t, walker.get("/messages"), 200)
	// One signs in with NHSmail but has no CQRS account yet (not registered).
	sso := e.classroomClient()
	idSSO, pwSSO := sso.startLearner()
	r := sso.nhsmailSignIn(idSSO+"@nhs.net", pwSSO)
	wantStatus(t, r, 403)

	page := tr.get("/training/board")
	wantStatus(t, page, 200)
	for _, r := range []response{page, tr.get("/training/board/rows")} {
		if row := boardRow(t, r, idMailbox); !strings.Contains(row, "Job aid 1") || strings.Contains(row, "Stuck") {
			t.Errorf("mailbox learner: %q", row)
		}
		if row := boardRow(t, r, idWalker); !strings.Contains(row, "SSO 3") || !strings.Contains(row, errWrongPassword) {
			t.Errorf("walker: %q", row)
		}
		if row := boardRow(t, r, idSSO); !strings.Contains(row, "SSO 5") || !strings.Contains(row, errNoCQRS) {
			t.Errorf("NHSmail learner: %q", row)
		}
		d := r.doc(t)
		for id, want := range map[string]string{"joined": "3", "registered": "1", "legacy": "1", "nhsmail": "0"} {
			if got := strings.TrimSpace(d.Find(`[data-testid="summary-` + id + `"]`).Text()); got != want {
				t.Errorf("summary %s = %q, want %s", id, got, want)
			}
		}
		for _, secretText := range []string{pwMailbox, pwWalker, pwSSO, "Harbour!2026x", e.cfg.TrainerPassword, "token="} {
			if strings.Contains(r.body, secretText) {
				t.Errorf("the board shows %q", secretText)
			}
		}
	}
	// The walker's done steps include registering (job aid 1 and 2).
	done := page.doc(t).Find(`[data-testid="board-row-` + idWalker + `"] td`)
	doneText := strings.Join(strings.Fields(done.Text()), " ")
	if !strings.Contains(doneText, "Job aid 1: Yes") || !strings.Contains(doneText, "Job aid 2: Yes") || !strings.Contains(doneText, "SSO 5: No") {
		t.Errorf("walker's done steps: %q", doneText)
	}
	// The live part polls itself twice a second with htmx.
	if live := page.doc(t).Find(`#class-board[hx-get="/training/board/rows"][hx-trigger="every 500ms"]`); live.Length() != 1 {
		t.Error("the board does not update itself")
	}

	// Four minutes on the mailbox step: stuck, and it stands out.
	e.clock.Advance(4 * time.Minute)
	if row := boardRow(t, tr.get("/training/board/rows"), idMailbox); !strings.Contains(row, "Stuck 4 minutes") {
		t.Errorf("a learner 4 minutes on one step: %q", row)
	}
	// Signed in is the end of the walk: never stuck.
	if row := boardRow(t, tr.get("/training/board/rows"), idWalker); strings.Contains(row, "Stuck") {
		t.Errorf("a signed-in learner is stuck: %q", row)
	}

	// The CSV holds the same rows.
	r = tr.get("/training/board.csv")
	wantStatus(t, r, 200)
	records, err := csv.NewReader(strings.NewReader(r.body)).ReadAll()
	if err != nil || len(records) != 4 {
		t.Fatalf("CSV = %d records, %v:\n%s", len(records), err, r.body)
	}
	byLearner := map[string][]string{}
	for _, rec := range records[1:] {
		byLearner[rec[0]] = rec
	}
	if rec := byLearner[idWalker]; rec == nil || rec[5] != errWrongPassword || rec[2] != "SSO 3" {
		t.Errorf("walker's CSV line = %q", rec)
	}
	if rec := byLearner[idMailbox]; rec == nil || rec[4] != "yes" {
		t.Errorf("mailbox learner's CSV line = %q", rec)
	}
}

// join submits the join page's form.
func (c *client) join(code, name, take string) response {
	c.env.t.Helper()
	return c.post("/join", url.Values{"code": {code}, "name": {name}, "take": {take}, "csrf_token": {c.csrf("/join")}})
}

// TestJoiningTheClass: the trainer's join screen shows the address, its QR
// code and the class code; a learner joins with the code and their name,
// or takes the next cohort account; a wrong code or name changes nothing.
func TestJoiningTheClass(t *testing.T) {
	e := newTrainingEnv(t)
	tr := e.trainer()
	r := tr.get("/training/board/join")
	wantStatus(t, r, 200)
	d := r.doc(t)
	address := strings.TrimSpace(d.Find(`[data-testid="join-address"]`).Text())
	code := strings.TrimSpace(d.Find(`[data-testid="join-code"]`).Text())
	if address != e.cfg.BaseURL+"/join" || len(code) != joinCodeLength {
		t.Fatalf("join screen: address %q, code %q", address, code)
	}
	src, _ := d.Find(`[data-testid="join-qr"]`).Attr("src")
	raw, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(src, "data:image/png;base64,"))
	if err != nil {
		t.Fatalf("QR code is not a data URL: %v", err)
	}
	img, err := png.Decode(bytes.NewReader(raw))
	if err != nil || img.Bounds().Dx() != 320 {
		t.Fatalf("QR code PNG: %v, %v", img, err)
	}
	wantText(t, tr.get("/training/board"), code, address)

	// The QR code's address fills the code in.
	c := e.client()
	r = c.get("/join?code=" + strings.ToLower(code))
	wantStatus(t, r, 200)
	if v, _ := r.doc(t).Find(`#code`).Attr("value"); v != code {
		t.Errorf("code from the address = %q", v)
	}
	before, _ := e.file.Learners(t.Context())
	for _, bad := range []struct{ code, name, want string }{
		{"WRONG1", "Priya Shah", "Enter the class code from the join screen."},
		{code, "", "Enter a name."},
		{code, "<b>Priya</b>", "The name contains characters that are not allowed."},
	} {
		r := c.join(bad.code, bad.name, "name")
		wantStatus(t, r, 422)
		wantText(t, r, bad.want)
	}
	if after, _ := e.file.Learners(t.Context()); len(after) != len(before) {
		t.Fatalf("a refused join made a learner")
	}
	r = c.join(code, "  Priya   Shah ", "name")
	wantStatus(t, r, 200)
	id := strings.TrimSpace(r.doc(t).Find(`[data-testid="learner-user-id"]`).Text())
	if pw := strings.TrimSpace(r.doc(t).Find(`[data-testid="learner-nhsmail-password"]`).Text()); id == "" || pw == "" {
		t.Fatalf("joined learner %q, NHSmail password %q", id, pw)
	}
	if u, _ := e.store.UserByUserID(t.Context(), id); u.FullName() != "Priya Shah" {
		t.Errorf("learner's name = %q", u.FullName())
	}
	wantStatus(t, c.get("/join"), 303)
	if row := boardRow(t, tr.get("/training/board"), id); !strings.Contains(row, "Priya Shah") {
		t.Errorf("board row = %q", row)
	}

	// The next cohort account: none yet, then learner01, then learner02.
	first := e.client()
	r = first.join(code, "", "cohort")
	wantStatus(t, r, 422)
	wantText(t, r, "The trainer has not made cohort accounts for this class.")
	if strings.Contains(r.body, "Every cohort account has been taken") {
		t.Error("with no cohort made, the join page says every cohort account has been taken")
	}
	sheet := tr.post("/training/trainer/cohort", url.Values{"csrf_token": {tr.csrf("/training/trainer")}})
	wantStatus(t, sheet, 200)
	var sheetJoin string
	sheet.doc(t).Find(`.app-cohort-link`).EachWithBreak(func(_ int, sel *goquery.Selection) bool {
		sheetJoin = strings.TrimSpace(sel.Text())
		return !strings.Contains(sheetJoin, "/training/join?code=")
	})
	if !strings.Contains(sheetJoin, "/training/join?code=") {
		t.Fatalf("no join address on the cohort sheet: %q", sheetJoin)
	}
	r = first.join(code, "", "cohort")
	wantStatus(t, r, 200)
	wantText(t, r, "You are now learner01.")
	pw := strings.TrimSpace(r.doc(t).Find(`[data-testid="learner-nhsmail-password"]`).Text())
	if ok, _ := e.hasher.Verify(t.Context(), pw, mustNHSmail(t, e, "learner01@nhs.net").PasswordHash); !ok {
		t.Error("the NHSmail password shown does not work")
	}
	wantStatus(t, first.get("/training/mailbox"), 200)
	second := e.client()
	wantText(t, second.join(code, "", "cohort"), "You are now learner02.")
	// Priya, learner01 and learner02 have joined; learner03-30 wait on the sheet.
	board := tr.get("/training/board")
	if got := strings.TrimSpace(board.doc(t).Find(`[data-testid="summary-joined"]`).Text()); got != "3" {
		t.Errorf("joined = %q, want 3", got)
	}
	if row := boardRow(t, board, "learner03"); !strings.Contains(row, "Not joined yet") {
		t.Errorf("learner03's row = %q", row)
	}
	// learner01's sheet address no longer works: the account is taken.
	wantStatus(t, e.client().get(strings.TrimPrefix(sheetJoin, e.cfg.BaseURL)), 404)
}

// TestBoardCSVDefusesTypedNames: a name typed at the join page that a
// spreadsheet would run is a quoted cell in the download.
func TestBoardCSVDefusesTypedNames(t *testing.T) {
	e := newTrainingEnv(t)
	tr := e.trainer()
	code := strings.TrimSpace(tr.get("/training/board/join").doc(t).Find(`[data-testid="join-code"]`).Text())
	wantStatus(t, e.client().join(code, "=HYPERLINK(\"http://x\") Shah", "name"), 200)
	r := tr.get("/training/board.csv")
	records, err := csv.NewReader(strings.NewReader(r.body)).ReadAll()
	if err != nil || len(records) != 2 {
		t.Fatalf("CSV: %v\n%s", err, r.body)
	}
	if got := records[1][1]; got != "'=HYPERLINK(\"http://x\") Shah" {
		t.Errorf("name cell = %q", got)
	}
}

// TestBoardCountsHTMXSignIns: a sign-in sent by htmx is answered 204 with
// HX-Redirect, not 303; the board counts it all the same.
func TestBoardCountsHTMXSignIns(t *testing.T) {
	e := newTrainingEnv(t)
	c := e.client()
	u := c.registeredLearner("Harbour!2026x")
	r := c.post("/login", url.Values{"user_id": {u.UserID}, "password": {"Harbour!2026x"}, "csrf_token": {c.csrf("/login")}}, header("HX-Request", "true"))
	wantStatus(t, r, 204)
	tr := e.trainer()
	if got := strings.TrimSpace(tr.get("/training/board").doc(t).Find(`[data-testid="summary-legacy"]`).Text()); got != "1" {
		t.Errorf("signed in with User ID and password: %q, want 1", got)
	}
}

// TestCohortAccountsTakenInParallel: a room pressing "Take the next cohort
// account" at once gets one account each.
func TestCohortAccountsTakenInParallel(t *testing.T) {
	e := newTrainingEnv(t)
	tr := e.trainer()
	code := strings.TrimSpace(tr.get("/training/board/join").doc(t).Find(`[data-testid="join-code"]`).Text())
	wantStatus(t, tr.post("/training/trainer/cohort", url.Values{"csrf_token": {tr.csrf("/training/trainer")}}), 200)
	clients := make([]*client, 8)
	tokens := make([]string, len(clients))
	for i := range clients {
		clients[i] = e.client()
		tokens[i] = clients[i].csrf("/join")
	}
	ids := make([]string, len(clients))
	var wg sync.WaitGroup
	for i, c := range clients {
		wg.Go(func() {
			r := c.post("/join", url.Values{"code": {code}, "take": {"cohort"}, "csrf_token": {tokens[i]}})
			if r.StatusCode == 200 {
				ids[i] = strings.TrimSpace(r.doc(t).Find(`[data-testid="learner-user-id"]`).Text())
			}
		})
	}
	wg.Wait()
	seen := map[string]bool{}
	for _, id := range ids {
		if id == "" || seen[id] || !strings.HasPrefix(id, "learner") {
			t.Fatalf("cohort accounts taken at once: %q", ids)
		}
		seen[id] = true
	}
}

// TestJoinIsAbsentOutsideTraining: outside training mode there is no join
// page and no board.
func TestJoinIsAbsentOutsideTraining(t *testing.T) {
	e := newEnv(t)
	c := e.client()
	for _, path := range []string{"/join", "/training/board", "/training/board/join", "/training/board.csv"} {
		wantStatus(t, c.get(path), 404)
	}
	wantStatus(t, c.post("/join", url.Values{"csrf_token": {c.csrf("/login")}, "code": {"ABCDEF"}, "name": {"Priya"}}), 404)
}

// TestSignOutAfterTheTrainerChangesTheLearner: a learner signed in with
// NHSmail whom the trainer locks can still sign out with the page they
// have (its form's token was bound to the ended session), and after
// "Give them an NHSmail account with no CQRS account" the next Sign In
// asks NHSmail who they are instead of returning their old identity.
func TestSignOutAfterTheTrainerChangesTheLearner(t *testing.T) {
	e := newClassroomEnv(t)
	tr := e.classroomClient()
	wantStatus(t, tr.signIn(TrainerUserID, e.cfg.TrainerPassword, ""), 303)
	c := e.classroomClient()
	id, nhsmailPassword := c.startLearner()
	u, _ := e.store.UserByUserID(t.Context(), id)
	wantStatus(t, c.get(e.learnerLink(u)), 303)
	wantStatus(t, c.post("/register", url.Values{"password": {"Harbour!2026x"}, "confirm_password": {"Harbour!2026x"}, "csrf_token": {c.csrf("/register")}}), 303)
	r := c.nhsmailSignIn(id+"@nhs.net", nhsmailPassword)
	if to := c.localPath(r); r.StatusCode != 303 || to != "/messages" {
		t.Fatalf("NHSmail sign-in: %d to %s", r.StatusCode, to)
	}
	token := c.csrf("/messages") // the Sign out form on the page they have open

	wantStatus(t, tr.learnerAction(u, "lock"), 303)
	r = c.post("/signout", url.Values{"csrf_token": {token}})
	if r.StatusCode != 303 || !strings.HasPrefix(c.localPath(r), "/login?signed_out=1") {
		t.Fatalf("signing out after the lock: %d %s", r.StatusCode, excerpt(r.body))
	}

	// Reset, registered and signed in by NHSmail again; locked, so CQRS
	// signs them out but their browser is still signed in to NHSmail;
	// then the other NHSmail account: Sign In shows NHSmail's form.
	wantStatus(t, tr.learnerAction(u, "reset"), 303)
	wantStatus(t, c.get(e.learnerLink(u)), 303)
	wantStatus(t, c.post("/register", url.Values{"password": {"Harbour!2026x"}, "confirm_password": {"Harbour!2026x"}, "csrf_token": {c.csrf("/register")}}), 303)
	wantStatus(t, c.nhsmailSignIn(id+"@nhs.net", nhsmailPassword), 303)
	wantStatus(t, tr.learnerAction(u, "lock"), 303)
	wantStatus(t, tr.learnerAction(u, "nocqrs"), 303)
	r = c.get("/sso/start")
	wantStatus(t, r, 303)
	r = c.get(c.localPath(r))
	if r.StatusCode != 200 || r.doc(t).Find(`[data-testid="nhsmail-form"]`).Length() != 1 {
		t.Fatalf("Sign In after the trainer changed the NHSmail account: %d to %q, want the NHSmail sign-in form", r.StatusCode, r.Header.Get("Location"))
	}
	r = c.nhsmailSignIn(id+".nocqrs@nhs.net", nhsmailPassword)
	wantStatus(t, r, 403)
	wantText(t, r, "You do not have a CQRS account", id+".nocqrs@nhs.net")
}

// TestTrainerLandsOnTheClassBoard: the trainer's sign-in ends on the
// board, and every page's header links to it; a learner's header does not.
func TestTrainerLandsOnTheClassBoard(t *testing.T) {
	e := newClassroomEnv(t)
	tr := e.classroomClient()
	r := tr.signIn(TrainerUserID, e.cfg.TrainerPassword, "")
	if r.StatusCode != 303 || tr.localPath(r) != "/training/board" {
		t.Fatalf("the trainer's sign-in: %d to %q, want the class board", r.StatusCode, r.Header.Get("Location"))
	}
	for _, path := range []string{"/training/board", "/messages", "/account", "/training/trainer", "/training/board/join"} {
		if href, _ := tr.get(path).doc(t).Find(`[data-testid="header-board"]`).Attr("href"); href != "/training/board" {
			t.Errorf("%s: the header's class board link = %q", path, href)
		}
	}
	// The board has the full width: the job aid is the learner's.
	board := tr.get("/training/board").doc(t)
	if board.Find(`[data-testid="jobaid"]`).Length() != 0 || board.Find(`[data-testid="jobaid-toggle"]`).Length() != 0 {
		t.Error("the trainer's board has the job aid panel or its Hide/Show")
	}
	// Asked for a page, the trainer goes there.
	again := e.classroomClient()
	if r := again.signIn(TrainerUserID, e.cfg.TrainerPassword, "/account"); again.localPath(r) != "/account" {
		t.Errorf("with next=/account the trainer went to %q", r.Header.Get("Location"))
	}
	learner := e.classroomClient()
	u := learner.registeredLearner("Harbour!2026x")
	if r := learner.signIn(u.UserID, "Harbour!2026x", ""); learner.localPath(r) != "/messages" {
		t.Errorf("a learner's sign-in went to %q", r.Header.Get("Location"))
	}
	if n := learner.get("/messages").doc(t).Find(`[data-testid="header-board"]`).Length(); n != 0 {
		t.Error("a learner's header links to the class board")
	}
}

// TestJoinScreenOnThisComputerOnly: on 127.0.0.1 the join screen says
// learners cannot open its address and how to start CQRS for a room.
func TestJoinScreenOnThisComputerOnly(t *testing.T) {
	e := newClassroomEnv(t)
	tr := e.classroomClient()
	wantStatus(t, tr.signIn(TrainerUserID, e.cfg.TrainerPassword, ""), 303)
	r := tr.get("/training/board/join")
	wantStatus(t, r, 200)
	wantText(t, r, "Learners cannot open this address", "--training --addr 0.0.0.0:8443 --tls-self-signed")
	// Which addresses are this computer's only: TestThisComputerOnly in package training.
}

// TestLearnerCardAfterRegistering: once registered, the training home
// points the learner at the CQRS Login page, not at step 1 again.
func TestLearnerCardAfterRegistering(t *testing.T) {
	e := newClassroomEnv(t)
	c := e.classroomClient()
	wantStatus(t, c.post("/training/learners", url.Values{"csrf_token": {c.csrf("/training")}}), 200)
	wantText(t, c.get("/training"), "Step 1 of the job aid")
	id := strings.TrimSpace(c.get("/training").doc(t).Find(`[data-testid="learner-user-id"]`).Text())
	u, _ := e.store.UserByUserID(t.Context(), id)
	wantStatus(t, c.get(e.learnerLink(u)), 303)
	wantStatus(t, c.post("/register", url.Values{"password": {"Harbour!2026x"}, "confirm_password": {"Harbour!2026x"}, "csrf_token": {c.csrf("/register")}}), 303)
	r := c.get("/training")
	wantText(t, r, "You have registered. Step 3 of the job aid")
	if strings.Contains(r.body, "Step 1 of the job aid") {
		t.Error("a registered learner's page still says Step 1: open your mailbox")
	}
}
