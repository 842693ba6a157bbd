package handlers

import (
	"bytes"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/PuerkitoBio/goquery"

	"github.com/cqrs-local/cqrs-signin/clock"
	"github.com/cqrs-local/cqrs-signin/cqrs"
)

// newTrainingEnv is the app in training mode on a real bbolt file; the
// training clock (over the test clock) is shared by the store and the app.
func newTrainingEnv(t *testing.T) *testEnv {
	t.Helper()
	return newEnv(t, func(c *Config) { c.Training, c.SignInRateLimit, c.TrainerPassword = true, 0, NewTrainerPassword() })
}

// trainer is a client signed in as the training data set's trainer.
func (e *testEnv) trainer() *client {
	e.t.Helper()
	c := e.client()
	wantStatus(e.t, c.signIn(TrainerUserID, e.cfg.TrainerPassword, ""), 303)
	return c
}

// startLearner makes c a new learner and returns its User ID and the
// NHSmail password shown once.
func (c *client) startLearner() (string, string) {
	c.env.t.Helper()
	r := c.post("/training/learners", url.Values{"csrf_token": {c.csrf("/training")}})
	wantStatus(c.env.t, r, 200)
	d := r.doc(c.env.t)
	return strings.TrimSpace(d.Find(`[data-testid="learner-user-id"]`).Text()), strings.TrimSpace(d.Find(`[data-testid="learner-nhsmail-password"]`).Text())
}

var registerLink = regexp.MustCompile(`http://127\.0\.0\.1:8420(/register\?token=[A-Za-z0-9_-]+)`)

// wantCurrentStep checks the job aid highlights exactly the step id.
func wantCurrentStep(t *testing.T, r response, id string) {
	t.Helper()
	d := r.doc(t)
	if d.Find(`[data-testid="jobaid-`+id+`"][data-current="true"]`).Length() != 1 {
		t.Errorf("job aid does not highlight %s; current: %q", id, d.Find(`[data-current="true"]`).Text())
	}
}

