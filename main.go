// Command cqrs-signin re-creates the CQRS registration and sign-in flows as
// one local program: it opens its database, starts listening and opens the
// browser on its own pages.
package main

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"os"
	"os/signal"
	"path/filepath"
	"regexp"
	"runtime"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/cqrs-local/cqrs-signin/clock"
	"github.com/cqrs-local/cqrs-signin/cqrs"
	"github.com/gofiber/fiber/v2"

	"github.com/pkg/browser"

	"github.com/cqrs-local/cqrs-signin/handlers"
	"github.com/cqrs-local/cqrs-signin/mailer"
	"github.com/cqrs-local/cqrs-signin/nhsmail"
	"github.com/cqrs-local/cqrs-signin/policy"
	"github.com/cqrs-local/cqrs-signin/secret"
	"github.com/cqrs-local/cqrs-signin/storage"
	"github.com/cqrs-local/cqrs-signin/store"
	"github.com/cqrs-local/cqrs-signin/store/postgres"
)

// Set at release time with -ldflags "-X main.version=… -X main.commit=… -X main.date=…".
var (
	version = "dev"
	commit  = ""
	date    = ""
)

// defaultAddr is a fixed port so bookmarks keep working; when it is taken
// the app falls back to a free one.
const defaultAddr = "127.0.0.1:8420"

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	// Process-wide settings live here, not in run, so tests that call run
	// in-process do not inherit them.
	limitMemory(os.Getenv)
	browser.Stdout, browser.Stderr = io.Discard, io.Discard // its chatter is not ours to print
	if err := run(ctx, os.Args, os.Getenv, os.Stdout, os.Stderr); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			os.Exit(0)
		}
		fmt.Fprintf(os.Stderr, "cqrs-signin: %v\n", err)
		os.Exit(1)
	}
}

// options are the parsed flags.
type options struct {
	addr            string
	addrIsSet       bool
	data            string
	database        string
	noBrowser       bool
	version         bool
	linkTTL         time.Duration
	resetTTL        time.Duration
	sessionIdle     time.Duration
	sessionAbsolute time.Duration
	emailDomains    string
	training        bool
	smtp            mailer.SMTPConfig
	smtpTLS         string
	logFormat       string
	signInRateLimit int
	tlsCert         string
	tlsKey          string
	tlsSelfSigned   bool
	insecureLAN     bool
	oidcIssuer      string
	oidcClientID    string
	oidcRedirectURL string
	oidcScopes      string
	passwordPolicy  policy.Policy
	oidcEmailOnly   bool
	publicURL       string
	trustedProxies  []netip.Prefix
	drainTime       time.Duration
	secondFactor    cqrs.SecondFactorPolicy
	// secondFactorKey is the file holding the key that seals
	// authenticator secrets (empty: beside the data file).
	secondFactorKey string
}

// flagSet binds each flag to its environment variable: the environment
// gives the default, a flag on the command line wins.
type flagSet struct {
	*flag.FlagSet
	getenv func(string) string
	errs   []error
}

func (f *flagSet) envName(env string) string {
	if env == "" {
		return ""
	}
	return " [$" + env + "]"
}

func (f *flagSet) str(p *string, name, env, def, usage string) {
	if v := f.getenv(env); env != "" && v != "" {
		def = v
	}
	f.StringVar(p, name, def, usage+f.envName(env))
}

func (f *flagSet) boolean(p *bool, name, env, usage string) {
	def := false
	if v := f.getenv(env); env != "" && v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			f.errs = append(f.errs, fmt.Errorf("$%s: %w", env, err))
		}
		def = b
	}
	f.BoolVar(p, name, def, usage+f.envName(env))
}

func (f *flagSet) duration(p *time.Duration, name, env string, def time.Duration, usage string) {
	if v := f.getenv(env); env != "" && v != "" {
		d, err := time.ParseDuration(v)
		if err != nil {
			f.errs = append(f.errs, fmt.Errorf("$%s: %w", env, err))
		}
		def = d
	}
	f.DurationVar(p, name, def, usage+f.envName(env))
}

func (f *flagSet) integer(p *int, name, env string, def int, usage string) {
	if v := f.getenv(env); env != "" && v != "" {
		n, err := strconv.Atoi(v)
		if err != nil {
			f.errs = append(f.errs, fmt.Errorf("$%s: %w", env, err))
		}
		def = n
	}
	f.IntVar(p, name, def, usage+f.envName(env))
}

// errOpenMailbox refuses the removed --open-mailbox: it showed every
// emailed link to anyone who opened the mailbox.
var errOpenMailbox = errors.New("--open-mailbox (and $CQRS_OPEN_MAILBOX) was removed: the local mailbox shows an email's link only to the system administrator and to the person it was sent to (in training mode, each learner reads their own emails at /training/mailbox)")

