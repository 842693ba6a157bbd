// Package handlers is the web application: Fiber routes grouped by journey.
// Handlers parse the request, call the store and the policy, and render a
// templ view.
package handlers

import (
	"context"
	"errors"
	"log/slog"
	"net/netip"
	"sync"
	"time"

	"github.com/a-h/templ"
	"github.com/gofiber/fiber/v2"

	"github.com/cqrs-local/cqrs-signin/cqrs"
	"github.com/cqrs-local/cqrs-signin/policy"
	"github.com/cqrs-local/cqrs-signin/secret"
	"github.com/cqrs-local/cqrs-signin/training"
	"github.com/cqrs-local/cqrs-signin/views"
)

// Config is everything about the app that a flag or the environment sets.
type Config struct {
	Version string
	// Hosts are the host names (no port) the app answers to; any other Host
	// header is refused before routing, against DNS rebinding.
	Hosts []string
	// Secure is true when served over TLS: cookies get Secure and origins https.
	Secure bool
	// HSTS sends Strict-Transport-Security to requests for a host name
	// (not an IP address, not localhost): set with a site's own
	// certificate (--tls-cert), never the self-made one, which browsers
	// only accept by exception.
	HSTS bool
	// InsecureLAN: plain HTTP on a network address; every page warns.
	InsecureLAN bool
	// BaseURL is the address links in emails point to.
	BaseURL string
	// NetworkAddresses are this computer's network addresses, which the
	// join screen offers when the app listens on this computer only.
	NetworkAddresses []string
	// PublicOrigin, when set (--public-url), is the origin people use,
	// through a load balancer: the only Origin a form may come from.
	PublicOrigin string
	// TrustedProxies are the load balancers whose forwarding headers
	// (X-Forwarded-For, Forwarded) name the person's address; from any
	// other sender those headers are ignored.
	TrustedProxies []netip.Prefix
	// RegistrationLinkTTL is how long a registration email's link works;
	// ResetLinkTTL an unlock / forgotten-password link.
	RegistrationLinkTTL time.Duration
	ResetLinkTTL        time.Duration
	// EmailDomains, when set, are the only domains user emails may have
	// (CQRS itself takes nhs.net and nhs.uk).
	EmailDomains []string
	// SMTPEnabled says emails leave by SMTP; otherwise the local mailbox is
	// where they are delivered.
	SMTPEnabled bool
	// BodyLimit caps request bodies in bytes.
	BodyLimit    int
	ReadTimeout  time.Duration
	WriteTimeout time.Duration
	IdleTimeout  time.Duration
	// RequestTimeout ends a request's work, its database queries with it,
	// when its answer is this late; zero: WriteTimeout, after which the
	// answer could not be written anyway.
	RequestTimeout time.Duration
	// SessionIdle and SessionAbsolute end a session after inactivity and
	// after its age, whatever the activity.
	SessionIdle     time.Duration
	SessionAbsolute time.Duration
	// SignInRateLimit is the sign-in attempts allowed per client address
	// per minute (0 turns the limit off, for load tests).
	SignInRateLimit int
	// SignInQueueWait is how long a legacy sign-in waits for the earlier
	// attempts on the same account before answering "busy, try again".
	SignInQueueWait time.Duration
	// LockAfter consecutive failed legacy sign-ins lock the account.
	LockAfter int
	// ResetRequestsPerHour bounds unlock / forgotten-password emails per
	// account; ResetRateLimit requests per client address per minute.
	ResetRequestsPerHour int
	ResetRateLimit       int
	// LearnerRateLimit bounds "Start as a new learner" per client address
	// per minute (training mode).
	LearnerRateLimit int
	// SSO is NHSmail single sign-on (any OpenID provider).
	SSO SSOConfig
	// HelpDesk is the Help panel and the error pages' contact details
	// until the system administrator sets the site's own (see helpdesk.go).
	HelpDesk views.HelpDesk
	// InstanceToken authorises the backup subcommand to fetch a hot backup
	// from this running instance (it is in the instance file, which only
	// this user can read). Empty: no such endpoint.
	InstanceToken string
	// Now is the clock; tests move it.
	Now func() time.Time
	// Training is training mode (--training, or its first name --demo): the training data set, learners,
	// the job aid panel and the trainer's controls.
	Training bool
	// Clock is the training clock shared with the store (its Now is the
	// store's Now); training mode needs it, and sets Now to it.
	Clock TrainingClock
	// SnapshotDir is where training snapshots are saved, shown to the
	// trainer; empty when the engine keeps them elsewhere.
	SnapshotDir string
	// PasswordPolicy is the policy new passwords must meet
	// (--password-policy); the zero value is the CQRS policy.
	PasswordPolicy policy.Policy
	// TrainerPassword is the trainer's password for this run (training
	// mode needs it): main makes a random one at each start and prints it
	// on the console, the only place it is shown.
	TrainerPassword string
	// SecondFactor is who gives a second factor after the password at a
	// legacy sign-in (--second-factor); empty or off: nobody, as the
	// documents show it.
	SecondFactor cqrs.SecondFactorPolicy
	// SecondFactorKey seals the authenticator secrets at rest (main keeps
	// it in a file beside the data, never in the database); needed unless
	// SecondFactor is off.
	SecondFactorKey []byte
	// AuthenticatorNow is the clock codes are checked against: the real
	// one even in training mode, since people's phones keep real time.
	AuthenticatorNow func() time.Time
}

