package training

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/cqrs-local/cqrs-signin/cqrs"
	"github.com/cqrs-local/cqrs-signin/policy"
	"github.com/cqrs-local/cqrs-signin/views"
)

// The trainer's controls: reset, the training clock, the cohort sheet,
// snapshots, and why the last thing happened.

var trainerNotices = map[string]string{
	"reset":    "The training data has been reset. Learners have been removed and the clock is back to real time.",
	"clock":    "The training clock has moved forward.",
	"saved":    "The snapshot has been saved.",
	"restored": "The snapshot has been restored. Everyone else has been signed out.",
}

// explainWhy says, for the trainer, why each kind of event happens.
var explainWhy = map[string]string{
	cqrs.AuditSignIn:          "Signed in. For NHSmail, the detail says which claim matched the CQRS account.",
	cqrs.AuditSignInFailed:    "Wrong User ID or password, or the account is not active. The learner saw the same message either way, so no answer tells which User IDs exist.",
	"lockout":                 "This failure reached the limit of failed sign-ins in a row, so the account is now locked and its owner was emailed an unlock link.",
	cqrs.AuditSignInLocked:    "An attempt on a locked account, right password or wrong: the learner saw the usual failure (so the page confirms no password); the owner was emailed an unlock link when the account locked. NHSmail sign-ins to a locked account are told it is locked, since NHSmail has proved who they are.",
	cqrs.AuditSignOut:         "Signed out; the session was ended on the server.",
	cqrs.AuditUnlock:          "The account was unlocked and its failure count cleared.",
	cqrs.AuditPasswordSet:     "Registration completed: the password met every rule of the policy.",
	cqrs.AuditPasswordChanged: "The password was changed: it met every rule, including the 72 hours since the last change.",
	cqrs.AuditPasswordReset:   "The password was reset through an emailed link (allowed at any time; the 72 hours start again).",
	cqrs.AuditLinkSent:        "An email with a single-use link was queued.",
	cqrs.AuditLinkUsed:        "An emailed link was used; it can never be used again.",
	cqrs.AuditLinkRefused:     "An emailed link could not be used: the detail says whether it had expired or was already used.",
	cqrs.AuditSSORefused:      "NHSmail sign-in could not be completed: the detail says why (no CQRS account with that email, account not active, or a protocol check failed).",
	cqrs.AuditResetRequested:  "Someone asked for an unlock / forgotten-password email.",
	evTrainingReset:           "The trainer reset the training data.",
	evTrainingClock:           "The trainer moved the training clock.",
	evTrainingLearner:         "A learner was started, or re-issued their NHSmail password.",
	evTrainingCohort:          "The trainer created the cohort.",
	evTrainingRestore:         "The trainer restored a snapshot.",
	cqrs.AuditUserDisabled:    "An administrator disabled the account: it cannot sign in and its sessions ended.",
}

func (a *app) keepTrainer(c *fiber.Ctx) *cqrs.KeepSignedIn {
	u, _ := a.currentUser(c)
	return &cqrs.KeepSignedIn{SessionHash: a.currentSession(c), UserID: u.UserID}
}

func (a *app) trainerPage(c *fiber.Ctx) error {
	return a.renderTrainer(c, fiber.StatusOK, nil, trainerNotices[c.Query("notice")])
}

func (a *app) renderTrainer(c *fiber.Ctx, status int, errs views.Errors, notice string) error {
	p, err := a.signedInPage(c, "Trainer controls")
	if err != nil {
		return err
	}
	now := a.cfg.Now()
	m := views.TrainerModel{Page: p, Errors: errs, Notice: notice, Now: now.Format(a.cfg.TimeFormat), SnapshotDir: a.cfg.SnapshotDir}
	if off := a.cfg.Clock.Offset(); off > 0 {
		m.Offset = "moved forward " + humanDuration(off)
	} else {
		m.Offset = "real time"
	}
	events, _, err := a.training.AuditEvents(c.UserContext(), cqrs.AuditFilter{Limit: 25})
	if err != nil {
		return err
	}
	for _, e := range events {
		why := explainWhy[e.Type]
		if why == "" {
			why = "Recorded in the audit log."
		}
		m.Events = append(m.Events, views.ExplainEvent{Time: e.Time.Format("2 Jan 15:04:05"), Type: e.Type, Subject: e.Subject, Detail: e.Detail, Why: why})
	}
	learners, err := a.training.Learners(c.UserContext())
	if err != nil {
		return err
	}
	m.Learners = len(learners)
	isLearner := map[uint64]bool{}
	for _, l := range learners {
		isLearner[l.AccountID] = true
	}
	users, _, err := a.training.ListUsers(c.UserContext(), cqrs.UserFilter{Limit: 200})
	if err != nil {
		return err
	}
	for _, u := range users {
		m.Accounts = append(m.Accounts, a.explainAccount(u, now, isLearner[u.ID]))
	}
	snaps, err := a.training.Snapshots(c.UserContext())
	if err != nil {
		return err
	}
	for _, s := range snaps {
		m.Snapshots = append(m.Snapshots, views.Option{Value: s.Name, Label: s.Name + " (saved " + s.Saved.Format(a.cfg.TimeFormat) + ")"})
	}
	return a.render(c, status, views.TrainerPage(m))
}