func TestTrainingDataSetHasEveryState(t *testing.T) {
	e := newTrainingEnv(t)
	now := e.clock.Now()
	want := map[string]string{TrainerUserID: cqrs.StateActive, "trn.useradmin": cqrs.StateActive, "trn.invited": cqrs.StateInvited,
		"trn.active": cqrs.StateActive, "trn.locked": cqrs.StateLocked, "trn.disabled": cqrs.StateDisabled, "trn.consent": cqrs.StateActive}
	for id, state := range want {
		u, err := e.store.UserByUserID(t.Context(), id)
		if err != nil {
			t.Fatalf("%s: %v", id, err)
		}
		if u.State() != state {
			t.Errorf("%s: state %s, want %s", id, u.State(), state)
		}
	}
	if u, _ := e.store.UserByUserID(t.Context(), TrainerUserID); u.Role != cqrs.RoleSystemAdmin {
		t.Errorf("trainer role = %s", u.Role)
	}
	inv, _ := e.store.UserByUserID(t.Context(), "trn.invited")
	if inv.Invitation(now) != cqrs.InvitePending {
		t.Errorf("invitation = %s, want pending", inv.Invitation(now))
	}
	emails, _ := e.store.Emails(t.Context(), cqrs.EmailFilter{UserID: inv.ID})
	if len(emails) != 1 || !registerLink.MatchString(emails[0].Text) {
		t.Fatalf("invited user's emails = %+v", emails)
	}
	for _, c := range []struct {
		email                    string
		locked, consent, hasCQRS bool
	}{
		{"amy.active@nhs.net", false, false, true},
		{"noah.nocqrs@nhs.net", false, false, false},
		{"wendy.wrong@nhs.net", false, false, false},
		{"lara.locked@nhs.net", true, false, false},
		{"cara.consent@nhs.net", false, true, true},
	} {
		acc, err := e.store.NHSmailAccountByEmail(t.Context(), c.email)
		if err != nil {
			t.Fatalf("%s: %v", c.email, err)
		}
		_, cqrsErr := e.store.UserByEmail(t.Context(), c.email)
		if acc.Locked != c.locked || acc.ConsentRequired != c.consent || (cqrsErr == nil) != c.hasCQRS || acc.PasswordHash == "" {
			t.Errorf("%s: %+v, CQRS account: %v", c.email, acc, cqrsErr)
		}
	}
	if ok, _ := e.hasher.Verify(t.Context(), trainingNHSmailPassword, mustNHSmail(t, e, "amy.active@nhs.net").PasswordHash); !ok {
		t.Error("NHSmail password is not the one shown")
	}

	// The known passwords work, and every page says it is a training system.
	cl := e.client()
	wantStatus(t, cl.signIn("trn.active", trainingPassword, ""), 303)
	r := e.client().get("/login")
	if r.doc(t).Find(`[data-testid="training-banner"]`).Length() != 1 {
		t.Error("no training banner on the login page")
	}
	r = e.client().get("/training")
	wantStatus(t, r, 200)
	wantText(t, r, TrainerUserID, "the password printed in the window where CQRS was started", "Start as a new learner")
	if strings.Contains(r.body, e.cfg.TrainerPassword) {
		t.Error("the training home page shows the trainer's password")
	}
	// A restart finds the data and does not seed again. IDs would repeat
	// after a re-seed, so look at what a re-seed cannot reproduce: a
	// learner started before the restart and the emails sent so far. The
	// trainer gets that run's password, and the last run's no longer works.
	learner, _ := e.client().startLearner()
	restarted := NewTrainerPassword()
	e.start(nilLogger(), Config{Training: true, Clock: clock.New(nil), TrainerPassword: restarted}, e.deps(Deps{Hasher: e.hasher}))
	if _, err := e.store.UserByUserID(t.Context(), learner); err != nil {
		t.Errorf("the learner %s started before the restart is gone (%v): the data set was seeded again", learner, err)
	}
	if emails, _ := e.store.Emails(t.Context(), cqrs.EmailFilter{UserID: inv.ID}); len(emails) != 1 {
		t.Errorf("after the restart trn.invited has %d emails, want still 1", len(emails))
	}
	trainer, _ := e.store.UserByUserID(t.Context(), TrainerUserID)
	if ok, _ := e.hasher.Verify(t.Context(), restarted, trainer.PasswordHash); !ok {
		t.Error("the trainer does not have the restarted run's password")
	}
	if ok, _ := e.hasher.Verify(t.Context(), e.cfg.TrainerPassword, trainer.PasswordHash); ok {
		t.Error("the trainer keeps the last run's password")
	}
}

func mustNHSmail(t *testing.T, e *testEnv, email string) cqrs.NHSmailAccount {
	t.Helper()
	acc, err := e.store.NHSmailAccountByEmail(t.Context(), email)
	if err != nil {
		t.Fatal(err)
	}
	return acc
}

