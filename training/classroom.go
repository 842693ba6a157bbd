package training

import (
	"context"
	"encoding/csv"
	"errors"
	"github.com/cqrs-local/cqrs-signin/cqrs"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/cqrs-local/cqrs-signin/secret"
	"github.com/cqrs-local/cqrs-signin/views"
)

// The classroom: what the trainer does to one learner from the class
// board. Every button says, in one sentence, what the learner will now see.

const evTrainingLearnerAction = cqrs.AuditTrainingLearnerAction

// ClassroomStore is what the per-learner buttons need beyond TrainingStore.
type ClassroomStore interface {
	User(ctx context.Context, id uint64) (cqrs.User, error)
	UserByUserID(ctx context.Context, userID string) (cqrs.User, error)
	MoveLearnerClock(ctx context.Context, accountID uint64, d time.Duration, event cqrs.AuditEvent) (cqrs.User, error)
	LockLearner(ctx context.Context, accountID uint64, lockAfter int, linkTTL time.Duration, notice func(u cqrs.User, expires time.Time) (cqrs.Email, []byte), event cqrs.AuditEvent) (cqrs.User, error)
	ExpireLearnerLink(ctx context.Context, accountID uint64, event cqrs.AuditEvent) (cqrs.User, error)
	GiveLearnerNoCQRS(ctx context.Context, accountID uint64, event cqrs.AuditEvent) (cqrs.Learner, error)
	EndNHSmailSessions(ctx context.Context, nhsmailID uint64) error
	LockLearnerNHSmail(ctx context.Context, accountID uint64, event cqrs.AuditEvent) (cqrs.User, error)
	ResetLearner(ctx context.Context, accountID uint64, linkHash []byte, linkTTL time.Duration, email cqrs.Email, event cqrs.AuditEvent) (cqrs.User, error)
	ClaimCohortLearner(ctx context.Context, tokenHash []byte, nhsmailHash string, event cqrs.AuditEvent) (cqrs.Learner, error)
}

// learnerAction is one button on a learner's row.
type learnerAction struct {
	Key, Label string
	// Sees is what the learner will now see, in one sentence.
	Sees string
	// Refused is why the button did nothing, when the learner's state
	// does not allow it (cqrs.ErrConflict).
	Refused string
}

var learnerActions = []learnerAction{
	{Key: "clock-72h", Label: "+72 hours",
		Sees: "Their own clock moves on 72 hours, nobody else's: they may change their password again (My account)."},
	{Key: "clock-14d", Label: "+14 days",
		Sees: "Their own clock moves on 14 days, nobody else's: an unused registration link has expired, and they may change their password again."},
	{Key: "lock", Label: "Lock their CQRS account",
		Sees:    "Their legacy sign-in now fails with \"Incorrect user ID or password\" whatever the password, and their mailbox has the \"Your CQRS account is locked\" email with an unlock link.",
		Refused: "Only a registered account that is not locked already can be locked."},
	{Key: "expire-link", Label: "Expire their registration link",
		Sees:    "Their registration link now opens \"This registration link has expired\".",
		Refused: "They have registered already, so their registration link is spent."},
	{Key: "nocqrs", Label: "Give them an NHSmail account with no CQRS account",
		Sees: "Signing in to NHSmail as the address shown on their training page, with their own NHSmail password, now ends on the page saying there is no CQRS account, with the help desk details (step 5)."},
	{Key: "lock-nhsmail", Label: "Lock their NHSmail account",
		Sees: "Their NHSmail sign-in now says their NHSmail account is locked."},
	{Key: "mfa-timeout", Label: "Next NHSmail prompt times out",
		Sees: "At their next NHSmail sign-in, after the password, nothing reaches their phone: when the training clock passes the minute NHSmail gives, the sign-in page says \"We didn't hear from you\". The sign-in after that works as usual."},
	{Key: "mfa-deny", Label: "Next NHSmail prompt is denied",
		Sees: "At their next NHSmail sign-in, after the password, the prompt on their phone is denied: the sign-in page says \"Request denied\". The sign-in after that works as usual."},
	{Key: "mfa-phone-changed", Label: "Their phone changed",
		Sees: "At their next NHSmail sign-in, after the password, NHSmail says \"More information required\": they set up Microsoft Authenticator again on their phone page, approve its first prompt, and the sign-in continues. From then on NHSmail asks their phone at every sign-in."},
	{Key: "reset", Label: "Reset them to the start",
		Sees: "They start again at step 1: a new registration email in their mailbox, no password, nothing locked, their clock back with the class."},
}