// explainAccount is one account's sign-in state in words.
func (a *app) explainAccount(u cqrs.User, now time.Time, learner bool) views.ExplainAccount {
	now = u.Clock(now) // a learner's own clock, when the trainer has moved it
	x := views.ExplainAccount{UserID: u.UserID, State: u.State(), Learner: learner,
		Failures: fmt.Sprintf("%d of %d", u.FailedSignIns, a.cfg.LockAfter), Lock: "not locked"}
	if !u.LockedAt.IsZero() {
		x.Lock = "locked since " + u.LockedAt.Format(a.cfg.TimeFormat) + "; stays locked until unlocked (emailed link or administrator)"
	}
	switch u.Invitation(now) {
	case cqrs.InvitePending:
		x.Link = "works until " + u.InviteExpires.Format(a.cfg.TimeFormat)
	case cqrs.InviteExpired:
		x.Link = "expired on " + u.InviteExpires.Format(a.cfg.TimeFormat)
	case cqrs.InviteRevoked:
		x.Link = "revoked"
	default:
		x.Link = "used (registered)"
	}
	if u.PasswordHash == "" {
		x.PasswordChange = "no password yet"
	} else if at := policy.ChangeAllowedAt(u.PasswordChanged); at.After(now) {
		x.PasswordChange = "refused until " + at.Format(a.cfg.TimeFormat) + " (72-hour rule)"
	} else {
		x.PasswordChange = "allowed"
	}
	return x
}

func humanDuration(d time.Duration) string {
	days, hours := int(d/(24*time.Hour)), int(d%(24*time.Hour)/time.Hour)
	switch {
	case days == 0:
		return fmt.Sprintf("%d hours", hours)
	case hours == 0:
		return fmt.Sprintf("%d days", days)
	}
	return fmt.Sprintf("%d days %d hours", days, hours)
}

// trainerReset puts the data set back after a typed confirmation.
func (a *app) trainerReset(c *fiber.Ctx) error {
	if c.FormValue("confirm") != "RESET" {
		return a.renderTrainer(c, fiber.StatusUnprocessableEntity, views.Errors{{Field: "confirm", Message: "Type RESET to confirm."}}, "")
	}
	u, _ := a.currentUser(c)
	event := cqrs.AuditEvent{Type: evTrainingReset, Actor: u.UserID, IP: c.IP(), Method: "training", Detail: "training data reset; learners removed"}
	if err := a.resetTraining(c.UserContext(), a.keepTrainer(c), event); err != nil {
		return err
	}
	a.progress.clear()
	a.wakeMailer()
	a.log.Info("training data reset", "by", u.UserID)
	return a.redirect(c, "/training/trainer?notice=reset")
}

// trainerClock moves the training clock forward.
func (a *app) trainerClock(c *fiber.Ctx) error {
	var by time.Duration
	switch c.FormValue("by") {
	case "72h":
		by = 72 * time.Hour
	case "14d":
		by = 14 * 24 * time.Hour
	default:
		return a.refuse(fiber.StatusBadRequest, "The clock cannot move by that", "Use the +72 hours or +14 days button.")
	}
	u, _ := a.currentUser(c)
	event := cqrs.AuditEvent{Type: evTrainingClock, Actor: u.UserID, IP: c.IP(), Method: "training",
		Detail: "training clock moved forward " + humanDuration(by) + "; training time now " + a.cfg.Now().Add(by).Format(a.cfg.TimeFormat)}
	off, err := a.training.MoveClock(c.UserContext(), by, a.keepTrainer(c), event)
	if err != nil {
		return err
	}
	a.cfg.Clock.SetOffset(off)
	a.log.Info("training clock moved", "by", u.UserID, "offset", off)
	return a.redirect(c, "/training/trainer?notice=clock")
}

