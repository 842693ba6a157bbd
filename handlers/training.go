package handlers

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"math/big"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/cqrs-local/cqrs-signin/cqrs"
	"github.com/cqrs-local/cqrs-signin/policy"
	"github.com/cqrs-local/cqrs-signin/secret"
	"github.com/cqrs-local/cqrs-signin/views"
)

// Training mode (--demo): the training data set, learners with their own
// mailbox, the job aid beside every page, and the trainer's controls.

// The training data set's credentials. The trainer is a system
// administrator, so their password is not one of these: main makes a new
// random one at every start (NewTrainerPassword) and prints it on the
// console only. The others are made up and shown on the training home
// page: this is a classroom system, and none of them can read another
// person's emailed links.
const (
	TrainerUserID = "trainer"
	// trainingPassword is every seeded CQRS account's password,
	// trainingNHSmailPassword every seeded NHSmail account's.
	trainingPassword        = "Practice!2026"
	trainingNHSmailPassword = "NHSmail!2026"

	trainingOrgName = "Riverside Practice (training)"
	trainingODS     = "TRN001"
	learnerDomain   = "nhs.net"
	cohortSize      = 30
	learnerCookie   = "cqrs_learner"
	learnerTTL      = 24 * time.Hour
	jobAidCookie    = "cqrs_jobaid"

	evTrainingReset    = "training-reset"
	evTrainingClock    = "training-clock"
	evTrainingLearner  = "training-learner"
	evTrainingCohort   = "training-cohort"
	evTrainingSnapshot = "training-snapshot"
	evTrainingRestore  = "training-restore"
	evTrainerPassword  = "training-trainer-password"
)

// NewTrainerPassword is a random password for the trainer that meets the
// CQRS password policy and can be typed from the console: "Kbrtmq-Wxzpdn-4821",
// about 67 bits.
func NewTrainerPassword() string {
	word := func() string {
		w := randomFrom("abcdefghjkmnpqrstuvwxyz", 6)
		return strings.ToUpper(w[:1]) + w[1:]
	}
	return word() + "-" + word() + "-" + randomFrom("0123456789", 4)
}

// TrainingStore is what training mode needs from the store.
type TrainingStore interface {
	HasUsers() (bool, error)
	Organisations() ([]cqrs.Organisation, error)
	UserByUserID(userID string) (cqrs.User, error)
	ListUsers(f cqrs.UserFilter) ([]cqrs.User, int, error)
	Emails(f cqrs.EmailFilter) ([]cqrs.Email, error)
	Email(id uint64) (cqrs.Email, error)
	AuditEvents(f cqrs.AuditFilter) ([]cqrs.AuditEvent, int, error)
	ResetTraining(set cqrs.TrainingSet, keep *cqrs.KeepSignedIn, event cqrs.AuditEvent) error
	CreateLearners(ls []cqrs.NewLearner, events ...cqrs.AuditEvent) ([]cqrs.Learner, error)
	LearnerByToken(hash []byte) (cqrs.Learner, error)
	Learners() ([]cqrs.Learner, error)
	ClockOffset() (time.Duration, error)
	MoveClock(d time.Duration, keep *cqrs.KeepSignedIn, event cqrs.AuditEvent) (time.Duration, error)
	SaveSnapshot(name string) error
	Snapshots() ([]cqrs.Snapshot, error)
	RestoreSnapshot(name string, keep *cqrs.KeepSignedIn, event cqrs.AuditEvent) (time.Duration, error)
	SetNHSmailPassword(id uint64, hash string) error
	SetTrainerPassword(userID, hash string, event cqrs.AuditEvent) error
	ClassroomStore
}

// initTraining switches training mode on: the training store, the shared
// clock at its stored offset, no SMTP, and the data
// set seeded when the database is empty.
func (a *app) initTraining(ts TrainingStore) error {
	if !a.cfg.Demo {
		return nil
	}
	if ts == nil {
		return errors.New("handlers: training mode needs Deps.Training, the store's training side")
	}
	if a.cfg.Clock == nil {
		return errors.New("handlers: training mode needs Config.Clock, the clock the store reads too")
	}
	if a.cfg.TrainerPassword == "" {
		return errors.New("handlers: training mode needs Config.TrainerPassword, the trainer's password for this run")
	}
	a.training = ts
	a.progress = newClassProgress(a.cfg.Clock.Base)
	a.joinCode = randomFrom(joinCodeLetters, joinCodeLength)
	a.cfg.Now = a.cfg.Clock.Now
	a.cfg.SMTPEnabled = false
	off, err := ts.ClockOffset()
	if err != nil {
		return err
	}
	a.cfg.Clock.SetOffset(off)
	hasUsers, err := a.training.HasUsers()
	if err != nil {
		return err
	}
	if !hasUsers {
		if err := a.resetTraining(context.Background(), nil, cqrs.AuditEvent{Type: evTrainingReset, Detail: "training data set seeded at first start"}); err != nil {
			return err
		}
		a.log.Info("training data set seeded", "trainer", TrainerUserID)
		return nil
	}
	// A reset wipes the data, so training mode refuses a database that is
	// not a training database (a site's real users, say).
	if _, _, err := a.trainingOrg(); err != nil {
		return fmt.Errorf("handlers: --demo needs a training database, and this one has users but no %s organisation: start training mode with another --data file", trainingODS)
	}
	return a.setTrainerPassword(context.Background(), "a new trainer password, printed on the console at start")
}