func learnerActionByKey(key string) (learnerAction, bool) {
	for _, la := range learnerActions {
		if la.Key == key {
			return la, true
		}
	}
	return learnerAction{}, false
}

// learnerAction wraps one button of a learner's row: key names its label
// and sentences in learnerActions; do makes the change, recording event
// with it; the answer is the class board saying what was done.
func (a *app) learnerAction(key string, do func(c *fiber.Ctx, u cqrs.User, event cqrs.AuditEvent) error) fiber.Handler {
	la, ok := learnerActionByKey(key)
	if !ok {
		panic("handlers: no learner action " + key)
	}
	return func(c *fiber.Ctx) error {
		id, err := strconv.ParseUint(c.Params("id"), 10, 64)
		if err != nil {
			return fiber.ErrNotFound
		}
		u, err := a.training.User(c.UserContext(), id)
		// Own words: they send the trainer back to the class board.
		if errors.Is(err, cqrs.ErrNotFound) {
			return a.refuse(fiber.StatusNotFound, "Learner not found", "The learner may have been removed by a reset. Go back to the class board.")
		} else if err != nil {
			return err
		}
		trainer, _ := a.currentUser(c)
		event := cqrs.AuditEvent{Type: evTrainingLearnerAction, Actor: trainer.UserID, IP: c.IP(), Method: "training", Detail: la.Label}
		err = do(c, u, event)
		switch {
		case errors.Is(err, cqrs.ErrNotFound):
			return a.refuse(fiber.StatusNotFound, "Learner not found", "Only learners' rows have these buttons. Go back to the class board.")
		case errors.Is(err, cqrs.ErrConflict):
			return a.refuse(fiber.StatusConflict, la.Label+": nothing changed", la.Refused)
		case err != nil:
			return err
		}
		a.wakeMailer()
		a.log.Info("training learner action", "by", trainer.UserID, "learner", u.UserID, "action", la.Key)
		return a.redirect(c, "/training/board?done="+la.Key+"&learner="+strconv.FormatUint(id, 10))
	}
}

// moveLearnerClock moves one learner's own clock on by d.
func (a *app) moveLearnerClock(d time.Duration) func(c *fiber.Ctx, u cqrs.User, event cqrs.AuditEvent) error {
	return func(c *fiber.Ctx, u cqrs.User, event cqrs.AuditEvent) error {
		_, err := a.training.MoveLearnerClock(c.UserContext(), u.ID, d, event)
		return err
	}
}

// lockLearner locks the learner's CQRS account, with its unlock email.
func (a *app) lockLearner(c *fiber.Ctx, u cqrs.User, event cqrs.AuditEvent) error {
	_, err := a.training.LockLearner(c.UserContext(), u.ID, a.cfg.LockAfter, a.cfg.ResetLinkTTL, a.lockedEmail(c.UserContext()), event)
	return err
}

// expireLearnerLink makes the learner's registration link expired.
func (a *app) expireLearnerLink(c *fiber.Ctx, u cqrs.User, event cqrs.AuditEvent) error {
	_, err := a.training.ExpireLearnerLink(c.UserContext(), u.ID, event)
	return err
}

// giveLearnerNoCQRS gives the learner an NHSmail account with no CQRS
// account behind it (step 5 of the user guide).
func (a *app) giveLearnerNoCQRS(c *fiber.Ctx, u cqrs.User, event cqrs.AuditEvent) error {
	l, err := a.training.GiveLearnerNoCQRS(c.UserContext(), u.ID, event)
	if err != nil {
		return err
	}
	// Their browser is still signed in to NHSmail as their own account,
	// which would sign them straight back in to CQRS at the next Sign In:
	// end it, so NHSmail asks who they are.
	return a.training.EndNHSmailSessions(c.UserContext(), l.NHSmailID)
}

// lockLearnerNHSmail locks the learner's NHSmail account.
func (a *app) lockLearnerNHSmail(c *fiber.Ctx, u cqrs.User, event cqrs.AuditEvent) error {
	_, err := a.training.LockLearnerNHSmail(c.UserContext(), u.ID, event)
	return err
}