func parseFlags(args []string, getenv func(string) string, stderr io.Writer) (options, error) {
	if getenv("CQRS_OPEN_MAILBOX") != "" {
		return options{}, errOpenMailbox
	}
	for _, arg := range args[1:] {
		if arg == "--" {
			break
		}
		if name, _, _ := strings.Cut(strings.TrimLeft(arg, "-"), "="); strings.HasPrefix(arg, "-") && name == "open-mailbox" {
			return options{}, errOpenMailbox
		}
	}
	fs := &flagSet{FlagSet: flag.NewFlagSet(args[0], flag.ContinueOnError), getenv: getenv}
	fs.SetOutput(stderr)
	var o options
	fs.str(&o.addr, "addr", "CQRS_ADDR", defaultAddr, "address to listen on (host:port); the default falls back to a free port when taken")
	fs.str(&o.data, "data", "CQRS_DATA", defaultDataPath(), "database file")
	fs.str(&o.database, "database", "CQRS_DATABASE", "", "a PostgreSQL database shared by several instances (postgres://USER:PASSWORD@HOST:PORT/DB); empty: the database file at --data")
	fs.boolean(&o.noBrowser, "no-browser", "CQRS_NO_BROWSER", "do not open the browser")
	fs.duration(&o.linkTTL, "registration-link-ttl", "CQRS_REGISTRATION_LINK_TTL", 14*24*time.Hour, "how long a registration link works")
	fs.duration(&o.resetTTL, "reset-link-ttl", "CQRS_RESET_LINK_TTL", time.Hour, "how long an unlock / forgotten-password link works")
	fs.duration(&o.sessionIdle, "session-idle", "CQRS_SESSION_IDLE", 30*time.Minute, "sign out after this long without activity")
	fs.duration(&o.sessionAbsolute, "session-absolute", "CQRS_SESSION_ABSOLUTE", 12*time.Hour, "sign out this long after signing in, whatever the activity")
	fs.str(&o.emailDomains, "email-domains", "CQRS_EMAIL_DOMAINS", "", "comma-separated email domains users may have, e.g. nhs.net,nhs.uk (empty: any)")
	fs.boolean(&o.training, "training", "CQRS_TRAINING", "training mode: seed the training data set at first start, give each learner their own mailbox, show the job aid and the trainer controls (SMTP is never used)")
	var demo bool // training mode's first name, kept working
	fs.boolean(&demo, "demo", "CQRS_DEMO", "the same as --training")
	fs.str(&o.smtp.Host, "smtp-host", "CQRS_SMTP_HOST", "", "SMTP server; empty keeps emails in the local mailbox")
	fs.integer(&o.smtp.Port, "smtp-port", "CQRS_SMTP_PORT", 0, "SMTP port (default: 25, 587 or 465 by TLS mode)")
	fs.str(&o.smtp.Username, "smtp-user", "CQRS_SMTP_USER", "", "SMTP user name (the password comes only from $CQRS_SMTP_PASSWORD)")
	fs.str(&o.smtp.From, "smtp-from", "CQRS_SMTP_FROM", "CQRS <no-reply@cqrs.local>", "the From address of every email")
	fs.str(&o.smtpTLS, "smtp-tls", "CQRS_SMTP_TLS", "starttls", "SMTP TLS mode: none, starttls or tls")
	fs.str(&o.oidcIssuer, "oidc-issuer", "CQRS_OIDC_ISSUER", "", "OpenID provider for the NHSmail Sign In button (e.g. https://login.microsoftonline.com/TENANT-ID/v2.0); empty: the embedded NHSmail simulator; \"off\": no single sign-on")
	fs.str(&o.oidcClientID, "oidc-client-id", "CQRS_OIDC_CLIENT_ID", "", "client ID registered with the OpenID provider (the secret comes only from $CQRS_OIDC_CLIENT_SECRET)")
	fs.str(&o.oidcRedirectURL, "oidc-redirect-url", "CQRS_OIDC_REDIRECT_URL", "", "callback URL registered with the provider (default: this app's /sso/callback)")
	fs.str(&o.oidcScopes, "oidc-scopes", "CQRS_OIDC_SCOPES", "", "extra scopes to ask for, comma-separated (openid, email and profile are always asked)")
	fs.boolean(&o.oidcEmailOnly, "oidc-email-only", "CQRS_OIDC_EMAIL_ONLY", "match a first single sign-on by the email claim only, never preferred_username or upn (which are used only from the simulator or an Entra ID issuer anyway)")
	fs.str(&o.tlsCert, "tls-cert", "CQRS_TLS_CERT", "", "serve HTTPS with this certificate (PEM), with --tls-key")
	fs.str(&o.tlsKey, "tls-key", "CQRS_TLS_KEY", "", "the private key (PEM) for --tls-cert")
	fs.boolean(&o.tlsSelfSigned, "tls-self-signed", "CQRS_TLS_SELF_SIGNED", "serve HTTPS with a certificate made for this computer (kept beside the database; its fingerprint is printed)")
	fs.boolean(&o.insecureLAN, "insecure-lan", "CQRS_INSECURE_LAN", "allow plain HTTP on a network address (passwords cross the network in clear; every page warns)")
	fs.integer(&o.signInRateLimit, "signin-rate-limit", "CQRS_SIGNIN_RATE_LIMIT", 30, "sign-in attempts allowed per client address per minute (0: no limit, for load tests)")
	fs.str(&o.publicURL, "public-url", "CQRS_PUBLIC_URL", "", "the address people use when instances stand behind a load balancer, e.g. https://cqrs.example.nhs.uk (links in emails, single sign-on, cookies and the Host and Origin checks follow it); empty: this instance's own address")
	var trustedProxies string
	fs.str(&trustedProxies, "trusted-proxies", "CQRS_TRUSTED_PROXIES", "", "comma-separated addresses or CIDR ranges of the load balancers whose X-Forwarded-For / Forwarded headers name the person's address (from anyone else they are ignored)")
	fs.duration(&o.drainTime, "drain-time", "CQRS_DRAIN_TIME", 0, "after SIGTERM, keep answering this long with /readyz failing, so the load balancer stops sending requests before the instance stops (set it above the balancer's check interval times its fall count)")
	fs.str(&o.logFormat, "log-format", "CQRS_LOG_FORMAT", "text", "log format: text or json")
	var passwordPolicy string
	fs.str(&passwordPolicy, "password-policy", "CQRS_PASSWORD_POLICY", policy.NameCQRS, "password policy: cqrs (the CQRS documents' rules) or hardened (NIST SP 800-63B rev 4: 15-64 characters, common passwords and your own details refused)")
	var secondFactor string
	fs.str(&secondFactor, "second-factor", "CQRS_SECOND_FACTOR", string(cqrs.SecondFactorOff), "who gives a second factor (an authenticator app code, or a recovery code) after the password at a legacy sign-in: off, administrators or everyone")
	fs.str(&o.secondFactorKey, "second-factor-key", "CQRS_SECOND_FACTOR_KEY", "", "the file holding the key that encrypts authenticator secrets (made at first use; default: second-factor.key beside the database file); instances sharing a database need the same file")
	fs.BoolVar(&o.version, "version", false, "print the version and exit")
	fs.Usage = func() {
		fmt.Fprintf(stderr, "Usage: %s [flags]\n\nRuns the CQRS registration and sign-in service on this computer and opens the browser.\n\nFlags (each with its environment variable; the flag wins):\n", filepath.Base(args[0]))
		fs.PrintDefaults()
		fmt.Fprintf(stderr, "\nSubcommands (each takes --data and --help):\n")
		for _, sc := range subcommands {
			fmt.Fprintf(stderr, "  %s %s\n    \t%s\n", sc.name, sc.args, sc.summary)
		}
		fmt.Fprintf(stderr, "\nEnvironment only:\n  CQRS_SMTP_PASSWORD\tthe SMTP password (never a flag, so it stays out of process lists)\n  CQRS_OIDC_CLIENT_SECRET\tthe OpenID client secret, for --oidc-issuer\n")
	}
	if err := fs.Parse(args[1:]); err != nil {
		return o, err
	}
	o.training = o.training || demo
	if len(fs.errs) > 0 {
		return o, errors.Join(fs.errs...)
	}
	// Training keeps its own file unless told otherwise, so a classroom
	// never starts on a site's real data.
	dataIsSet := getenv("CQRS_DATA") != ""
	fs.Visit(func(f *flag.Flag) { dataIsSet = dataIsSet || f.Name == "data" })
	if o.training && !dataIsSet {
		o.data = filepath.Join(filepath.Dir(defaultDataPath()), "training.db")
	}
	if o.database != "" && !strings.HasPrefix(o.database, "postgres://") && !strings.HasPrefix(o.database, "postgresql://") {
		return o, errors.New("--database takes a postgres:// address; leave it out to keep the database file at --data")
	}
	if o.database != "" && o.training {
		return o, errors.New("training mode (--training) keeps its data in a database file on this computer: leave out --database")
	}
	o.addrIsSet = getenv("CQRS_ADDR") != ""
	fs.Visit(func(f *flag.Flag) { o.addrIsSet = o.addrIsSet || f.Name == "addr" })
	o.smtp.Password = getenv("CQRS_SMTP_PASSWORD")
	o.smtp.TLS = mailer.TLSMode(o.smtpTLS)
	for _, d := range []struct {
		name string
		v    time.Duration
	}{{"--registration-link-ttl", o.linkTTL}, {"--reset-link-ttl", o.resetTTL}, {"--session-idle", o.sessionIdle}, {"--session-absolute", o.sessionAbsolute}} {
		if d.v <= 0 {
			return o, fmt.Errorf("%s must be positive", d.name)
		}
	}
	if o.oidcIssuer != "" && o.oidcIssuer != "off" {
		if o.oidcClientID == "" {
			return o, errors.New("--oidc-issuer needs --oidc-client-id (and $CQRS_OIDC_CLIENT_SECRET)")
		}
		if strings.Contains(o.oidcIssuer, "/common/") || strings.Contains(o.oidcIssuer, "/organizations/") {
			return o, errors.New("--oidc-issuer: use the tenant-specific Entra ID issuer (https://login.microsoftonline.com/TENANT-ID/v2.0); the shared one cannot be verified")
		}
		if err := checkIssuerURL(o.oidcIssuer); err != nil {
			return o, err
		}
	}
	var err error
	if o.publicURL, err = checkPublicURL(o.publicURL, o.insecureLAN); err != nil {
		return o, err
	}
	if o.trustedProxies, err = parseTrustedProxies(trustedProxies); err != nil {
		return o, err
	}
	if o.drainTime < 0 {
		return o, errors.New("--drain-time must not be negative")
	}
	if o.passwordPolicy, err = policy.Named(passwordPolicy); err != nil {
		return o, fmt.Errorf("--password-policy: %w", err)
	}
	if o.secondFactor, err = cqrs.ParseSecondFactorPolicy(secondFactor); err != nil {
		return o, fmt.Errorf("--second-factor: %w", err)
	}
	if o.secondFactorKey == "" {
		o.secondFactorKey = filepath.Join(filepath.Dir(o.data), "second-factor.key")
	}
	if o.logFormat != "text" && o.logFormat != "json" {
		return o, errors.New("--log-format must be text or json")
	}
	if o.smtp.Enabled() {
		if err := o.smtp.Validate(); err != nil {
			return o, fmt.Errorf("SMTP settings: %w", err)
		}
	}
	return o, nil
}