// TrainingClock is the training time the trainer moves forward, shared
// with the store.
type TrainingClock = training.Clock

// DefaultConfig has the documents' defaults.
func DefaultConfig() Config {
	return Config{
		Version:              "dev",
		Hosts:                []string{"localhost", "127.0.0.1", "::1"},
		BaseURL:              "http://127.0.0.1:8420",
		RegistrationLinkTTL:  14 * 24 * time.Hour,
		ResetLinkTTL:         time.Hour,
		BodyLimit:            64 * 1024,
		ReadTimeout:          10 * time.Second,
		WriteTimeout:         30 * time.Second,
		IdleTimeout:          60 * time.Second,
		SessionIdle:          30 * time.Minute,
		SessionAbsolute:      12 * time.Hour,
		SignInRateLimit:      30,
		SignInQueueWait:      defaultSignInQueueWait,
		LockAfter:            5,
		ResetRequestsPerHour: 3,
		ResetRateLimit:       10,
		LearnerRateLimit:     10,
		HelpDesk:             DefaultHelpDesk(),
		Now:                  time.Now,
	}
}

// DefaultHelpDesk is the CQRS help desk as the single sign-on user guide gives it.
func DefaultHelpDesk() views.HelpDesk {
	return views.HelpDesk{
		Email:            cqrs.NationalHelpDesk.Email,
		Phone:            cqrs.NationalHelpDesk.Phone,
		Hours:            cqrs.NationalHelpDesk.Hours,
		ContactURL:       "/help",
		GPCollectionsURL: "https://digital.nhs.uk/services/general-practice-gp-collections",
	}
}

// InstanceStore keeps this installation's own secrets, made at first open.
type InstanceStore interface {
	CSRFKey(ctx context.Context) ([]byte, error)
	InstanceID(ctx context.Context) (string, error)
}

// Instance is this installation's own secrets, read from its store by
// LoadInstance before New, which reads nothing.
type Instance struct {
	// CSRFKey signs the forms' CSRF tokens.
	CSRFKey []byte
	// ID names this installation's cookies (see namespaceCookies).
	ID string
}

// LoadInstance reads the installation's secrets from its store.
func LoadInstance(ctx context.Context, st InstanceStore) (Instance, error) {
	key, err := st.CSRFKey(ctx)
	if err != nil {
		return Instance{}, err
	}
	id, err := st.InstanceID(ctx)
	if err != nil {
		return Instance{}, err
	}
	return Instance{CSRFKey: key, ID: id}, nil
}

// Stores are the app's persistence: one small interface per journey, each
// declared beside its handlers. Every engine satisfies all of them; main
// passes the same one to each, and a test can swap one journey's.
type Stores struct {
	Setup         SetupStore
	Links         LinkStore
	SignIn        SignInStore
	Sessions      SessionStore
	Accounts      AccountStore
	Messages      MessageStore
	UserAdmin     UserAdminStore
	Organisations OrganisationStore
	AuditLog      AuditStore
	Forgotten     ForgottenStore
	Mailbox       MailboxStore
	SSO           SSOStore
	NHSmailAdmin  NHSmailAdminStore
	// HelpDesk keeps the site's own help desk; nil: always the national one.
	HelpDesk HelpDeskStore
	// SecondFactor keeps second factors; nil only while the setting is off.
	SecondFactor SecondFactorStore
}

// Mailer is told when an email was queued, so delivery starts at once.
type Mailer interface{ Wake() }