// resetLearner puts the learner back at step 1 with a new registration email.
func (a *app) resetLearner(c *fiber.Ctx, u cqrs.User, event cqrs.AuditEvent) error {
	org, by, err := a.trainingOrg(c.UserContext())
	if err != nil {
		return err
	}
	token := secret.NewToken()
	email := a.registrationEmail(c.UserContext(), u, by, org, token, a.cfg.Now().Add(a.cfg.RegistrationLinkTTL))
	if _, err := a.training.ResetLearner(c.UserContext(), u.ID, secret.HashToken(token), a.cfg.RegistrationLinkTTL, email, event); err != nil {
		return err
	}
	a.progress.forget(u.UserID)
	return nil
}

// runsTheClass reports whether u is the trainer: a system administrator
// in training mode, who may open the class board.
func (a *app) runsTheClass(u cqrs.User) bool {
	return u.Role == cqrs.RoleSystemAdmin
}

// landing is where a sign-in goes: next, except that the trainer signing
// in with nowhere asked for lands on the class board, not their messages.
func (a *app) landing(u cqrs.User, next string) string {
	if next == "/messages" && a.runsTheClass(u) {
		return "/training/board"
	}
	return next
}

// stuckAfter is how long on one step makes a learner stand out.
const stuckAfter = 3 * time.Minute

// boardSteps are the columns of done / not done: every step of both
// documents, in the job aid's order.
func boardSteps() []views.BoardStep {
	var out []views.BoardStep
	group := ""
	for _, s := range jobAidSteps {
		if s.group != "" {
			group = s.group
		}
		short := "Job aid " + s.step.Number
		switch {
		case s.step.ID == "locked":
			short = "Locked out"
		case strings.HasPrefix(group, "CQRS single sign on"):
			short = "SSO " + s.step.Number
		}
		out = append(out, views.BoardStep{ID: s.step.ID, Short: short, Text: s.step.Text})
	}
	return out
}

// classBoard is the live part of the board, from the store (who the
// learners are, who has registered) and the progress seen so far.
func (a *app) classBoard(c *fiber.Ctx) error {
	p, err := a.signedInPage(c, "Class board")
	if err != nil {
		return err
	}
	b, rows, err := a.buildClassBoard(c.UserContext())
	if err != nil {
		return err
	}
	m := views.ClassBoardModel{Page: p, Board: b, JoinAddress: a.joinURL(), JoinCode: a.joinCode}
	if p.User != nil {
		m.TrainerID = p.User.UserID
	}
	if la, ok := learnerActionByKey(c.Query("done")); ok {
		m.Notice = la.Label + " done"
		for _, r := range rows {
			if r.AccountID == c.Query("learner") {
				m.Notice = la.Label + " done for " + r.UserID + ". " + la.Sees
			}
		}
	}
	if id := c.Query("learner"); id != "" {
		for i := range rows {
			if rows[i].AccountID == id {
				m.Selected = &rows[i]
			}
		}
		for _, la := range learnerActions {
			b := views.LearnerActionButton{Key: la.Key, Label: la.Label, Sees: la.Sees}
			switch {
			case !isMFAAction(la.Key):
				m.Actions = append(m.Actions, b)
			case a.mfaControls != nil:
				m.SecondStep = append(m.SecondStep, b)
			}
		}
	}
	return a.render(c, fiber.StatusOK, views.ClassBoardPage(m))
}

// classBoardRows is the live part alone, fetched twice a second by htmx.
func (a *app) classBoardRows(c *fiber.Ctx) error {
	b, _, err := a.buildClassBoard(c.UserContext())
	if err != nil {
		return err
	}
	return a.render(c, fiber.StatusOK, views.ClassBoardLive(b))
}