func TestLearnersInParallelSeeOnlyTheirOwnMailbox(t *testing.T) {
	e := newTrainingEnv(t)
	learners := []*client{e.client(), e.client()}
	ids := make([]string, len(learners))
	passwords := make([]string, len(learners))
	tokens := make([]string, len(learners))
	for _, c := range learners {
		c.csrf("/training") // each browser has its CSRF cookie before the race
	}
	var wg sync.WaitGroup
	for i, c := range learners {
		wg.Add(1)
		go func() {
			defer wg.Done()
			tokens[i] = c.csrf("/training")
			ids[i], passwords[i] = c.startLearner()
		}()
	}
	wg.Wait()
	if ids[0] == "" || ids[0] == ids[1] || passwords[0] == "" || passwords[0] == passwords[1] {
		t.Fatalf("learners = %q, passwords shown = %q", ids, passwords)
	}
	links := make([]string, len(learners))
	for i, c := range learners {
		r := c.get("/training/mailbox")
		wantStatus(t, r, 200)
		wantCurrentStep(t, r, "ja-1")
		rows := r.doc(t).Find(`[data-testid="learner-emails"] li`)
		if rows.Length() != 1 {
			t.Fatalf("learner %s sees %d emails, want 1", ids[i], rows.Length())
		}
		href, _ := rows.Find("a").Attr("href")
		r = c.get(href)
		wantStatus(t, r, 200)
		wantText(t, r, "Your User ID is: "+ids[i])
		other := ids[1-i]
		if strings.Contains(r.body, other) {
			t.Errorf("learner %s sees %s", ids[i], other)
		}
		m := registerLink.FindStringSubmatch(r.body)
		if m == nil {
			t.Fatalf("no registration link in %s's email", ids[i])
		}
		links[i] = m[1]
		// Someone else's email is not found, and the admin mailbox is closed.
		u, _ := e.store.UserByUserID(t.Context(), other)
		otherEmails, _ := e.store.Emails(t.Context(), cqrs.EmailFilter{UserID: u.ID})
		wantStatus(t, c.get("/training/mailbox/"+strconv.FormatUint(otherEmails[0].ID, 10)), 404)
		if r := c.get("/mailbox"); r.StatusCode == 200 {
			t.Errorf("a learner opened the admin mailbox")
		}
	}
	// Stored: only hashes of the NHSmail password.
	acc := mustNHSmail(t, e, ids[0]+"@nhs.net")
	if ok, _ := e.hasher.Verify(t.Context(), passwords[0], acc.PasswordHash); !ok || bytes.Contains(e.dbBytes(), []byte(passwords[0])) {
		t.Error("the NHSmail password is not stored as its hash only")
	}

	// The first learner walks the job aid: email → Security Information → Login page → message centre.
	c := learners[0]
	wantStatus(t, c.get(links[0]), 303)
	r := c.get("/register")
	wantStatus(t, r, 200)
	wantCurrentStep(t, r, "ja-2")
	pw := "Harbour!2026x"
	wantStatus(t, c.post("/register", url.Values{"password": {pw}, "confirm_password": {pw}, "csrf_token": {c.csrf("/register")}}), 303)
	r = c.get("/login")
	wantCurrentStep(t, r, "ja-3")
	wantStatus(t, c.signIn(ids[0], pw, ""), 303)
	r = c.get("/messages")
	wantStatus(t, r, 200)
	wantCurrentStep(t, r, "sso-3")

	// The NHSmail password can be re-issued: a new one, shown once.
	r = learners[1].post("/training/learner/nhsmail-password", url.Values{"csrf_token": {learners[1].csrf("/training")}})
	wantStatus(t, r, 200)
	again := strings.TrimSpace(r.doc(t).Find(`[data-testid="learner-nhsmail-password"]`).Text())
	acc = mustNHSmail(t, e, ids[1]+"@nhs.net")
	if ok, _ := e.hasher.Verify(t.Context(), again, acc.PasswordHash); again == "" || again == passwords[1] || !ok {
		t.Errorf("re-issued password %q does not work", again)
	}
	if r := learners[1].get("/training"); strings.Contains(r.body, again) {
		t.Error("the NHSmail password is shown again")
	}
}

func TestJobAidPanelToggleIsRemembered(t *testing.T) {
	e := newTrainingEnv(t)
	c := e.client()
	if c.get("/login").doc(t).Find(`[data-testid="jobaid"]`).Length() != 1 {
		t.Fatal("the job aid is not shown by default")
	}
	r := c.post("/training/jobaid", url.Values{"show": {"closed"}, "next": {"/login"}, "csrf_token": {c.csrf("/login")}})
	wantStatus(t, r, 303)
	if got := r.Header.Get("Location"); got != "/login" {
		t.Errorf("back to %q", got)
	}
	if c.get("/login").doc(t).Find(`[data-testid="jobaid"]`).Length() != 0 {
		t.Error("the hidden job aid is still shown")
	}
	r = c.post("/training/jobaid", url.Values{"show": {"open"}, "next": {"https://evil.example/"}, "csrf_token": {c.csrf("/login")}})
	if got := r.Header.Get("Location"); got != "/training" {
		t.Errorf("an off-site return address was followed: %q", got)
	}
	// The pages' steps: TestJobAidMapsPagesToSteps in package training.
}