// Deps are the app's collaborators.
type Deps struct {
	// Instance is the installation's secrets (LoadInstance).
	Instance Instance
	Stores   Stores
	Hasher   *secret.Hasher
	Mailer   Mailer // nil: emails wait for the sender's next poll
	// NHSmail is the embedded NHSmail simulator (an OpenID provider served
	// under /nhsmail) and its directory; nil when single sign-on uses
	// another provider.
	NHSmail          NHSmailSimulator
	NHSmailDirectory NHSmailDirectory
	// Backup writes a hot backup of an engine that makes its own (bbolt);
	// nil when the database is backed up with its own tools.
	Backup Backuper
	// RateLimits counts the sign-in and reset rate limits in the database
	// several instances share; nil counts them in this process.
	RateLimits RateCounter
	// Training is the store's training side; training mode needs it, and
	// it is nil outside training mode.
	Training TrainingStore
	// Readiness is /readyz's answer; nil: ready while the process runs.
	Readiness *Readiness
}

// app carries the dependencies every handler shares.
type app struct {
	log *slog.Logger
	cfg Config
	// One small store per journey, all usually the same engine.
	setup        SetupStore
	links        LinkStore
	signIn       SignInStore
	sessions     SessionStore
	accounts     AccountStore
	messages     MessageStore
	userAdmin    UserAdminStore
	orgStore     OrganisationStore
	auditLog     AuditStore
	forgotten    ForgottenStore
	mailStore    MailboxStore
	sso          SSOStore
	nhsmailAdmin NHSmailAdminStore
	helpDeskDB   HelpDeskStore
	backup       Backuper
	rates        RateCounter
	readiness    *Readiness
	hasher       *secret.Hasher
	mailer       Mailer
	csrfKey      []byte
	csrfMACs     sync.Pool // *csrfMAC, see csrfToken
	// serving is the parent of every request's context: cancelled when the
	// server has shut down, so work a stopped server still runs ends.
	serving context.Context
	// instance names this instance's cookies (see namespaceCookies).
	instance string
	// activity is the exact idle time of the sessions served here.
	activity sessionActivity
	// resetThrottle counts reset emails per account.
	resetThrottle accountThrottle
	// signInQueue lets one legacy sign-in per account check and decide at a time.
	signInQueue   accountQueue
	rp            relyingParty
	nhsmail       NHSmailDirectory
	nhsmailServer NHSmailSimulator
	// training is training mode; nil outside it.
	training *training.Mode
	// secondFactor keeps second factors; sealer opens the authenticator
	// secrets (nil while --second-factor is off).
	secondFactor SecondFactorStore
	sealer       *secret.Sealer
}

// App is the web application: the Fiber app that serves it, and the work
// around serving that New leaves to its caller (run in main, the tests'
// harness), so that building it reads, writes and starts nothing: Prepare
// before serving, SweepSessions beside it until shutdown.
type App struct {
	*fiber.App
	a *app
}