func (a *app) buildClassBoard(ctx context.Context) (views.ClassBoard, []views.BoardRow, error) {
	learners, err := a.training.Learners(ctx)
	if err != nil {
		return views.ClassBoard{}, nil, err
	}
	drills, err := a.boardMFADrills(ctx, learners)
	if err != nil {
		return views.ClassBoard{}, nil, err
	}
	// In the order they joined, as the trainer saw them arrive.
	slices.SortStableFunc(learners, func(x, y cqrs.Learner) int { return x.Created.Compare(y.Created) })
	progress, now := a.progress.snapshot()
	steps := boardSteps()
	b := views.ClassBoard{Steps: steps, Updated: now.Format("15:04:05")}
	var joined, registered, legacy, nhsmail int
	saw := map[string]int{}
	for _, l := range learners {
		u, err := a.training.User(ctx, l.AccountID)
		if errors.Is(err, cqrs.ErrNotFound) {
			continue
		} else if err != nil {
			return b, nil, err
		}
		lp, seen := progress[l.UserID]
		r := views.BoardRow{AccountID: strconv.FormatUint(u.ID, 10), UserID: u.UserID, Name: u.FullName(),
			LastError: lp.LastError, Step: "Not started", OwnClock: "with the class", MFAPending: drills[l.AccountID]}
		// A cohort account has joined once someone took it, used it or
		// registered with it; until then it waits on the sheet.
		if !l.Cohort || l.Claimed || seen || u.PasswordHash != "" {
			joined++
		} else {
			r.Step = "Not joined yet"
		}
		if u.ClockOffset > 0 {
			r.OwnClock = "+" + humanDuration(u.ClockOffset) + " on the class"
		}
		if len(lp.Steps) > 0 {
			var names []string
			for _, id := range lp.Steps {
				for _, s := range steps {
					if s.ID == id {
						names = append(names, s.Short)
					}
				}
			}
			r.Step = strings.Join(names, " · ")
			on := now.Sub(lp.Since)
			r.TimeOnStep = minutes(on)
			r.Stuck = on > stuckAfter && !lp.Reached["sso-3"]
		}
		if u.PasswordHash != "" {
			registered++
			// Registering completes the email and Security Information steps,
			// whether or not this run saw the pages.
			lp.Reached = withSteps(lp.Reached, "ja-1", "ja-2")
		}
		for _, s := range steps {
			done := lp.Reached[s.ID]
			if s.ID == mfaStep {
				// Done once the second step let them in, not on reaching it.
				done = lp.MFADone
			}
			r.Done = append(r.Done, done)
		}
		if lp.Legacy {
			legacy++
		}
		if lp.NHSmail {
			nhsmail++
		}
		for kind := range lp.Saw {
			saw[kind]++
		}
		b.Rows = append(b.Rows, r)
	}
	b.Summary = []views.BoardCount{
		{Label: "Joined", Count: joined, TestID: "joined"},
		{Label: "Registered", Count: registered, TestID: "registered"},
		{Label: "Signed in with User ID and password", Count: legacy, TestID: "legacy"},
		{Label: "Signed in with NHSmail", Count: nhsmail, TestID: "nhsmail"},
	}
	for i, kind := range boardErrors {
		b.Summary = append(b.Summary, views.BoardCount{Label: "Saw \"" + kind + "\"", Count: saw[kind], TestID: "error-" + strconv.Itoa(i)})
	}
	return b, b.Rows, nil
}

func withSteps(m map[string]bool, ids ...string) map[string]bool {
	out := make(map[string]bool, len(m)+len(ids))
	for k, v := range m {
		out[k] = v
	}
	for _, id := range ids {
		out[id] = true
	}
	return out
}

// minutes is a time on a step as the board shows it.
func minutes(d time.Duration) string {
	switch m := int(d / time.Minute); {
	case m < 1:
		return "under a minute"
	case m == 1:
		return "1 minute"
	default:
		return strconv.Itoa(m) + " minutes"
	}
}

// classBoardCSV downloads the board for the trainer's records; every
// typed value goes through csvCell, as the audit log's download does.
func (a *app) classBoardCSV(c *fiber.Ctx) error {
	b, _, err := a.buildClassBoard(c.UserContext())
	if err != nil {
		return err
	}
	c.Set(fiber.HeaderContentType, "text/csv; charset=utf-8")
	c.Set(fiber.HeaderContentDisposition, `attachment; filename="cqrs-class-board.csv"`)
	w := csv.NewWriter(c.Response().BodyWriter())
	head := []string{"learner", "name", "step now", "on it for", "stuck", "last error", "own clock"}
	for _, s := range b.Steps {
		head = append(head, s.Short)
	}
	w.Write(head)
	for _, r := range b.Rows {
		line := []string{a.csvCell(r.UserID), a.csvCell(r.Name), a.csvCell(r.Step), r.TimeOnStep, yesNo(r.Stuck), a.csvCell(r.LastError), r.OwnClock}
		for _, d := range r.Done {
			line = append(line, map[bool]string{true: "done", false: "not done"}[d])
		}
		w.Write(line)
	}
	w.Flush()
	return w.Error()
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}