// mailServer is the SMTP server emails leave by; none (the zero config:
// the local mailbox) in training mode, whatever the flags say, since a
// class's emails stay in each learner's own mailbox. It is the one place
// that rule is kept: the sender and the pages that say where emails go
// both read it.
func (o options) mailServer() mailer.SMTPConfig {
	if o.training {
		return mailer.SMTPConfig{}
	}
	return o.smtp
}

// defaultDataPath is in the user's configuration directory, so the app
// keeps its data wherever it is started from.
func defaultDataPath() string {
	dir, err := os.UserConfigDir()
	if err != nil {
		dir = "."
	}
	return filepath.Join(dir, "cqrs-signin", "cqrs.db")
}

// buildVersion is the version, with the commit and build date when stamped.
func buildVersion() string {
	v := version
	if v == "dev" {
		if info, ok := debug.ReadBuildInfo(); ok && info.Main.Version != "" && info.Main.Version != "(devel)" {
			v = info.Main.Version
		}
	}
	if commit != "" {
		v += " (" + commit
		if date != "" {
			v += ", " + date
		}
		v += ")"
	}
	return v
}

func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if len(args) > 1 {
		if sc, ok := findSubcommand(args[1]); ok {
			return runSubcommand(ctx, sc, args, getenv, stdout, stderr)
		}
	}
	opts, err := parseFlags(args, getenv, stderr)
	if err != nil {
		return err
	}
	if opts.version {
		fmt.Fprintf(stdout, "cqrs-signin %s\n", buildVersion())
		return nil
	}
	logger := newLogger(opts.logFormat, stderr)
	// zitadel/oidc (the NHSmail simulator's protocol) logs through the
	// default logger only: give it the app's format and destination.
	slog.SetDefault(logger)
	// One clock for the store, the handlers, the mailer and the NHSmail
	// simulator: the training clock moves them all forward together.
	appClock := clock.New(time.Now)

	db, err := openDatabase(ctx, opts, appClock)
	if errors.Is(err, store.ErrLocked) {
		return joinRunningInstance(ctx, opts, stdout)
	}
	if err != nil {
		return err
	}
	defer db.Close()
	ln, err := listen(opts)
	if err != nil {
		return err
	}
	// One clean-up for every return; once served, the shutdown has closed
	// it already and this second close does nothing.
	defer ln.Close()
	netw, err := setupNetwork(opts, ln)
	if err != nil {
		return err
	}
	cfg := appConfig(opts, netw, listenHost(ln), appClock)
	sender := newSender(logger, opts, db, stdout, appClock, cfg.BaseURL)
	deps, err := appDeps(logger, opts, &cfg, db, sender, getenv)
	if err != nil {
		return err
	}
	if cfg.SecondFactor != cqrs.SecondFactorOff {
		if cfg.SecondFactorKey, err = secondFactorKey(opts.secondFactorKey); err != nil {
			return err
		}
	}
	if deps.NHSmail != nil && netw.tls != nil && opts.publicURL == "" {
		// The relying party fetches the embedded simulator's discovery,
		// keys and tokens from this same process over HTTPS: it trusts
		// this app's own certificate, and nothing else.
		if cfg.SSO.HTTPClient, err = netw.ownCertificateClient(); err != nil {
			return err
		}
	}
	app, err := handlers.New(logger, cfg, deps)
	if err != nil {
		return err
	}
	// New reads and writes nothing: the start-up's writing (training
	// mode's seed data and clock) is done here, before anything serves.
	if err := app.Prepare(ctx); err != nil {
		return err
	}
	startURL, err := firstPage(db, opts, cfg, stdout)
	if err != nil {
		return err
	}
	if db.file != nil { // the backup subcommand's way to a running instance
		if err := writeInstanceFile(opts.data, netw.baseURL, cfg.InstanceToken); err != nil {
			logger.Warn("could not record the running instance", "err", err)
		}
		defer os.Remove(instanceFile(opts.data))
	}
	// Deferred after db.Close, so run first: the database closes only
	// once the background work has stopped.
	stopBackground := startBackground(ctx, app, sender)
	defer stopBackground()
	return serve(ctx, app.App, deps.Readiness, ln, netw, opts, db, startURL, logger, stdout)
}