// setTrainerPassword gives the trainer this run's password: it is printed
// only on this run's console, so that is the one place to find it, after a
// restart as after restoring a snapshot saved in another run.
func (a *app) setTrainerPassword(ctx context.Context, why string) error {
	hash, err := a.hasher.Hash(ctx, a.cfg.TrainerPassword)
	if err != nil {
		return err
	}
	err = a.training.SetTrainerPassword(TrainerUserID, hash, cqrs.AuditEvent{Type: evTrainerPassword, Subject: TrainerUserID, Method: "training", Detail: why})
	if errors.Is(err, cqrs.ErrNotFound) {
		a.log.Warn("training: no trainer account to give this run's password", "trainer", TrainerUserID)
		return nil
	}
	return err
}

// The data set

// seededAccount is one account of the data set, with the case it shows.
type seededAccount struct {
	userID, first, last, email string
	role                       cqrs.Role
	state                      string // a store.State* value
	recentPassword             bool   // changed just now: the 72-hour rule refuses a change
	show                       string // the case, on the training home page
}

var seededAccounts = []seededAccount{
	{TrainerUserID, "Tara", "Trainer", "tara.trainer@nhs.net", cqrs.RoleSystemAdmin, cqrs.StateActive, false, "Trainer (system administrator)"},
	{"trn.useradmin", "Uma", "Admin", "uma.admin@nhs.net", cqrs.RoleUserAdmin, cqrs.StateActive, false, "User Administrator: sets up users"},
	{"trn.invited", "Ian", "Invited", "ian.invited@nhs.net", cqrs.RoleUser, cqrs.StateInvited, false, "Invited: registration email with a fresh link (open it from the mailbox as the trainer)"},
	{"trn.active", "Amy", "Active", "amy.active@nhs.net", cqrs.RoleUser, cqrs.StateActive, true, "Active; password changed just now, so changing it again waits 72 hours"},
	{"trn.locked", "Liam", "Locked", "liam.locked@nhs.net", cqrs.RoleUser, cqrs.StateLocked, false, "Locked after too many failed sign-ins"},
	{"trn.disabled", "Dee", "Disabled", "dee.disabled@nhs.net", cqrs.RoleUser, cqrs.StateDisabled, false, "Disabled by an administrator"},
	{"trn.consent", "Cara", "Consent", "cara.consent@nhs.net", cqrs.RoleUser, cqrs.StateActive, false, "Active; their NHSmail account asks for consent"},
}

// seededNHSmail are the NHSmail simulator's accounts, one per single
// sign-on case of the user guide.
var seededNHSmail = []struct {
	email, first, last string
	locked, consent    bool
	show               string
}{
	{"amy.active@nhs.net", "Amy", "Active", false, false, "Has a CQRS account (trn.active): signs in to the message centre"},
	{"noah.nocqrs@nhs.net", "Noah", "Nocqrs", false, false, "No CQRS account with this email: the help desk error page"},
	{"wendy.wrong@nhs.net", "Wendy", "Wrong", false, false, "Type any other password: \"Incorrect user ID or password\""},
	{"lara.locked@nhs.net", "Lara", "Locked", true, false, "NHSmail account locked"},
	{"cara.consent@nhs.net", "Cara", "Consent", false, true, "Asks for consent before signing in to CQRS (trn.consent)"},
	{"liam.locked@nhs.net", "Liam", "Locked", false, false, "NHSmail fine, but the CQRS account (trn.locked) is locked"},
}