func TestTrainingResetRestoresTheDataSetAndRemovesLearners(t *testing.T) {
	e := newTrainingEnv(t)
	learner := e.client()
	id, _ := learner.startLearner()
	tr := e.trainer()
	// Change the data: unlock the locked account.
	locked, _ := e.store.UserByUserID(t.Context(), "trn.locked")
	if _, err := e.store.Unlock(t.Context(), locked.ID); err != nil {
		t.Fatal(err)
	}

	r := tr.post("/training/trainer/reset", url.Values{"confirm": {"reset"}, "csrf_token": {tr.csrf("/training/trainer")}})
	wantStatus(t, r, 422)
	wantText(t, r, "Type RESET to confirm.")
	if _, err := e.store.UserByUserID(t.Context(), id); err != nil {
		t.Fatal("a refused reset removed the learner")
	}
	r = tr.post("/training/trainer/reset", url.Values{"confirm": {"RESET"}, "csrf_token": {tr.csrf("/training/trainer")}})
	wantStatus(t, r, 303)

	if _, err := e.store.UserByUserID(t.Context(), id); err == nil {
		t.Error("the learner survived the reset")
	}
	if ls, _ := e.file.Learners(t.Context()); len(ls) != 0 {
		t.Errorf("learners after reset = %d", len(ls))
	}
	if _, err := e.store.NHSmailAccountByEmail(t.Context(), id+"@nhs.net"); err == nil {
		t.Error("the learner's NHSmail account survived the reset")
	}
	if u, _ := e.store.UserByUserID(t.Context(), "trn.locked"); u.State() != cqrs.StateLocked {
		t.Errorf("trn.locked is %s after reset", u.State())
	}
	// The learner's cookie no longer finds a learner; the trainer is still signed in.
	if r := learner.get("/training/mailbox"); r.StatusCode != 303 {
		t.Errorf("old learner's mailbox: %d", r.StatusCode)
	}
	r = tr.get("/training/trainer?notice=reset")
	wantStatus(t, r, 200)
	wantText(t, r, "The training data has been reset.")
	if _, n, _ := e.store.AuditEvents(t.Context(), cqrs.AuditFilter{Type: evTrainingReset}); n != 2 {
		t.Errorf("reset audit entries = %d, want 2 (seed and reset)", n)
	}
}

func TestTrainingClockAllowsThePasswordChangeAfter72Hours(t *testing.T) {
	e := newTrainingEnv(t)
	user := e.client()
	wantStatus(t, user.signIn("trn.active", trainingPassword, ""), 303)
	change := func() response {
		return user.post("/account/password", url.Values{"current_password": {trainingPassword}, "password": {"Harbour!2026x"},
			"confirm_password": {"Harbour!2026x"}, "csrf_token": {user.csrf("/account")}})
	}
	r := change()
	wantStatus(t, r, 422)
	wantText(t, r, "72 hours")

	tr := e.trainer()
	wantStatus(t, tr.post("/training/trainer/clock", url.Values{"by": {"72h"}, "csrf_token": {tr.csrf("/training/trainer")}}), 303)
	r = tr.get("/training/trainer?notice=clock")
	wantStatus(t, r, 200) // the trainer was kept signed in over the jump
	wantText(t, r, "moved forward 3 days")
	if _, n, _ := e.store.AuditEvents(t.Context(), cqrs.AuditFilter{Type: evTrainingClock}); n != 1 {
		t.Errorf("clock audit entries = %d", n)
	}

	// 72 hours later the session has idled out: sign in again, then the change is allowed.
	wantStatus(t, user.signIn("trn.active", trainingPassword, ""), 303)
	r = change()
	wantStatus(t, r, 303)
	wantText(t, user.get(r.Header.Get("Location")), "Your password has been changed.")

	// +14 days expires the invited user's registration link.
	wantStatus(t, tr.post("/training/trainer/clock", url.Values{"by": {"14d"}, "csrf_token": {tr.csrf("/training/trainer")}}), 303)
	inv, _ := e.store.UserByUserID(t.Context(), "trn.invited")
	if got := inv.Invitation(e.clock.Now().Add(72*time.Hour + 14*24*time.Hour)); got != cqrs.InviteExpired {
		t.Errorf("invitation after +17 days = %s", got)
	}
	wantText(t, tr.get("/training/trainer"), "expired on")
}