// startBackground starts the work that runs beside the server: the session
// sweeper and the mail sender. They keep going through the drain after a
// signal (requests still queue emails then) until stop, which ends them
// and waits until they have finished: an email in the middle of being
// sent is sent and recorded first, so the database is never closed under
// them and nothing the mail server acknowledged is lost.
func startBackground(ctx context.Context, app *handlers.App, sender *mailer.Sender) (stop func()) {
	ctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	var work sync.WaitGroup
	work.Go(func() { app.SweepSessions(ctx, sessionSweepInterval) })
	work.Go(func() { sender.Run(ctx, mailPollInterval) })
	return func() {
		cancel()
		work.Wait()
	}
}

// The background work's pace: expired sessions are deleted now and then
// (each request checks expiry itself); the outbox is polled for what
// another instance queued or an earlier run left (this instance's own
// emails wake the sender at once).
const (
	sessionSweepInterval = 10 * time.Minute
	mailPollInterval     = 30 * time.Second
)

func newLogger(format string, stderr io.Writer) *slog.Logger {
	if format == "json" {
		return slog.New(slog.NewJSONHandler(stderr, nil))
	}
	return slog.New(slog.NewTextHandler(stderr, nil))
}

// database is the open engine: the bbolt file (file) or PostgreSQL (pg);
// the other is nil.
type database struct {
	engine
	file *store.Store
	pg   *postgres.Store
}