// New builds the application; main and the tests call it the same way. It
// does no input or output and starts nothing.
func New(logger *slog.Logger, cfg Config, deps Deps) (*App, error) {
	if cfg.SignInQueueWait <= 0 {
		cfg.SignInQueueWait = defaultSignInQueueWait
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.RequestTimeout <= 0 {
		cfg.RequestTimeout = cfg.WriteTimeout
	}
	if cfg.RequestTimeout <= 0 {
		cfg.RequestTimeout = DefaultConfig().WriteTimeout
	}
	if cfg.AuthenticatorNow == nil {
		cfg.AuthenticatorNow = defaultAuthenticatorNow
	}
	sealer, err := newSealer(cfg, deps.Stores.SecondFactor)
	if err != nil {
		return nil, err
	}
	if len(deps.Instance.CSRFKey) == 0 || deps.Instance.ID == "" {
		return nil, errors.New("handlers: Deps.Instance needs the installation's CSRF key and ID (LoadInstance)")
	}
	st := deps.Stores
	a := &app{log: logger, cfg: cfg, hasher: deps.Hasher, mailer: deps.Mailer, csrfKey: deps.Instance.CSRFKey,
		instance: deps.Instance.ID, nhsmail: deps.NHSmailDirectory, nhsmailServer: deps.NHSmail,
		setup: st.Setup, links: st.Links, signIn: st.SignIn, sessions: st.Sessions, accounts: st.Accounts,
		messages: st.Messages, userAdmin: st.UserAdmin, orgStore: st.Organisations, auditLog: st.AuditLog,
		forgotten: st.Forgotten, mailStore: st.Mailbox, sso: st.SSO, nhsmailAdmin: st.NHSmailAdmin,
		helpDeskDB: st.HelpDesk, secondFactor: st.SecondFactor, sealer: sealer, backup: deps.Backup, rates: deps.RateLimits, readiness: deps.Readiness}
	if a.readiness == nil {
		a.readiness = &Readiness{}
	}
	f := fiber.New(fiber.Config{
		AppName:               "cqrs-signin",
		BodyLimit:             cfg.BodyLimit,
		ReadTimeout:           cfg.ReadTimeout,
		WriteTimeout:          cfg.WriteTimeout,
		IdleTimeout:           cfg.IdleTimeout,
		ErrorHandler:          a.handleError,
		DisableStartupMessage: true,
		// Fiber's own readers of forwarding headers (c.Protocol,
		// c.Hostname) believe only the site's proxies too; fromProxy
		// sets the client address.
		EnableTrustedProxyCheck: true,
		TrustedProxies:          prefixStrings(cfg.TrustedProxies),
		// Fiber reuses request buffers after a handler returns; Immutable
		// copies every value so nothing we keep changes under us.
		Immutable: true,
	})
	if err := a.initTraining(deps); err != nil {
		return nil, err
	}
	// The root of every request's context: requests outlive a signal
	// while the server drains them, and end once the server has stopped.
	var stopServing context.CancelFunc
	a.serving, stopServing = context.WithCancel(context.Background())
	a.routes(f)
	f.Hooks().OnShutdown(func() error { stopServing(); return nil })
	return &App{App: f, a: a}, nil
}

// Prepare does the start-up's reading and writing, once, before the app
// serves: in training mode, the training clock set to its stored offset,
// the training data set seeded into an empty database (or the database
// checked to be a training one) and this run's trainer password given to
// the trainer. Outside training mode it does nothing.
func (x *App) Prepare(ctx context.Context) error {
	return x.a.training.Prepare(ctx)
}

// SweepSessions deletes expired sessions (the app's and the NHSmail
// simulator's) every interval until ctx ends. It returns only when no
// sweep is running, so the caller can wait for it before closing the
// database.
func (x *App) SweepSessions(ctx context.Context, interval time.Duration) {
	x.a.sweepSessions(ctx, interval)
}

// timeFormat is how dates and times are shown.
const timeFormat = "2 January 2006 at 15:04 MST"

// pageError is a refusal shown as a page with its own status.
type pageError struct {
	status     int
	heading    string
	paragraphs []string
}

func (e *pageError) Error() string { return e.heading }

func refuse(status int, heading string, paragraphs ...string) error {
	return &pageError{status: status, heading: heading, paragraphs: paragraphs}
}

// errBeforeSetUp marks a refusal from before set-up, when nobody can sign
// in yet: its page offers no "Go to the CQRS Login page" (which would lead
// back to the waiting page itself).
var errBeforeSetUp = errors.New("CQRS is not set up yet")

// refuseBeforeSetUp is refuse for the time before set-up.
func refuseBeforeSetUp(status int, heading string, paragraphs ...string) error {
	return errors.Join(errBeforeSetUp, refuse(status, heading, paragraphs...))
}

// storeAnswers are the pages the store's errors get when the handler that
// met them has nothing more particular to say (a journey that does, such as
// an expired registration link, refuses with its own words first).
var storeAnswers = []struct {
	err    error
	answer *pageError
}{
	{cqrs.ErrNotFound, pageForStatus(fiber.StatusNotFound)},
	{cqrs.ErrConflict, &pageError{fiber.StatusConflict, "That cannot be done now", []string{"Something changed while you were looking. Nothing was saved: go back, reload the page and try again."}}},
	{cqrs.ErrExpired, &pageError{fiber.StatusGone, "This has expired", []string{"It worked for a limited time only. Start again from the CQRS Login page."}}},
}

// storeAnswer is err's page from storeAnswers, or nil.
func storeAnswer(err error) *pageError {
	for _, sa := range storeAnswers {
		if errors.Is(err, sa.err) {
			return sa.answer
		}
	}
	return nil
}

// handleError is the one place errors become status codes and pages. Only
// server faults are logged: refusals are expected.
func (a *app) handleError(c *fiber.Ctx, err error) error {
	var pe *pageError
	var fe *fiber.Error
	switch stored := storeAnswer(err); {
	case errors.As(err, &pe):
	case errors.As(err, &fe):
		pe = pageForStatus(fe.Code)
	case errors.Is(err, secret.ErrBusy):
		c.Set("Retry-After", "2")
		pe = refuse(fiber.StatusServiceUnavailable, "The service is busy", "Too many people are signing in at once. Please wait a moment and try again.").(*pageError)
	case stored != nil:
		pe = stored
	case a.readiness.unreachable(err):
		// The database restarting: nothing was written (its transaction,
		// if any, rolled back), and the instance reconnects by itself.
		a.log.Warn("request refused: the database cannot be reached", "method", c.Method(), "path", c.Path(), "err", err)
		c.Set("Retry-After", "5")
		pe = refuse(fiber.StatusServiceUnavailable, "Sorry, the service is unavailable for a moment",
			"Nothing was saved. Please try again in a moment.").(*pageError)
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, context.Canceled):
		// The request's time ran out (RequestTimeout), its client left or
		// the server stopped: its queries were cancelled, not finished.
		a.log.Warn("request ended before its answer", "method", c.Method(), "path", c.Path(), "err", err)
		c.Set("Retry-After", "2")
		pe = refuse(fiber.StatusServiceUnavailable, "The service is busy", "The service took too long to answer. Please wait a moment and try again.").(*pageError)
	default:
		a.log.Error("request failed", "method", c.Method(), "path", c.Path(), "err", err)
		pe = pageForStatus(fiber.StatusInternalServerError)
	}
	setSecurityHeaders(c)
	a.setStrictTransport(c)
	setPageHeaders(c)
	return render(c, pe.status, views.ErrorPage(a.page(c, pe.heading), pe.heading, pe.paragraphs, !errors.Is(err, errBeforeSetUp)))
}