// trainingSet prepares the data set: passwords hashed and link tokens made
// before the one transaction that writes it.
func (a *app) trainingSet(ctx context.Context) (cqrs.TrainingSet, error) {
	now := a.cfg.Now()
	set := cqrs.TrainingSet{Org: cqrs.Organisation{Name: trainingOrgName, ODSCode: trainingODS}}
	trainer := cqrs.User{FirstName: "Tara", LastName: "Trainer"}
	org := set.Org
	for _, sa := range seededAccounts {
		u := cqrs.User{UserID: sa.userID, FirstName: sa.first, LastName: sa.last, Email: sa.email, Role: sa.role, WorkPhone: "0113 496 0000"}
		tu := cqrs.TrainingUser{User: u}
		if sa.state == cqrs.StateInvited {
			token := secret.NewToken()
			tu.LinkHash, tu.LinkTTL = secret.HashToken(token), a.cfg.RegistrationLinkTTL
			e := a.registrationEmail(u, trainer, org, token, now.Add(a.cfg.RegistrationLinkTTL))
			tu.Email = &e
		} else {
			pw := trainingPassword
			if sa.userID == TrainerUserID {
				pw = a.cfg.TrainerPassword
			}
			hash, err := a.hasher.Hash(ctx, pw)
			if err != nil {
				return set, err
			}
			tu.User.PasswordHash, tu.User.Status = hash, cqrs.StatusActive
			tu.User.PasswordChanged = now.Add(-30 * 24 * time.Hour)
			if sa.recentPassword {
				tu.User.PasswordChanged = now
			}
			switch sa.state {
			case cqrs.StateLocked:
				tu.User.FailedSignIns, tu.User.LockedAt = max(a.cfg.LockAfter, 1), now
			case cqrs.StateDisabled:
				tu.User.Status = cqrs.StatusDisabled
			}
		}
		set.Users = append(set.Users, tu)
	}
	for _, n := range seededNHSmail {
		hash, err := a.hasher.Hash(ctx, trainingNHSmailPassword)
		if err != nil {
			return set, err
		}
		set.NHSmail = append(set.NHSmail, cqrs.NHSmailAccount{Email: n.email, FirstName: n.first, LastName: n.last,
			PasswordHash: hash, Locked: n.locked, ConsentRequired: n.consent})
	}
	return set, nil
}

// resetTraining puts the data set back with the clock at real time.
func (a *app) resetTraining(ctx context.Context, keep *cqrs.KeepSignedIn, event cqrs.AuditEvent) error {
	before := a.cfg.Clock.Offset()
	a.cfg.Clock.SetOffset(0) // the data set is made at real time
	set, err := a.trainingSet(ctx)
	if err == nil {
		err = a.training.ResetTraining(set, keep, event)
	}
	if err != nil {
		a.cfg.Clock.SetOffset(before)
		return err
	}
	return nil
}

// Learners

const learnerIDLetters = "abcdefghjkmnpqrstuvwxyz23456789"

func randomFrom(alphabet string, n int) string {
	var b strings.Builder
	for range n {
		i, err := rand.Int(rand.Reader, big.NewInt(int64(len(alphabet))))
		if err != nil {
			panic(fmt.Sprintf("training: crypto/rand failed: %v", err))
		}
		b.WriteByte(alphabet[i.Int64()])
	}
	return b.String()
}

// newNHSmailPassword is a password a learner can type from a sheet:
// "Kbrtmq-4821".
func newNHSmailPassword() string {
	w := randomFrom("abcdefghjkmnpqrstuvwxyz", 6)
	return strings.ToUpper(w[:1]) + w[1:] + "-" + randomFrom("0123456789", 4)
}

// preparedLearner is a learner before it is stored, with the secrets that
// are shown once and never kept in clear.
type preparedLearner struct {
	cqrs.NewLearner
	token, linkToken, nhsmailPassword string
}

func (a *app) prepareLearner(ctx context.Context, userID string, org cqrs.Organisation, by cqrs.User, cohort bool, name string) (preparedLearner, error) {
	email := userID + "@" + learnerDomain
	u := cqrs.User{UserID: userID, FirstName: "Learner", LastName: strings.TrimPrefix(strings.TrimPrefix(userID, "learner"), "-"),
		Email: email, OrgID: org.ID, Role: cqrs.RoleUser}
	if name != "" { // typed at the join page: "Priya Shah"
		first, last, _ := strings.Cut(name, " ")
		u.FirstName, u.LastName = first, strings.TrimSpace(last)
	}
	p := preparedLearner{token: secret.NewToken(), linkToken: secret.NewToken(), nhsmailPassword: newNHSmailPassword()}
	hash, err := a.hasher.Hash(ctx, p.nhsmailPassword)
	if err != nil {
		return p, err
	}
	e := a.registrationEmail(u, by, org, p.linkToken, a.cfg.Now().Add(a.cfg.RegistrationLinkTTL))
	p.NewLearner = cqrs.NewLearner{
		TokenHash: secret.HashToken(p.token),
		User:      cqrs.TrainingUser{User: u, LinkHash: secret.HashToken(p.linkToken), LinkTTL: a.cfg.RegistrationLinkTTL, Email: &e},
		NHSmail:   cqrs.NHSmailAccount{Email: email, FirstName: u.FirstName, LastName: u.LastName, PasswordHash: hash},
		Cohort:    cohort,
	}
	return p, nil
}

// trainingOrg is the training organisation and the administrator named in
// learners' registration emails.
func (a *app) trainingOrg() (cqrs.Organisation, cqrs.User, error) {
	orgs, err := a.training.Organisations()
	if err != nil {
		return cqrs.Organisation{}, cqrs.User{}, err
	}
	for _, o := range orgs {
		if strings.EqualFold(o.ODSCode, trainingODS) {
			by, err := a.training.UserByUserID(TrainerUserID)
			if err != nil {
				by = cqrs.User{FirstName: "Tara", LastName: "Trainer"}
			}
			return o, by, nil
		}
	}
	return cqrs.Organisation{}, cqrs.User{}, refuse(fiber.StatusConflict, "The training organisation is missing",
		"Ask the trainer to reset the training data.")
}