// openDatabase opens PostgreSQL when --database names it, otherwise the
// database file at --data (store.ErrLocked when another process has it).
func openDatabase(ctx context.Context, opts options, appClock *clock.Clock) (database, error) {
	// The data directory also keeps the self-made certificate, whichever
	// engine holds the data.
	if err := os.MkdirAll(filepath.Dir(opts.data), 0o700); err != nil {
		return database{}, fmt.Errorf("data directory: %w", err)
	}
	if opts.database != "" {
		pg, err := postgres.Open(ctx, opts.database, postgres.Options{Now: appClock.Now})
		if err != nil {
			return database{}, err
		}
		return database{engine: pg, pg: pg}, nil
	}
	file, err := store.Open(opts.data, store.Options{LockTimeout: 500 * time.Millisecond, Now: appClock.Now})
	if err != nil {
		return database{}, err
	}
	return database{engine: file, file: file}, nil
}

// appConfig is the handlers' configuration from the flags, the network
// and the clock.
func appConfig(opts options, netw exposure, listenHost string, appClock *clock.Clock) handlers.Config {
	cfg := handlers.DefaultConfig()
	cfg.Version = buildVersion()
	cfg.BaseURL = netw.baseURL
	if opts.training && len(netw.hosts) == 0 { // on this computer only: offer the room's addresses
		cfg.NetworkAddresses = slices.DeleteFunc(lanAddresses(), func(a string) bool { return a == "127.0.0.1" })
	}
	cfg.RegistrationLinkTTL = opts.linkTTL
	cfg.ResetLinkTTL = opts.resetTTL
	cfg.SessionIdle, cfg.SessionAbsolute = opts.sessionIdle, opts.sessionAbsolute
	cfg.EmailDomains = splitList(opts.emailDomains)
	cfg.SMTPEnabled = opts.mailServer().Enabled()
	cfg.PasswordPolicy = opts.passwordPolicy
	cfg.SecondFactor = opts.secondFactor
	cfg.Now, cfg.Clock, cfg.Training = appClock.Now, appClock, opts.training
	if opts.training {
		cfg.TrainerPassword = handlers.NewTrainerPassword()
	}
	cfg.SignInRateLimit = opts.signInRateLimit
	cfg.InstanceToken = secret.NewToken()
	cfg.Hosts = append(cfg.Hosts, listenHost)
	cfg.Hosts = append(cfg.Hosts, netw.hosts...)
	cfg.Secure = netw.tls != nil
	cfg.HSTS = netw.tls != nil && opts.tlsCert != ""
	cfg.InsecureLAN = netw.insecureLAN
	cfg.TrustedProxies = opts.trustedProxies
	if opts.publicURL != "" {
		// Behind a load balancer the public address is the site: it is
		// what links name and what browsers send as Host and Origin.
		u, _ := url.Parse(opts.publicURL)
		cfg.BaseURL, cfg.PublicOrigin = opts.publicURL, opts.publicURL
		cfg.Hosts = append(cfg.Hosts, u.Hostname())
		cfg.Secure = u.Scheme == "https"
	}
	return cfg
}

// newSender is the outbox's delivery: SMTP when configured, otherwise the
// local mailbox, announced on the console.
func newSender(logger *slog.Logger, opts options, db database, stdout io.Writer, appClock *clock.Clock, baseURL string) *mailer.Sender {
	console := io.Writer(stdout)
	if opts.training {
		// Never printed where a projected console shows everyone's links.
		console = io.Discard
	}
	sender := mailer.NewSender(logger, opts.mailServer(), db.engine, console, appClock.Now)
	sender.SetMailboxURL(baseURL + "/mailbox")
	return sender
}