func pageForStatus(status int) *pageError {
	switch status {
	case fiber.StatusNotFound:
		return &pageError{status, "Page not found", []string{"If you typed the web address, check it is correct."}}
	case fiber.StatusMethodNotAllowed:
		return &pageError{status, "Page not found", []string{"This address does not accept that kind of request."}}
	case fiber.StatusRequestEntityTooLarge:
		return &pageError{status, "The form was too large", []string{"What you sent was larger than this service accepts. Nothing was saved."}}
	case fiber.StatusRequestTimeout:
		return &pageError{status, "The request took too long", []string{"Please try again."}}
	case fiber.StatusBadRequest:
		return &pageError{status, "The request could not be read", []string{"Nothing was saved. Please go back and try again."}}
	case fiber.StatusForbidden:
		return &pageError{status, "You cannot do that", []string{"Nothing was saved."}}
	default:
		if status >= 400 && status < 500 {
			return &pageError{status, "The request could not be completed", []string{"Nothing was saved. Please go back and try again."}}
		}
		return &pageError{fiber.StatusInternalServerError, "Sorry, there is a problem with the service", []string{"Please try again later. Nothing you entered has been shown to anyone else."}}
	}
}

// render writes a component with a status. A 422 (a form re-rendered with
// its problems) and a 401 (the Login page after a refused sign-in) put
// "Error: " before the page's title.
func render(c *fiber.Ctx, status int, comp templ.Component) error {
	c.Status(status)
	// The header as one constant: c.Type would join it anew on every page.
	c.Response().Header.SetContentType(fiber.MIMETextHTMLCharsetUTF8)
	ctx := c.UserContext()
	if ctx.Err() != nil {
		// Templ stops at an ended context; a page about a request whose
		// time ran out must still be written, and writing it waits for nothing.
		ctx = context.WithoutCancel(ctx)
	}
	if status == fiber.StatusUnprocessableEntity || status == fiber.StatusUnauthorized {
		ctx = views.WithProblems(ctx)
	}
	return comp.Render(ctx, c.Response().BodyWriter())
}

// isHTMX reports a request made by htmx for a fragment.
func isHTMX(c *fiber.Ctx) bool {
	return c.Get("HX-Request") == "true" && c.Get("HX-Boosted") != "true"
}

// redirect answers a successful form: HX-Redirect for htmx, else 303
// (POST-redirect-GET).
func redirect(c *fiber.Ctx, to string) error {
	if isHTMX(c) {
		c.Set("HX-Redirect", to)
		return c.SendStatus(fiber.StatusNoContent)
	}
	return c.Redirect(to, fiber.StatusSeeOther)
}

// page builds the layout's model for the current request.
func (a *app) page(c *fiber.Ctx, title string) views.Page {
	token, _ := c.Locals(localCSRF).(string)
	return views.Page{Title: title, CSRFToken: token, Version: a.cfg.Version, InsecureLAN: a.cfg.InsecureLAN,
		Training: a.training.Chrome(c, title)}
}