// currentLearner is the visitor's learner, from their learner cookie.
func (a *app) currentLearner(c *fiber.Ctx) (cqrs.Learner, bool) {
	token := c.Cookies(learnerCookie)
	if token == "" {
		return cqrs.Learner{}, false
	}
	l, err := a.training.LearnerByToken(secret.HashToken(token))
	return l, err == nil
}

func (a *app) setLearnerCookie(c *fiber.Ctx, token string) {
	a.setTokenCookie(c, learnerCookie, "/", token, learnerTTL)
}

// trainingHome is where the class starts.
func (a *app) trainingHome(c *fiber.Ctx) error {
	return a.renderTrainingHome(c, "", "")
}

// trainingHomeModel is the training home page without the learner's card:
// the trainer's sign-in and the class's accounts, with the case each shows.
func (a *app) trainingHomeModel(c *fiber.Ctx, notice string) (views.TrainingHomeModel, error) {
	p, err := a.signedInPage(c, "CQRS training")
	if err != nil {
		return views.TrainingHomeModel{}, err
	}
	m := views.TrainingHomeModel{Page: p, TrainerUserID: TrainerUserID, Notice: notice}
	for _, sa := range seededAccounts {
		pw := trainingPassword
		switch {
		case sa.userID == TrainerUserID:
			continue
		case sa.state == cqrs.StateInvited:
			pw = "(chosen at registration)"
		}
		m.Accounts = append(m.Accounts, views.TrainingAccount{Case: sa.show, SignIn: sa.userID, Password: pw})
	}
	for _, n := range seededNHSmail {
		m.NHSmail = append(m.NHSmail, views.TrainingAccount{Case: n.show, SignIn: n.email, Password: trainingNHSmailPassword})
	}
	m.NHSmail = append(m.NHSmail, views.TrainingAccount{Case: "No NHSmail account: sign-in fails, and the user must request one through the usual NHS process", SignIn: "no.account@nhs.net", Password: "(anything)"})
	return m, nil
}

func (a *app) renderTrainingHome(c *fiber.Ctx, nhsmailPassword, notice string) error {
	m, err := a.trainingHomeModel(c, notice)
	if err != nil {
		return err
	}
	if l, ok := a.currentLearner(c); ok {
		emails, err := a.training.Emails(cqrs.EmailFilter{UserID: l.AccountID, Limit: 50})
		if err != nil {
			return err
		}
		m.Learner = &views.LearnerCard{UserID: l.UserID, NHSmailEmail: l.NHSmailEmail, NHSmailPassword: nhsmailPassword, Emails: len(emails)}
		if l.NoCQRSActive {
			m.Learner.NoCQRSEmail = cqrs.NoCQRSEmail(l)
		}
	}
	return render(c, fiber.StatusOK, views.TrainingHomePage(m))
}

// startLearner makes the visitor a learner of their own: a CQRS
// invitation with its email, a matching NHSmail account whose password is
// shown in this answer only, and the learner cookie.
func (a *app) startLearner(c *fiber.Ctx) error {
	if _, ok := a.currentLearner(c); ok {
		return redirect(c, "/training")
	}
	p, err := a.createLearner(c, "")
	if err != nil {
		return err
	}
	// The page is the POST's answer, not a redirect: the NHSmail password
	// is in it once and nowhere else.
	return a.renderTrainingHomeFor(c, p)
}

// createLearner makes a new learner named name ("" for "Learner xxxx")
// and sets the visitor's learner cookie to it.
func (a *app) createLearner(c *fiber.Ctx, name string) (preparedLearner, error) {
	org, by, err := a.trainingOrg()
	if err != nil {
		return preparedLearner{}, err
	}
	var p preparedLearner
	for attempt := 0; ; attempt++ {
		p, err = a.prepareLearner(c.Context(), "learner-"+randomFrom(learnerIDLetters, 4), org, by, false, name)
		if err != nil {
			return p, err
		}
		uid := p.User.User.UserID
		_, err = a.training.CreateLearners([]cqrs.NewLearner{p.NewLearner},
			a.event(c, cqrs.AuditEvent{Type: evTrainingLearner, Subject: uid, OrgID: org.ID, Method: "training", Detail: "learner started"}),
			a.event(c, cqrs.AuditEvent{Type: evLinkSent, Subject: uid, OrgID: org.ID, Method: "registration"}))
		if !errors.Is(err, cqrs.ErrConflict) || attempt == 5 {
			break
		}
	}
	if err != nil {
		return p, err
	}
	a.wakeMailer()
	a.setLearnerCookie(c, p.token)
	return p, nil
}