// appDeps are the handlers' dependencies. The engine is every journey's
// store. The bbolt file also makes its own backups and has a training
// side; PostgreSQL counts the rate limits, so instances sharing it share
// them. Without --oidc-issuer the NHSmail simulator is built here, and
// cfg.SSO gets its client secret.
func appDeps(logger *slog.Logger, opts options, cfg *handlers.Config, db database, sender *mailer.Sender, getenv func(string) string) (handlers.Deps, error) {
	hasher := secret.NewHasher(secret.OWASP, 0, 2*time.Second)
	st := db.engine
	instance, err := handlers.LoadInstance(context.Background(), st)
	if err != nil {
		return handlers.Deps{}, err
	}
	stores := handlers.Stores{Setup: st, Links: st, SignIn: st, Sessions: st, Accounts: st, Messages: st,
		UserAdmin: st, Organisations: st, AuditLog: st, Forgotten: st, Mailbox: st, SSO: st, NHSmailAdmin: st, HelpDesk: st, SecondFactor: st}
	deps := handlers.Deps{Instance: instance, Stores: stores, Hasher: hasher, Mailer: sender, Readiness: &handlers.Readiness{}}
	if db.file != nil {
		deps.Backup, deps.Training, cfg.SnapshotDir = db.file, db.file, db.file.SnapshotDir()
	} else {
		deps.RateLimits = db.pg
		deps.Readiness.Database = db.pg.Ping
		deps.Readiness.Unreachable = postgres.Unreachable
	}
	if cfg.SSO, err = ssoConfig(opts, cfg.BaseURL, getenv); err != nil {
		return deps, err
	}
	if opts.oidcIssuer != "" {
		return deps, nil
	}
	if cfg.SSO.ClientSecret, err = st.NHSmailClientSecret(context.Background()); err != nil {
		return deps, err
	}
	sim, err := nhsmail.New(context.Background(), logger, nhsmail.Config{Issuer: cfg.SSO.Issuer, ClientID: cfg.SSO.ClientID,
		ClientSecret: cfg.SSO.ClientSecret, RedirectURIs: []string{cfg.SSO.RedirectURL}, Secure: cfg.Secure, JobAid: opts.training, Now: cfg.Now,
		Unavailable: deps.Readiness.Unreachable}, st, hasher)
	if err != nil {
		return deps, err
	}
	deps.NHSmail, deps.NHSmailDirectory = sim, st
	return deps, nil
}

// firstPage is where the browser opens, said on the console: the one-time
// set-up link while there are no users, the training page in training mode,
// otherwise the home page.
func firstPage(db database, opts options, cfg handlers.Config, stdout io.Writer) (string, error) {
	startURL := cfg.BaseURL + "/"
	hasUsers, err := db.HasUsers(context.Background())
	if err != nil {
		return "", err
	}
	if !hasUsers {
		token := secret.NewToken()
		if err := db.SetSetupToken(context.Background(), secret.HashToken(token)); err != nil {
			return "", err
		}
		startURL = cfg.BaseURL + "/setup?token=" + token
		fmt.Fprintf(stdout, "First start: create the administrator with this one-time set-up link:\n  %s\n", startURL)
	} else if !opts.training {
		// Set-up is finished only when the system administrator has a
		// password: until then every start prints a fresh link to choose
		// it, so a lost browser or an expired link cookie strands nobody.
		link, err := unfinishedSetUpLink(db, cfg)
		if err != nil {
			return "", err
		}
		if link != "" {
			startURL = link
			fmt.Fprintf(stdout, "Set-up is not finished: the system administrator has no password yet. Choose it with this one-time link:\n  %s\n", link)
		}
	}
	if opts.training {
		startURL = cfg.BaseURL + "/training"
		fmt.Fprintf(stdout, "Training mode: learners start at %s\n  Trainer sign-in: User ID %s, password %s\n  (a new trainer password at every start, shown only here)\n",
			startURL, handlers.TrainerUserID, cfg.TrainerPassword)
	}
	return startURL, nil
}

// unfinishedSetUpLink is a new registration link for the system
// administrator while none has a password, or "" once set-up is finished.
func unfinishedSetUpLink(db database, cfg handlers.Config) (string, error) {
	token := secret.NewToken()
	_, _, err := db.SystemAdminLink(context.Background(), secret.HashToken(token), cfg.RegistrationLinkTTL, cfg.ResetLinkTTL, false,
		cqrs.AuditEvent{Type: cqrs.AuditLinkSent, Detail: "registration (printed at start: set-up not finished)"})
	switch {
	case errors.Is(err, cqrs.ErrConflict), errors.Is(err, cqrs.ErrNotFound):
		return "", nil
	case err != nil:
		return "", err
	}
	return cfg.BaseURL + "/register?token=" + token, nil
}

// runningBanner says where the app answers and how it is exposed. It is
// written in one piece, so whoever reads the console (a person, a script
// waiting for "CQRS is running at") never sees half of it.
func runningBanner(netw exposure, opts options, db database) string {
	var b strings.Builder
	where := "data: " + opts.data
	if db.file == nil {
		where = "database: PostgreSQL" // the address may hold a password
	}
	fmt.Fprintf(&b, "CQRS is running at %s (%s)\n", netw.baseURL, where)
	if opts.publicURL != "" {
		fmt.Fprintf(&b, "People use it at %s\n", opts.publicURL)
	}
	if len(netw.urls) > 1 {
		b.WriteString("Learners on this network can use:\n")
		for _, u := range netw.urls {
			fmt.Fprintf(&b, "  %s\n", u)
		}
	}
	if netw.fingerprint != "" {
		fmt.Fprintf(&b, "HTTPS certificate SHA-256 fingerprint (compare it in the browser before accepting):\n  %s\n", netw.fingerprint)
	}
	if netw.insecureLAN {
		b.WriteString("WARNING: plain HTTP on the network: passwords typed here cross it in clear.\n")
	}
	return b.String()
}

