// Package training is training mode (--training): the training data set,
// learners with their own mailbox, the job aid beside every page, the
// class board and the trainer's controls. Package handlers registers its
// routes (routes.go) like every journey's and hands it, through Host, the
// few things it shares with the product: the layout, the session, the
// audit log and the emails. It imports nothing from handlers.
package training

import (
	"context"
	"log/slog"
	"time"

	"github.com/a-h/templ"
	"github.com/gofiber/fiber/v2"

	"github.com/cqrs-local/cqrs-signin/cqrs"
	"github.com/cqrs-local/cqrs-signin/secret"
	"github.com/cqrs-local/cqrs-signin/views"
)

// Clock is the training time the trainer moves forward, shared with the
// store.
type Clock interface {
	Now() time.Time
	Base() time.Time // the class clock without the trainer's offset
	Offset() time.Duration
	SetOffset(d time.Duration)
}

// Config is the part of the app's configuration training mode reads.
type Config struct {
	BaseURL          string
	NetworkAddresses []string
	// Secure marks cookies Secure (the site is served over HTTPS).
	Secure bool
	// Clock is the training clock shared with the store; required.
	Clock Clock
	// SnapshotDir is where snapshots are saved, shown to the trainer.
	SnapshotDir string
	// TrainerPassword is this run's trainer password; required.
	TrainerPassword     string
	LockAfter           int
	RegistrationLinkTTL time.Duration
	ResetLinkTTL        time.Duration
	// LearnerRateLimit bounds new learners per client address per minute.
	LearnerRateLimit int
	// TimeFormat is how the app shows dates and times.
	TimeFormat string
	// SecondFactorPath is the sign-in's second step, whose page the job
	// aid points at when a second factor is asked for.
	SecondFactorPath string

	// Now is the training clock's Now (set by initTraining).
	Now func() time.Time
}

// Host is what training mode uses of the app around it: the product's
// layout, session, audit log and emails, each the app's own function.
type Host struct {
	// SignedInPage is the layout's model with the header's account area.
	SignedInPage func(c *fiber.Ctx, title string) (views.Page, error)
	// Render writes a page with a status.
	Render func(c *fiber.Ctx, status int, comp templ.Component) error
	// Refuse is a refusal shown as the app's error page with status.
	Refuse func(status int, heading string, paragraphs ...string) error
	// Redirect answers a successful form (303, or HX-Redirect for htmx).
	Redirect func(c *fiber.Ctx, to string) error
	// CurrentUser is the signed-in user; CurrentSession their session's hash.
	CurrentUser    func(c *fiber.Ctx) (cqrs.User, bool)
	CurrentSession func(c *fiber.Ctx) []byte
	// SetTokenCookie hands the browser a secret token as an HttpOnly cookie.
	SetTokenCookie func(c *fiber.Ctx, name, path, token string, ttl time.Duration)
	// Event fills in the request's actor and address; Audit records one.
	Event func(c *fiber.Ctx, e cqrs.AuditEvent) cqrs.AuditEvent
	Audit func(c *fiber.Ctx, e cqrs.AuditEvent) error
	// RegistrationEmail and LockedEmail are the app's emails; LinkURL an
	// emailed link's address; WakeMailer starts delivery of queued email.
	RegistrationEmail func(ctx context.Context, to, by cqrs.User, org cqrs.Organisation, token string, expires time.Time) cqrs.Email
	LockedEmail       func(ctx context.Context) func(to cqrs.User, expires time.Time) (cqrs.Email, []byte)
	LinkURL           func(path, token string) string
	WakeMailer        func()
	// EmailRows and BodyParts show emails as the mailbox does.
	EmailRows func(emails []cqrs.Email) []views.EmailRow
	BodyParts func(text string) [][]views.BodyPart
	// ValidatePersonName checks a typed name; CSVCell defuses a CSV value.
	ValidatePersonName func(field, label, v string) []views.FieldError
	CSVCell            func(s string) string
	// AddressLimiter bounds requests per client address per minute.
	AddressLimiter func(max int, heading, text string) fiber.Handler
	// RequireSignedIn and RequireSystemAdmin guard the trainer's pages.
	RequireSignedIn    fiber.Handler
	RequireSystemAdmin fiber.Handler
	// The second factor's seeding (used only with Deps.Sealer): the
	// context a secret is sealed to, recovery codes' hashes, and a key
	// spaced for reading.
	SealContext       func(userID uint64) string
	HashRecoveryCodes func(codes []string) [][]byte
	GroupsOfFour      func(s string) string
}

// Deps are training mode's collaborators.
type Deps struct {
	Log    *slog.Logger
	Hasher *secret.Hasher
	// Store is the store's training side.
	Store TrainingStore
	// MFAControls are the embedded simulator's trainer controls of the
	// second step; nil without the embedded simulator.
	MFAControls NHSmailTrainerControls
	// Sealer seals the training authenticator's secret; nil while
	// --second-factor is off.
	Sealer *secret.Sealer
	Host   Host
}