// renderTrainingHomeFor shows the just-made learner (its cookie is set on
// this answer, so it is not read from the request).
func (a *app) renderTrainingHomeFor(c *fiber.Ctx, p preparedLearner) error {
	m, err := a.trainingHomeModel(c, "You are now a learner. Your registration email is in your mailbox.")
	if err != nil {
		return err
	}
	m.Learner = &views.LearnerCard{UserID: p.User.User.UserID, NHSmailEmail: p.NHSmail.Email, NHSmailPassword: p.nhsmailPassword, Emails: 1}
	return render(c, fiber.StatusOK, views.TrainingHomePage(m))
}

// joinLearner takes a learner code from the cohort sheet into the cookie.
func (a *app) joinLearner(c *fiber.Ctx) error {
	code := c.Query("code")
	if code == "" || len(code) > 100 {
		return fiber.ErrNotFound
	}
	if _, err := a.training.LearnerByToken(secret.HashToken(code)); err != nil {
		return refuse(fiber.StatusNotFound, "This learner code cannot be used", "Check the address on your sheet, or start as a new learner.")
	}
	a.setLearnerCookie(c, code)
	c.Set("Referrer-Policy", "no-referrer")
	return c.Redirect("/training/mailbox", fiber.StatusSeeOther)
}

// reissueNHSmailPassword gives the learner a new NHSmail password, shown
// once; only its hash is stored.
func (a *app) reissueNHSmailPassword(c *fiber.Ctx) error {
	l, ok := a.currentLearner(c)
	if !ok {
		return redirect(c, "/training")
	}
	pw := newNHSmailPassword()
	hash, err := a.hasher.Hash(c.Context(), pw)
	if err != nil {
		return err
	}
	if err := a.training.SetNHSmailPassword(l.NHSmailID, hash); err != nil {
		return err
	}
	if err := a.audit(c, cqrs.AuditEvent{Type: evTrainingLearner, Subject: l.UserID, Method: "training", Detail: "NHSmail password re-issued"}); err != nil {
		return err
	}
	return a.renderTrainingHome(c, pw, "Your new NHSmail password is below. The old one no longer works.")
}

// learnerMailbox shows the learner's own emails and nobody else's.
func (a *app) learnerMailbox(c *fiber.Ctx) error {
	l, ok := a.currentLearner(c)
	if !ok {
		return c.Redirect("/training", fiber.StatusSeeOther)
	}
	emails, err := a.training.Emails(cqrs.EmailFilter{UserID: l.AccountID, Limit: 50})
	if err != nil {
		return err
	}
	p, err := a.signedInPage(c, "Your mailbox")
	if err != nil {
		return err
	}
	return render(c, fiber.StatusOK, views.LearnerMailboxPage(views.LearnerMailboxModel{Page: p, UserID: l.UserID, Emails: emailRows(emails)}))
}

func (a *app) learnerEmail(c *fiber.Ctx) error {
	l, ok := a.currentLearner(c)
	if !ok {
		return c.Redirect("/training", fiber.StatusSeeOther)
	}
	id, err := strconv.ParseUint(c.Params("id"), 10, 64)
	if err != nil {
		return fiber.ErrNotFound
	}
	e, err := a.training.Email(id)
	if errors.Is(err, cqrs.ErrNotFound) || (err == nil && e.UserID != l.AccountID) {
		return refuse(fiber.StatusNotFound, "Email not found")
	} else if err != nil {
		return err
	}
	p, err := a.signedInPage(c, e.Subject)
	if err != nil {
		return err
	}
	return render(c, fiber.StatusOK, views.LearnerEmailPage(views.LearnerEmailModel{Page: p, Email: emailRows([]cqrs.Email{e})[0], Body: a.bodyParts(e.Text)}))
}

// The job aid

// jobAidSteps are both documents' steps in their words, in screen order.
var jobAidSteps = []struct {
	group string
	step  views.JobAidStep
}{
	{"Completing your user registration and signing in to CQRS (job aid)", views.JobAidStep{ID: "ja-1", Number: "1", Text: "You will receive an email with a link. Please click on this link."}},
	{"", views.JobAidStep{ID: "ja-2", Number: "2", Text: "You will be taken to the Security Information screen. Please ensure you read the Password Policy. Create a password and confirm it."}},
	{"", views.JobAidStep{ID: "ja-3", Number: "3", Text: "Go to the CQRS Login page. If you have an NHS email address which ends in nhs.net you can use the Sign In option. Alternatively, log in with your User ID and password as normal."}},
	{"", views.JobAidStep{ID: "ja-4", Number: "4", Text: "On the NHSmail login page, enter your email address and password, then click the Sign in button. This is also referred to as Single sign-on (SSO)."}},
	{"CQRS single sign on user guide", views.JobAidStep{ID: "sso-1", Number: "1", Text: "Click on the \"Sign In\" button to start the NHSmail sign in process to CQRS."}},
	{"", views.JobAidStep{ID: "sso-2", Number: "2", Text: "You will be redirected to the NHSmail login page: enter your NHSmail email address and password and click the \"Sign in\" button."}},
	{"", views.JobAidStep{ID: "sso-3", Number: "3", Text: "If you have a CQRS account, you will be presented with your CQRS message centre and can use CQRS as normal."}},
	{"", views.JobAidStep{ID: "sso-4", Number: "4", Text: "If you do not have an NHSmail account, the sign in to NHSmail will fail (\"Incorrect user ID or password. Type the correct user ID and password, and try again.\"): request an NHSmail account through the usual NHS process."}},
	{"", views.JobAidStep{ID: "sso-5", Number: "5", Text: "If you sign in to NHSmail but do not have a CQRS account with that email address, you will see an error message with the CQRS help desk contact details."}},
	{"When you are locked out", views.JobAidStep{ID: "locked", Number: "!", Text: "Too many failed sign-ins lock your account: unlock it with Unlock Account or Forgotten Password, or ask your CQRS User Administrator."}},
}