// serve answers on ln until ctx ends (a signal), then shuts down with a
// time limit; the console says where the app is and how it is exposed, and
// the browser opens on startURL. A signal first drains the instance
// (readiness fails for --drain-time, so a load balancer moves away), then
// in-flight requests finish.
func serve(ctx context.Context, app *fiber.App, readiness *handlers.Readiness, ln net.Listener, netw exposure, opts options, db database, startURL string, logger *slog.Logger, stdout io.Writer) error {
	serveErr := make(chan error, 1)
	if netw.tls != nil {
		ln = tls.NewListener(ln, netw.tls)
	}
	go func() { serveErr <- app.Listener(ln) }()
	io.WriteString(stdout, runningBanner(netw, opts, db))
	openBrowser(opts, startURL, logger)

	select {
	case err := <-serveErr:
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	readiness.Drain()
	fmt.Fprintln(stdout, "Shutting down…")
	time.Sleep(opts.drainTime)
	if err := app.ShutdownWithTimeout(10 * time.Second); err != nil {
		logger.Warn("shutdown", "err", err)
	}
	return nil
}

// engine is what the app needs from its database, whichever engine keeps
// it: the bbolt file (package store) or PostgreSQL (store/postgres).
// Package storage declares it, where the contract suite runs it on both.
type engine = storage.Engine

var (
	_ engine               = (*store.Store)(nil)
	_ engine               = (*postgres.Store)(nil)
	_ handlers.RateCounter = (*postgres.Store)(nil)
)

// limitMemory sets a soft memory limit sized for the hashing slots unless
// $GOMEMLIMIT chooses one: each argon2id computation holds 19 MiB, and room
// for two per slot lets the next hash reuse the last one's freed memory
// instead of the runtime handing it back to the OS and faulting it in again
// (measured: 0.88-1.09 of the hashing ceiling, against 0.62-0.74 with room
// for one).
func limitMemory(getenv func(string) string) {
	if getenv("GOMEMLIMIT") != "" {
		return
	}
	debug.SetMemoryLimit(int64(runtime.NumCPU())*2*int64(secret.OWASP.MemoryKiB)*1024 + 32<<20)
}

// listen binds at once so a bind error surfaces before anything else; the
// default fixed port falls back to a free one when it is taken.
func listen(opts options) (net.Listener, error) {
	ln, err := net.Listen("tcp", opts.addr)
	if err == nil || opts.addrIsSet {
		return ln, err
	}
	host, _, _ := net.SplitHostPort(opts.addr)
	return net.Listen("tcp", net.JoinHostPort(host, "0"))
}

// ssoConfig is the relying party's configuration: a real provider when
// --oidc-issuer names one, otherwise the embedded NHSmail simulator.
func ssoConfig(opts options, baseURL string, getenv func(string) string) (handlers.SSOConfig, error) {
	redirect := opts.oidcRedirectURL
	if redirect == "" {
		redirect = baseURL + "/sso/callback"
	}
	switch opts.oidcIssuer {
	case "off":
		return handlers.SSOConfig{}, nil
	case "":
		return handlers.SSOConfig{Issuer: baseURL + "/nhsmail", ClientID: "cqrs", RedirectURL: redirect, ProviderName: "NHSmail",
			EmailOnly: opts.oidcEmailOnly, LinkNamespace: handlers.EmbeddedNHSmailNamespace}, nil
	}
	return handlers.SSOConfig{Issuer: opts.oidcIssuer, ClientID: opts.oidcClientID, ClientSecret: getenv("CQRS_OIDC_CLIENT_SECRET"),
		RedirectURL: redirect, Scopes: splitList(opts.oidcScopes), ProviderName: "NHSmail",
		EmailOnly: opts.oidcEmailOnly || !entraIssuer().MatchString(opts.oidcIssuer)}, nil
}

// entraIssuer is a tenant-specific Microsoft Entra ID v2.0 issuer: the
// only real provider whose preferred_username / upn CQRS will match on.
var entraIssuer = sync.OnceValue(func() *regexp.Regexp { // compiled on first use, not at every start
	return regexp.MustCompile(`^https://login\.microsoftonline\.com/[0-9a-fA-F-]{36}/v2\.0$`)
})

// checkIssuerURL refuses an issuer that is not https, except on this
// computer's loopback address (a provider run beside the app for testing):
// over plain HTTP on a network anyone on the way could answer for it.
func checkIssuerURL(issuer string) error {
	u, err := url.Parse(issuer)
	if err != nil || u.Host == "" || u.User != nil || u.RawQuery != "" || u.Fragment != "" {
		return fmt.Errorf("--oidc-issuer %q is not an https URL", issuer)
	}
	switch u.Scheme {
	case "https":
		return nil
	case "http":
		host := u.Hostname()
		if ip := net.ParseIP(host); host == "localhost" || (ip != nil && ip.IsLoopback()) {
			return nil
		}
		return fmt.Errorf("--oidc-issuer %q: an http:// issuer is accepted only on this computer (127.0.0.1, ::1 or localhost); use https", issuer)
	}
	return fmt.Errorf("--oidc-issuer %q is not an https URL", issuer)
}

func splitList(s string) []string {
	var out []string
	for _, part := range strings.Split(s, ",") {
		if part = strings.TrimSpace(part); part != "" {
			out = append(out, part)
		}
	}
	return out
}

func listenHost(ln net.Listener) string {
	host, _, _ := net.SplitHostPort(ln.Addr().String())
	return host
}

func openBrowser(opts options, url string, logger *slog.Logger) {
	if opts.noBrowser {
		return
	}
	if err := browser.OpenURL(url); err != nil {
		logger.Warn("could not open a browser; open the address above yourself", "err", err)
	}
}

// instanceRecord is written beside the database so a second launch can find
// the running instance instead of waiting on bbolt's file lock.
type instanceRecord struct {
	URL   string `json:"url"`
	PID   int    `json:"pid"`
	Token string `json:"token"` // authorises the backup subcommand
}

func instanceFile(data string) string { return data + ".instance" }

func writeInstanceFile(data, url, token string) error {
	b, _ := json.Marshal(instanceRecord{URL: url, PID: os.Getpid(), Token: token})
	return os.WriteFile(instanceFile(data), b, 0o600)
}

// joinRunningInstance is the second launch: the data file is locked, so if
// a CQRS instance answers at the recorded address, open the browser on it.
func joinRunningInstance(ctx context.Context, opts options, stdout io.Writer) error {
	rec, err := readInstanceFile(opts.data)
	if err == nil && instanceAnswers(ctx, rec.URL) {
		fmt.Fprintf(stdout, "CQRS is already running at %s; opening it.\n", rec.URL)
		openBrowser(opts, rec.URL+"/", slog.New(slog.NewTextHandler(io.Discard, nil)))
		return nil
	}
	return fmt.Errorf("the data file %s is locked by another process, and no CQRS instance answers for it; stop that process or choose another file with --data", opts.data)
}

func instanceAnswers(ctx context.Context, baseURL string) bool {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, baseURL+"/healthz", nil)
	if err != nil {
		return false
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return false
	}
	defer resp.Body.Close()
	var body struct {
		Service string `json:"service"`
	}
	return resp.StatusCode == http.StatusOK && json.NewDecoder(io.LimitReader(resp.Body, 4096)).Decode(&body) == nil && body.Service == "cqrs-signin"
}