// JobAidCookie remembers whether the job aid panel is open; the app
// counts it among its site-wide cookies.
const JobAidCookie = jobAidCookie

// app carries what training mode's handlers share.
type app struct {
	log    *slog.Logger
	cfg    Config
	host   Host
	hasher *secret.Hasher
	sealer *secret.Sealer
	// training is the store's training side.
	training TrainingStore
	// progress is where each learner is in the job aid, for the class board.
	progress *classProgress
	// joinCode is this run's class code, asked at the join page.
	joinCode string
	// mfaControls are the embedded simulator's trainer controls of the
	// second step; nil without the embedded simulator.
	mfaControls NHSmailTrainerControls
}

// Mode is training mode, switched on. A nil *Mode is the app outside
// training mode: its methods then answer as if training did not exist.
type Mode struct{ a *app }

// New switches training mode on (see initTraining).
func New(cfg Config, deps Deps) (*Mode, error) {
	a := &app{log: deps.Log, cfg: cfg, host: deps.Host, hasher: deps.Hasher, sealer: deps.Sealer, mfaControls: deps.MFAControls}
	if err := a.initTraining(deps.Store); err != nil {
		return nil, err
	}
	return &Mode{a: a}, nil
}

// Prepare is training mode's start-up reading and writing (see
// handlers' App.Prepare).
func (m *Mode) Prepare(ctx context.Context) error {
	if m == nil {
		return nil
	}
	return m.a.prepareTraining(ctx)
}

// Chrome is the banner and job aid for the page being rendered; nil
// outside training mode.
func (m *Mode) Chrome(c *fiber.Ctx, title string) *views.TrainingChrome {
	if m == nil {
		return nil
	}
	return m.a.trainingChrome(c, title)
}

// Scope refuses an administrator's change to u that training keeps off
// them (see trainingScope); nil outside training mode.
func (m *Mode) Scope(c *fiber.Ctx, admin, u cqrs.User) error {
	if m == nil {
		return nil
	}
	return m.a.trainingScope(c, admin, u)
}

// RunsTheClass reports whether u is the trainer, who may open the class board.
func (m *Mode) RunsTheClass(u cqrs.User) bool {
	return m != nil && m.a.runsTheClass(u)
}

// Landing is where a sign-in goes (see landing).
func (m *Mode) Landing(u cqrs.User, next string) string {
	if m == nil {
		return next
	}
	return m.a.landing(u, next)
}

// The app's own functions, by the names the handlers here call them.

func (a *app) signedInPage(c *fiber.Ctx, title string) (views.Page, error) {
	return a.host.SignedInPage(c, title)
}
func (a *app) render(c *fiber.Ctx, status int, comp templ.Component) error {
	return a.host.Render(c, status, comp)
}
func (a *app) refuse(status int, heading string, paragraphs ...string) error {
	return a.host.Refuse(status, heading, paragraphs...)
}
func (a *app) redirect(c *fiber.Ctx, to string) error                { return a.host.Redirect(c, to) }
func (a *app) currentUser(c *fiber.Ctx) (cqrs.User, bool)            { return a.host.CurrentUser(c) }
func (a *app) currentSession(c *fiber.Ctx) []byte                    { return a.host.CurrentSession(c) }
func (a *app) event(c *fiber.Ctx, e cqrs.AuditEvent) cqrs.AuditEvent { return a.host.Event(c, e) }
func (a *app) audit(c *fiber.Ctx, e cqrs.AuditEvent) error           { return a.host.Audit(c, e) }
func (a *app) setTokenCookie(c *fiber.Ctx, name, path, token string, ttl time.Duration) {
	a.host.SetTokenCookie(c, name, path, token, ttl)
}
func (a *app) registrationEmail(ctx context.Context, to, by cqrs.User, org cqrs.Organisation, token string, expires time.Time) cqrs.Email {
	return a.host.RegistrationEmail(ctx, to, by, org, token, expires)
}
func (a *app) lockedEmail(ctx context.Context) func(to cqrs.User, expires time.Time) (cqrs.Email, []byte) {
	return a.host.LockedEmail(ctx)
}
func (a *app) linkURL(path, token string) string              { return a.host.LinkURL(path, token) }
func (a *app) wakeMailer()                                    { a.host.WakeMailer() }
func (a *app) emailRows(emails []cqrs.Email) []views.EmailRow { return a.host.EmailRows(emails) }
func (a *app) bodyParts(text string) [][]views.BodyPart       { return a.host.BodyParts(text) }
func (a *app) validatePersonName(field, label, v string) []views.FieldError {
	return a.host.ValidatePersonName(field, label, v)
}
func (a *app) csvCell(s string) string                   { return a.host.CSVCell(s) }
func (a *app) sealContext(userID uint64) string          { return a.host.SealContext(userID) }
func (a *app) hashRecoveryCodes(codes []string) [][]byte { return a.host.HashRecoveryCodes(codes) }