// jobAidPages maps what is on screen to the steps it shows: the request
// path (a prefix when it ends in "/"), and where one path shows several
// pages, the page title. The first match wins.
var jobAidPages = []struct {
	path, title string
	steps       []string
}{
	{"/training/mailbox", "", []string{"ja-1"}},
	{"/training/mailbox/", "", []string{"ja-1"}},
	{"/register", "", []string{"ja-2"}},
	{"/register/complete", "", []string{"ja-3"}}, // it leads to the Login page
	{"/register/", "", []string{"ja-2"}},
	{"/login", "", []string{"ja-3", "sso-1"}},
	{"/sso/callback", "No CQRS account", []string{"sso-5"}},
	{"/sso/callback", "Your account is locked", []string{"locked"}},
	{"/sso/", "", []string{"ja-4", "sso-2"}},
	{"/messages", "", []string{"sso-3"}},
	{"/messages/", "", []string{"sso-3"}},
	{"/forgotten", "", []string{"locked"}},
	{"/reset", "", []string{"locked"}},
	{"/reset/", "", []string{"locked"}},
}

// jobAidCurrent is the steps the page at path with title shows.
func jobAidCurrent(path, title string) []string {
	for _, p := range jobAidPages {
		matches := path == p.path || (strings.HasSuffix(p.path, "/") && strings.HasPrefix(path, p.path))
		if matches && (p.title == "" || p.title == title) {
			return p.steps
		}
	}
	return nil
}

// trainingChrome is the banner and job aid for the page being rendered;
// nil outside training mode.
func (a *app) trainingChrome(c *fiber.Ctx, title string) *views.TrainingChrome {
	if !a.cfg.Demo {
		return nil
	}
	t := &views.TrainingChrome{PanelOpen: c.Cookies(jobAidCookie) != "closed", Return: c.Path()}
	if c.Method() == fiber.MethodGet {
		t.Return = string(c.Request().URI().RequestURI())
	}
	current := map[string]bool{}
	steps := jobAidCurrent(c.Path(), title)
	a.noteLearnerPage(c, steps, title)
	for _, id := range steps {
		current[id] = true
	}
	for _, s := range jobAidSteps {
		if s.group != "" || len(t.Groups) == 0 {
			t.Groups = append(t.Groups, views.JobAidGroup{Title: s.group})
		}
		step := s.step
		step.Current = current[step.ID]
		g := &t.Groups[len(t.Groups)-1]
		g.Steps = append(g.Steps, step)
	}
	return t
}

// toggleJobAid shows or hides the job aid panel and remembers the choice.
func (a *app) toggleJobAid(c *fiber.Ctx) error {
	show := "open"
	if c.FormValue("show") == "closed" {
		show = "closed"
	}
	c.Cookie(&fiber.Cookie{Name: jobAidCookie, Value: show, Path: "/", HTTPOnly: true, Secure: a.cfg.Secure,
		SameSite: fiber.CookieSameSiteLaxMode, Expires: time.Now().Add(365 * 24 * time.Hour)})
	return redirect(c, localPath(c.FormValue("next")))
}

// localPath keeps a return address on this site (unlike safeNext it allows
// the login page).
func localPath(next string) string {
	u, err := url.Parse(next)
	if next == "" || err != nil || !strings.HasPrefix(next, "/") || strings.HasPrefix(next, "//") ||
		strings.ContainsAny(next, "\\\r\n\t") || u.Scheme != "" || u.Host != "" {
		return "/training"
	}
	return next
}

// Trainer controls

var trainerNotices = map[string]string{
	"reset":    "The training data has been reset. Learners have been removed and the clock is back to real time.",
	"clock":    "The training clock has moved forward.",
	"saved":    "The snapshot has been saved.",
	"restored": "The snapshot has been restored. Everyone else has been signed out.",
}