// checkPublicURL is --public-url without a trailing slash, or an error
// saying what is wrong with it. Plain http:// is accepted on this computer,
// or on a network only with --insecure-lan: passwords would cross it in
// clear.
func checkPublicURL(raw string, insecureLAN bool) (string, error) {
	if raw == "" {
		return "", nil
	}
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" || u.User != nil || u.RawQuery != "" || u.Fragment != "" || strings.Trim(u.Path, "/") != "" ||
		(u.Scheme != "https" && u.Scheme != "http") {
		return "", fmt.Errorf("--public-url %q: give the address people type, such as https://cqrs.example.nhs.uk (no path)", raw)
	}
	if u.Scheme == "http" && !insecureLAN {
		host := u.Hostname()
		if ip := net.ParseIP(host); host != "localhost" && (ip == nil || !ip.IsLoopback()) {
			return "", fmt.Errorf("--public-url %q: an http:// address sends passwords across the network in clear; use https (or add --insecure-lan to accept the risk)", raw)
		}
	}
	return u.Scheme + "://" + u.Host, nil
}

// parseTrustedProxies reads --trusted-proxies: addresses and CIDR ranges.
func parseTrustedProxies(s string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, part := range splitList(s) {
		if p, err := netip.ParsePrefix(part); err == nil {
			out = append(out, p.Masked())
			continue
		}
		a, err := netip.ParseAddr(part)
		if err != nil {
			return nil, fmt.Errorf("--trusted-proxies: %q is neither an address nor a CIDR range (such as 10.0.0.5 or 10.0.0.0/24)", part)
		}
		out = append(out, netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen()))
	}
	return out, nil
}

// secondFactorKey reads the key that seals authenticator secrets from
// path, making it (readable by this user only) at first use. It is kept
// out of the database, so a copy of the database or of a backup alone
// does not carry the secrets in a usable form.
func secondFactorKey(path string) ([]byte, error) {
	key, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		key = make([]byte, secret.SealKeyBytes)
		if _, err := rand.Read(key); err != nil {
			return nil, err
		}
		f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		if errors.Is(err, fs.ErrExist) { // another instance made it first
			return secondFactorKey(path)
		}
		if err != nil {
			return nil, fmt.Errorf("second-factor key: %w", err)
		}
		if _, err := f.Write(key); err != nil {
			f.Close()
			return nil, fmt.Errorf("second-factor key: %w", err)
		}
		if err := f.Close(); err != nil {
			return nil, fmt.Errorf("second-factor key: %w", err)
		}
		return key, nil
	}
	if err != nil {
		return nil, fmt.Errorf("second-factor key: %w", err)
	}
	if len(key) != secret.SealKeyBytes {
		return nil, fmt.Errorf("second-factor key: %s holds %d bytes, not %d: it is not a key this program made", path, len(key), secret.SealKeyBytes)
	}
	return key, nil
}