func TestTrainerControlsOnlyInTrainingModeAndOnlyForTheSystemAdministrator(t *testing.T) {
	plain := newEnv(t)
	runScenarios(t, plain, map[string]*client{roleAnon: nil}, []scenario{
		{Name: "outside training: the training page", URL: "/training", Role: roleAnon, ExpectedStatus: 404},
		{Name: "outside training: the trainer's page", URL: "/training/trainer", Role: roleAnon, ExpectedStatus: 404},
		{Name: "outside training: the learner's mailbox", URL: "/training/mailbox", Role: roleAnon, ExpectedStatus: 404},
	})

	e := newTrainingEnv(t)
	user := e.client()
	wantStatus(t, user.signIn("trn.useradmin", trainingPassword, ""), 303)
	// Every control's fields filled in, so only the role refuses it.
	controls := url.Values{"confirm": {"RESET"}, "by": {"72h"}, "name": {"x"}}
	runScenarios(t, e, map[string]*client{roleSameOrgAdmin: user, roleAnon: nil}, []scenario{
		{Name: "a User Administrator: the trainer's page", URL: "/training/trainer", Role: roleSameOrgAdmin, ExpectedStatus: 403},
		{Name: "a User Administrator: reset", Method: "POST", URL: "/training/trainer/reset", Role: roleSameOrgAdmin, CSRFFrom: "/messages", Form: controls, ExpectedStatus: 403},
		{Name: "a User Administrator: clock", Method: "POST", URL: "/training/trainer/clock", Role: roleSameOrgAdmin, CSRFFrom: "/messages", Form: controls, ExpectedStatus: 403},
		{Name: "a User Administrator: cohort", Method: "POST", URL: "/training/trainer/cohort", Role: roleSameOrgAdmin, CSRFFrom: "/messages", Form: controls, ExpectedStatus: 403},
		{Name: "a User Administrator: snapshots", Method: "POST", URL: "/training/trainer/snapshots", Role: roleSameOrgAdmin, CSRFFrom: "/messages", Form: controls, ExpectedStatus: 403,
			// After all four controls were refused: no cohort.
			ExpectedChange: func(t *testing.T) {
				if _, err := e.store.UserByUserID(t.Context(), "learner01"); err == nil {
					t.Error("a User Administrator created a cohort")
				}
			}},
		{Name: "signed out: to the login page", URL: "/training/trainer", Role: roleAnon, ExpectedStatus: 303, ExpectedLocation: "/login"},
	})
}

func TestTrainingSnapshotSaveAndRestore(t *testing.T) {
	e := newTrainingEnv(t)
	tr := e.trainer()
	trainer := map[string]*client{roleSysAdmin: tr}
	runScenarios(t, e, trainer, []scenario{
		{Name: "a name that is not a name", Method: "POST", URL: "/training/trainer/snapshots", Role: roleSysAdmin, CSRFFrom: "/training/trainer",
			Form: url.Values{"name": {"../bad"}}, ExpectedStatus: 422},
	})
	wantStatus(t, tr.post("/training/trainer/snapshots", url.Values{"name": {"Class start"}, "csrf_token": {tr.csrf("/training/trainer")}}), 303)
	wantText(t, tr.get("/training/trainer"), "Class start")

	id, _ := e.client().startLearner()
	wantStatus(t, tr.post("/training/trainer/clock", url.Values{"by": {"14d"}, "csrf_token": {tr.csrf("/training/trainer")}}), 303)

	wantStatus(t, tr.post("/training/trainer/snapshots/restore", url.Values{"name": {"Class start"}, "csrf_token": {tr.csrf("/training/trainer")}}), 303)
	if _, err := e.store.UserByUserID(t.Context(), id); err == nil {
		t.Error("a learner made after the snapshot survived its restore")
	}
	if _, err := e.store.UserByUserID(t.Context(), "trn.invited"); err != nil {
		t.Errorf("restored data: %v", err)
	}
	r := tr.get("/training/trainer?notice=restored")
	wantStatus(t, r, 200)
	wantText(t, r, "real time")
	runScenarios(t, e, trainer, []scenario{
		{Name: "restore one that was never saved", Method: "POST", URL: "/training/trainer/snapshots/restore", Role: roleSysAdmin, CSRFFrom: "/training/trainer",
			Form: url.Values{"name": {"missing"}}, ExpectedStatus: 404},
	})
}