// trainerCohort creates learner01-learner30 and answers with their sheet,
// the only place their NHSmail passwords ever appear.
func (a *app) trainerCohort(c *fiber.Ctx) error {
	org, by, err := a.trainingOrg(c.UserContext())
	if err != nil {
		return err
	}
	prepared := make([]preparedLearner, 0, cohortSize)
	batch := make([]cqrs.NewLearner, 0, cohortSize)
	for i := 1; i <= cohortSize; i++ {
		p, err := a.prepareLearner(c.UserContext(), fmt.Sprintf("learner%02d", i), org, by, true, "")
		if err != nil {
			return err
		}
		prepared = append(prepared, p)
		batch = append(batch, p.NewLearner)
	}
	created := a.event(c, cqrs.AuditEvent{Type: evTrainingCohort, OrgID: org.ID, Method: "training", Detail: fmt.Sprintf("learner01 to learner%02d created", cohortSize)})
	// Own words for the trainer: how to get a new cohort.
	if _, err := a.training.CreateLearners(c.UserContext(), batch, created); errors.Is(err, cqrs.ErrConflict) {
		return a.refuse(fiber.StatusConflict, "A cohort already exists",
			"learner01 to learner30 have been created already. Reset the training data to make a new cohort.")
	} else if err != nil {
		return err
	}
	a.wakeMailer()
	p, err := a.signedInPage(c, "Cohort sheet")
	if err != nil {
		return err
	}
	m := views.CohortSheetModel{Page: p, Created: a.cfg.Now().Format(a.cfg.TimeFormat)}
	base := strings.TrimRight(a.cfg.BaseURL, "/")
	for _, pl := range prepared {
		m.Rows = append(m.Rows, views.CohortRow{UserID: pl.User.User.UserID, RegistrationURL: a.linkURL("/register", pl.linkToken),
			NHSmailEmail: pl.NHSmail.Email, NHSmailPassword: pl.nhsmailPassword, JoinURL: base + "/training/join?code=" + pl.token})
	}
	return a.render(c, fiber.StatusOK, views.CohortSheetPage(m))
}

func (a *app) trainerSaveSnapshot(c *fiber.Ctx) error {
	name := strings.TrimSpace(c.FormValue("name"))
	err := a.training.SaveSnapshot(c.UserContext(), name)
	// A field error in the trainer's form, not a page.
	if errors.Is(err, cqrs.ErrSnapshotName) {
		return a.renderTrainer(c, fiber.StatusUnprocessableEntity, views.Errors{{Field: "name",
			Message: "Enter a snapshot name of up to 40 letters, digits, spaces, hyphens or underscores."}}, "")
	} else if err != nil {
		return err
	}
	if err := a.audit(c, cqrs.AuditEvent{Type: evTrainingSnapshot, Method: "training", Detail: "snapshot saved: " + name}); err != nil {
		return err
	}
	return a.redirect(c, "/training/trainer?notice=saved")
}

func (a *app) trainerRestoreSnapshot(c *fiber.Ctx) error {
	name := c.FormValue("name")
	u, _ := a.currentUser(c)
	event := cqrs.AuditEvent{Type: evTrainingRestore, Actor: u.UserID, IP: c.IP(), Method: "training", Detail: "snapshot restored: " + name}
	off, err := a.training.RestoreSnapshot(c.UserContext(), name, a.keepTrainer(c), event)
	// Own words: an invalid name is a snapshot that does not exist.
	switch {
	case errors.Is(err, cqrs.ErrSnapshotName), errors.Is(err, cqrs.ErrNotFound):
		return a.refuse(fiber.StatusNotFound, "Snapshot not found", "Choose one of the saved snapshots.")
	case err != nil:
		return err
	}
	a.cfg.Clock.SetOffset(off)
	a.progress.clear()
	if err := a.setTrainerPassword(c.UserContext(), "the trainer password printed at start, kept across a snapshot restore"); err != nil {
		return err
	}
	a.log.Info("training snapshot restored", "by", u.UserID, "name", name)
	return a.redirect(c, "/training/trainer?notice=restored")
}