// explainWhy says, for the trainer, why each kind of event happens.
var explainWhy = map[string]string{
	evSignIn:          "Signed in. For NHSmail, the detail says which claim matched the CQRS account.",
	evSignInFailed:    "Wrong User ID or password, or the account is not active. The learner saw the same message either way, so no answer tells which User IDs exist.",
	"lockout":         "This failure reached the limit of failed sign-ins in a row, so the account is now locked and its owner was emailed an unlock link.",
	evSignInLocked:    "An attempt on a locked account, right password or wrong: the learner saw the usual failure (so the page confirms no password); the owner was emailed an unlock link when the account locked. NHSmail sign-ins to a locked account are told it is locked, since NHSmail has proved who they are.",
	evSignOut:         "Signed out; the session was ended on the server.",
	evUnlock:          "The account was unlocked and its failure count cleared.",
	evPasswordSet:     "Registration completed: the password met every rule of the policy.",
	evPasswordChanged: "The password was changed: it met every rule, including the 72 hours since the last change.",
	evPasswordReset:   "The password was reset through an emailed link (allowed at any time; the 72 hours start again).",
	evLinkSent:        "An email with a single-use link was queued.",
	evLinkUsed:        "An emailed link was used; it can never be used again.",
	evLinkRefused:     "An emailed link could not be used: the detail says whether it had expired or was already used.",
	evSSORefused:      "NHSmail sign-in could not be completed: the detail says why (no CQRS account with that email, account not active, or a protocol check failed).",
	evResetRequested:  "Someone asked for an unlock / forgotten-password email.",
	evTrainingReset:   "The trainer reset the training data.",
	evTrainingClock:   "The trainer moved the training clock.",
	evTrainingLearner: "A learner was started, or re-issued their NHSmail password.",
	evTrainingCohort:  "The trainer created the cohort.",
	evTrainingRestore: "The trainer restored a snapshot.",
	evUserDisabled:    "An administrator disabled the account: it cannot sign in and its sessions ended.",
}

func (a *app) keepTrainer(c *fiber.Ctx) *cqrs.KeepSignedIn {
	u, _ := currentUser(c)
	return &cqrs.KeepSignedIn{SessionHash: currentSession(c), UserID: u.UserID}
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
	m := views.TrainerModel{Page: p, Errors: errs, Notice: notice, Now: now.Format(timeFormat), SnapshotDir: a.cfg.SnapshotDir}
	if off := a.cfg.Clock.Offset(); off > 0 {
		m.Offset = "moved forward " + humanDuration(off)
	} else {
		m.Offset = "real time"
	}
	events, _, err := a.training.AuditEvents(cqrs.AuditFilter{Limit: 25})
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
	learners, err := a.training.Learners()
	if err != nil {
		return err
	}
	m.Learners = len(learners)
	isLearner := map[uint64]bool{}
	for _, l := range learners {
		isLearner[l.AccountID] = true
	}
	users, _, err := a.training.ListUsers(cqrs.UserFilter{Limit: 200})
	if err != nil {
		return err
	}
	for _, u := range users {
		m.Accounts = append(m.Accounts, a.explainAccount(u, now, isLearner[u.ID]))
	}
	snaps, err := a.training.Snapshots()
	if err != nil {
		return err
	}
	for _, s := range snaps {
		m.Snapshots = append(m.Snapshots, views.Option{Value: s.Name, Label: s.Name + " (saved " + s.Saved.Format(timeFormat) + ")"})
	}
	return render(c, status, views.TrainerPage(m))
}

// explainAccount is one account's sign-in state in words.
func (a *app) explainAccount(u cqrs.User, now time.Time, learner bool) views.ExplainAccount {
	now = u.Clock(now) // a learner's own clock, when the trainer has moved it
	x := views.ExplainAccount{UserID: u.UserID, State: u.State(), Learner: learner,
		Failures: fmt.Sprintf("%d of %d", u.FailedSignIns, a.cfg.LockAfter), Lock: "not locked"}
	if !u.LockedAt.IsZero() {
		x.Lock = "locked since " + u.LockedAt.Format(timeFormat) + "; stays locked until unlocked (emailed link or administrator)"
	}
	switch u.Invitation(now) {
	case cqrs.InvitePending:
		x.Link = "works until " + u.InviteExpires.Format(timeFormat)
	case cqrs.InviteExpired:
		x.Link = "expired on " + u.InviteExpires.Format(timeFormat)
	case cqrs.InviteRevoked:
		x.Link = "revoked"
	default:
		x.Link = "used (registered)"
	}
	if u.PasswordHash == "" {
		x.PasswordChange = "no password yet"
	} else if at := policy.ChangeAllowedAt(u.PasswordChanged); at.After(now) {
		x.PasswordChange = "refused until " + at.Format(timeFormat) + " (72-hour rule)"
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
	u, _ := currentUser(c)
	event := cqrs.AuditEvent{Type: evTrainingReset, Actor: u.UserID, IP: c.IP(), Method: "training", Detail: "training data reset; learners removed"}
	if err := a.resetTraining(c.Context(), a.keepTrainer(c), event); err != nil {
		return err
	}
	a.progress.clear()
	a.wakeMailer()
	a.log.Info("training data reset", "by", u.UserID)
	return redirect(c, "/training/trainer?notice=reset")
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
		return refuse(fiber.StatusBadRequest, "The clock cannot move by that", "Use the +72 hours or +14 days button.")
	}
	u, _ := currentUser(c)
	event := cqrs.AuditEvent{Type: evTrainingClock, Actor: u.UserID, IP: c.IP(), Method: "training",
		Detail: "training clock moved forward " + humanDuration(by) + "; training time now " + a.cfg.Now().Add(by).Format(timeFormat)}
	off, err := a.training.MoveClock(by, a.keepTrainer(c), event)
	if err != nil {
		return err
	}
	a.cfg.Clock.SetOffset(off)
	a.log.Info("training clock moved", "by", u.UserID, "offset", off)
	return redirect(c, "/training/trainer?notice=clock")
}