func TestCohortSheetListsThirtyLearners(t *testing.T) {
	e := newTrainingEnv(t)
	tr := e.trainer()
	r := tr.post("/training/trainer/cohort", url.Values{"csrf_token": {tr.csrf("/training/trainer")}})
	wantStatus(t, r, 200)
	rows := r.doc(t).Find(`[data-testid="cohort-row"]`)
	if rows.Length() != cohortSize {
		t.Fatalf("cohort sheet rows = %d, want %d", rows.Length(), cohortSize)
	}
	if got := strings.TrimSpace(rows.First().Find(`[data-testid="cohort-user-id"]`).Text()); got != "learner01" {
		t.Errorf("first row = %q", got)
	}
	if n := len(registerLink.FindAllString(r.body, -1)); n != cohortSize {
		t.Errorf("registration links on the sheet = %d", n)
	}
	if ls, _ := e.file.Learners(t.Context()); len(ls) != cohortSize {
		t.Errorf("learners = %d", len(ls))
	}
	// A learner's join code from the sheet opens their own mailbox.
	join := regexp.MustCompile(`/training/join\?code=[A-Za-z0-9_-]+`).FindString(r.body)
	learner := e.client()
	wantStatus(t, learner.get(join), 303)
	wantText(t, learner.get("/training/mailbox"), "learner01")
	// The link on the sheet registers learner01.
	link := registerLink.FindStringSubmatch(r.body)[1]
	wantStatus(t, learner.get(link), 303)
	wantStatus(t, learner.get("/register"), 200)
	runScenarios(t, e, map[string]*client{roleSysAdmin: tr}, []scenario{
		{Name: "a second cohort is refused until a reset", Method: "POST", URL: "/training/trainer/cohort", Role: roleSysAdmin, CSRFFrom: "/training/trainer", ExpectedStatus: 409},
	})
}

func TestTrainingModeRefusesARealDatabase(t *testing.T) {
	bboltOnly(t, "main refuses training mode with --database before the app is built")
	e := newEnv(t)
	e.registeredAdmin()
	app, err := New(nilLogger(), Config{Training: true, Clock: clock.New(nil), TrainerPassword: NewTrainerPassword()}, e.deps(Deps{Hasher: e.hasher}))
	if err == nil {
		err = app.Prepare(t.Context()) // the start-up's reading and writing, after New
	}
	if err == nil || !strings.Contains(err.Error(), "training database") {
		t.Fatalf("training mode on a site's database: %v", err)
	}
	if _, err := e.store.UserByUserID(t.Context(), "admin.jones"); err != nil {
		t.Errorf("the site's data changed: %v", err)
	}
}

// TestJobAidShowsNHSmailsSecondStep: the job aid panel has the step
// NHSmail asks for today (after the password, approve on the phone),
// marked as beyond the documents, right after the job aid's step 4; the
// documents' own steps carry no such mark.
func TestJobAidShowsNHSmailsSecondStep(t *testing.T) {
	e := newTrainingEnv(t)
	r := e.client().get("/login")
	wantStatus(t, r, 200)
	d := r.doc(t)
	steps := d.Find(`[data-testid="jobaid"] li`)
	var ids []string
	steps.Each(func(_ int, s *goquery.Selection) { ids = append(ids, s.AttrOr("data-testid", "")) })
	i := slices.Index(ids, "jobaid-ja-4-mfa")
	if i < 1 || ids[i-1] != "jobaid-ja-4" {
		t.Fatalf("the job aid's steps are %v, want jobaid-ja-4-mfa right after jobaid-ja-4", ids)
	}
	step := steps.Eq(i)
	if got := step.Find(`[data-testid="jobaid-beyond-ja-4-mfa"]`).Text(); got != "NHSmail today, beyond the documents" {
		t.Errorf("the second step's mark = %q", got)
	}
	if !strings.Contains(step.Text(), "Microsoft Authenticator") {
		t.Errorf("the second step says %q", strings.TrimSpace(step.Text()))
	}
	if n := d.Find(`[data-testid^="jobaid-beyond-"]`).Length(); n != 1 {
		t.Errorf("%d steps are marked beyond the documents, want only the second step", n)
	}
}