// trainerCohort creates learner01-learner30 and answers with their sheet,
// the only place their NHSmail passwords ever appear.
func (a *app) trainerCohort(c *fiber.Ctx) error {
	org, by, err := a.trainingOrg()
	if err != nil {
		return err
	}
	prepared := make([]preparedLearner, 0, cohortSize)
	batch := make([]cqrs.NewLearner, 0, cohortSize)
	for i := 1; i <= cohortSize; i++ {
		p, err := a.prepareLearner(c.Context(), fmt.Sprintf("learner%02d", i), org, by, true, "")
		if err != nil {
			return err
		}
		prepared = append(prepared, p)
		batch = append(batch, p.NewLearner)
	}
	created := a.event(c, cqrs.AuditEvent{Type: evTrainingCohort, OrgID: org.ID, Method: "training", Detail: fmt.Sprintf("learner01 to learner%02d created", cohortSize)})
	if _, err := a.training.CreateLearners(batch, created); errors.Is(err, cqrs.ErrConflict) {
		return refuse(fiber.StatusConflict, "A cohort already exists",
			"learner01 to learner30 have been created already. Reset the training data to make a new cohort.")
	} else if err != nil {
		return err
	}
	a.wakeMailer()
	p, err := a.signedInPage(c, "Cohort sheet")
	if err != nil {
		return err
	}
	m := views.CohortSheetModel{Page: p, Created: a.cfg.Now().Format(timeFormat)}
	base := strings.TrimRight(a.cfg.BaseURL, "/")
	for _, pl := range prepared {
		m.Rows = append(m.Rows, views.CohortRow{UserID: pl.User.User.UserID, RegistrationURL: a.linkURL("/register", pl.linkToken),
			NHSmailEmail: pl.NHSmail.Email, NHSmailPassword: pl.nhsmailPassword, JoinURL: base + "/training/join?code=" + pl.token})
	}
	return render(c, fiber.StatusOK, views.CohortSheetPage(m))
}

func (a *app) trainerSaveSnapshot(c *fiber.Ctx) error {
	name := trimSpace(c.FormValue("name"))
	err := a.training.SaveSnapshot(name)
	if errors.Is(err, cqrs.ErrSnapshotName) {
		return a.renderTrainer(c, fiber.StatusUnprocessableEntity, views.Errors{{Field: "name",
			Message: "Enter a snapshot name of up to 40 letters, digits, spaces, hyphens or underscores."}}, "")
	} else if err != nil {
		return err
	}
	if err := a.audit(c, cqrs.AuditEvent{Type: evTrainingSnapshot, Method: "training", Detail: "snapshot saved: " + name}); err != nil {
		return err
	}
	return redirect(c, "/training/trainer?notice=saved")
}

func (a *app) trainerRestoreSnapshot(c *fiber.Ctx) error {
	name := c.FormValue("name")
	u, _ := currentUser(c)
	event := cqrs.AuditEvent{Type: evTrainingRestore, Actor: u.UserID, IP: c.IP(), Method: "training", Detail: "snapshot restored: " + name}
	off, err := a.training.RestoreSnapshot(name, a.keepTrainer(c), event)
	switch {
	case errors.Is(err, cqrs.ErrSnapshotName), errors.Is(err, cqrs.ErrNotFound):
		return refuse(fiber.StatusNotFound, "Snapshot not found", "Choose one of the saved snapshots.")
	case err != nil:
		return err
	}
	a.cfg.Clock.SetOffset(off)
	a.progress.clear()
	if err := a.setTrainerPassword(c.Context(), "the trainer password printed at start, kept across a snapshot restore"); err != nil {
		return err
	}
	a.log.Info("training snapshot restored", "by", u.UserID, "name", name)
	return redirect(c, "/training/trainer?notice=restored")
}
