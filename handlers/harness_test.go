package handlers

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/PuerkitoBio/goquery"
	"github.com/gofiber/fiber/v2"
	"github.com/jackc/pgx/v5"

	"github.com/cqrs-local/cqrs-signin/clock"
	"github.com/cqrs-local/cqrs-signin/clock/clocktest"
	"github.com/cqrs-local/cqrs-signin/cqrs"
	"github.com/cqrs-local/cqrs-signin/nhsmail"
	"github.com/cqrs-local/cqrs-signin/secret"
	"github.com/cqrs-local/cqrs-signin/store"
	"github.com/cqrs-local/cqrs-signin/store/postgres"
	"github.com/cqrs-local/cqrs-signin/store/storetest/pgtest"
)

const testHost = "127.0.0.1:8420"

// testParams keep handler tests quick; the algorithm and encoding are the
// real ones (the process and browser tests use the OWASP parameters).
var testParams = secret.Params{MemoryKiB: 1024, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32}

// testStore is the engine under a handler test, whichever it is: every
// journey's store (what main passes), the NHSmail simulator's directory,
// and main's own two calls.
type testStore interface {
	InstanceStore
	SetupStore
	LinkStore
	SignInStore
	SessionStore
	AccountStore
	MessageStore
	UserAdminStore
	OrganisationStore
	AuditStore
	ForgottenStore
	MailboxStore
	SSOStore
	NHSmailAdminStore
	HelpDeskStore
	SecondFactorStore
	NHSmailDirectory
	nhsmail.Directory
	SetSetupToken(ctx context.Context, hash []byte) error
	NHSmailClientSecret(ctx context.Context) (string, error)
	SystemAdminLink(ctx context.Context, linkHash []byte, registerTTL, resetTTL time.Duration, reset bool, events ...cqrs.AuditEvent) (cqrs.User, cqrs.Link, error)
}

// storesOf is what main passes: the one engine as every journey's store.
func storesOf(st testStore) Stores {
	return Stores{Setup: st, Links: st, SignIn: st, Sessions: st, Accounts: st, Messages: st,
		UserAdmin: st, Organisations: st, AuditLog: st, Forgotten: st, Mailbox: st, SSO: st, NHSmailAdmin: st, HelpDesk: st, SecondFactor: st}
}

// The engines the handler tests run on. TestMain runs every test on the
// bbolt file and, at the same time, on PostgreSQL (a schema of its own per
// test on $POSTGRES_TEST_URL) in child processes of this test binary: one
// `go test ./...` tries both, as CI runs it. $CQRS_TEST_ENGINE (bbolt or
// postgres) runs one engine only, in this process.
const (
	engineBolt     = "bbolt"
	enginePostgres = "postgres"
	engineEnv      = "CQRS_TEST_ENGINE"
)

// testEngine is the engine this process's tests run on.
var testEngine = engineBolt

// postgresShards is how many processes share the PostgreSQL pass: its
// tests mostly wait for the database, so they overlap well.
const postgresShards = 4

func TestMain(m *testing.M) {
	flag.Parse()
	switch os.Getenv(engineEnv) {
	case engineBolt:
		os.Exit(m.Run())
	case enginePostgres:
		testEngine = enginePostgres
		dropSchemas := pgtest.Reuse()
		code := m.Run()
		dropSchemas()
		os.Exit(code)
	}
	if !engineMatrix() {
		os.Exit(m.Run())
	}
	if os.Getenv(pgtest.URLEnv) == "" {
		code := m.Run()
		if pgtest.Required() {
			fmt.Printf("FAIL: %s is not set: CI must start PostgreSQL for the handler tests' PostgreSQL pass\n", pgtest.URLEnv)
			code = 1
		} else if testing.Verbose() {
			fmt.Printf("The handler tests' PostgreSQL pass is skipped: %s is not set\n", pgtest.URLEnv)
		}
		os.Exit(code)
	}
	postgresPass, err := startPostgresPass()
	if err != nil {
		fmt.Printf("FAIL: the PostgreSQL pass: %v\n", err)
		os.Exit(1)
	}
	code := m.Run()
	if c := postgresPass(); c != 0 {
		code = c
	}
	os.Exit(code)
}

// engineMatrix says whether this run tries the second engine: not when it
// lists tests, fuzzes or benchmarks (figures are the bbolt file's).
func engineMatrix() bool {
	for _, name := range []string{"test.list", "test.fuzz", "test.bench"} {
		if f := flag.Lookup(name); f != nil && f.Value.String() != "" {
			return false
		}
	}
	return true
}

// startPostgresPass starts this binary again on PostgreSQL, its tests
// shared among postgresShards processes (one when -run names subtests),
// and returns a function that waits for them, prints what they wrote and
// returns an exit code.
func startPostgresPass() (wait func() int, err error) {
	var args []string // this run's flags, less those for files of its own
	run := ""
	flag.Visit(func(f *flag.Flag) {
		switch f.Name {
		case "test.run":
			run = f.Value.String()
		case "test.testlogfile", "test.coverprofile", "test.cpuprofile", "test.memprofile", "test.blockprofile",
			"test.mutexprofile", "test.trace", "test.outputdir", "test.gocoverdir":
		case "test.v":
			args = append(args, "-test.v=true") // plain output, copied into this run's
		default:
			args = append(args, "-"+f.Name+"="+f.Value.String())
		}
	})
	shards := [][]string{nil}
	if !strings.Contains(run, "/") {
		list := run
		if list == "" {
			list = "."
		}
		out, err := exec.Command(os.Args[0], "-test.list", list).Output()
		if err != nil {
			return nil, fmt.Errorf("list the tests: %w", err)
		}
		shards = make([][]string, postgresShards)
		for i, name := range strings.Fields(string(out)) {
			if strings.HasPrefix(name, "Test") || strings.HasPrefix(name, "Fuzz") {
				shards[i%postgresShards] = append(shards[i%postgresShards], name)
			}
		}
	}
	type child struct {
		cmd *exec.Cmd
		out bytes.Buffer
	}
	var children []*child
	for _, names := range shards {
		shardArgs := args
		switch {
		case names != nil:
			shardArgs = append(slices.Clone(args), "-test.run=^("+strings.Join(names, "|")+")$")
		case len(shards) > 1:
			continue // an empty shard
		case run != "":
			shardArgs = append(slices.Clone(args), "-test.run="+run)
		}
		c := &child{cmd: exec.Command(os.Args[0], shardArgs...)}
		c.cmd.Env = append(os.Environ(), engineEnv+"="+enginePostgres)
		c.cmd.Stdout, c.cmd.Stderr = &c.out, &c.out
		if err := c.cmd.Start(); err != nil {
			return nil, err
		}
		children = append(children, c)
	}
	return func() int {
		code := 0
		for i, c := range children {
			err := c.cmd.Wait()
			if err != nil || testing.Verbose() {
				fmt.Printf("=== The handler tests on PostgreSQL (%d of %d)\n%s", i+1, len(children), c.out.String())
			}
			if err != nil {
				fmt.Printf("FAIL: the handler tests on PostgreSQL (%d of %d): %v\n", i+1, len(children), err)
				code = 1
			}
		}
		return code
	}, nil
}

// testEnv is the whole app on a real database: a bbolt file in a temp dir,
// or, in the PostgreSQL pass, a schema of its own.
type testEnv struct {
	t     testing.TB
	app   *App
	store testStore
	// file is the bbolt engine (its backups, its training side); nil on
	// PostgreSQL.
	file   *store.Store
	pg     *postgres.Store
	clock  *clocktest.Clock
	dbPath string // the bbolt file, or the PostgreSQL schema's address
	// dumpConn and dumpTables read the PostgreSQL schema for dbBytes.
	dumpConn   *pgx.Conn
	dumpTables []string
	logs       *bytes.Buffer
	hasher     *secret.Hasher
	cfg        Config // as the app was built with
}

// openTestStore opens the pass's engine on an empty database reading now.
func openTestStore(t testing.TB, now func() time.Time) (e *testEnv) {
	t.Helper()
	if testEngine == enginePostgres {
		t.Log("on PostgreSQL")
		dsn := pgtest.DSN(t)
		pg, err := postgres.Open(context.Background(), dsn, postgres.Options{Now: now})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { pg.Close() })
		return &testEnv{store: pg, pg: pg, dbPath: dsn}
	}
	path := filepath.Join(t.TempDir(), "cqrs.db")
	st, err := store.Open(path, store.Options{Now: now})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := st.Check(context.Background()); err != nil {
			t.Errorf("bbolt consistency check: %v", err)
		}
		st.Close()
	})
	return &testEnv{store: st, file: st, dbPath: path}
}

func newEnv(t testing.TB, adjust ...func(*Config)) *testEnv {
	t.Helper()
	clk := clocktest.New(time.Date(2026, 11, 2, 9, 0, 0, 0, time.UTC))
	// The store and the app read one training clock over the test clock;
	// its offset stays 0 unless a training-mode test moves it.
	training := clock.New(clk.Now)
	cfg := DefaultConfig()
	cfg.Now, cfg.Clock = training.Now, training
	for _, f := range adjust {
		f(&cfg)
	}
	if cfg.Training {
		bboltOnly(t, "training mode keeps its data in a database file (main refuses --training with --database)")
	}
	e := openTestStore(t, training.Now)
	logs := &bytes.Buffer{}
	hasher := secret.NewHasher(testParams, 4, 5*time.Second)
	e.t, e.clock, e.logs, e.hasher, e.cfg = t, clk, logs, hasher, cfg
	e.app = e.start(slog.New(slog.NewTextHandler(logs, nil)), cfg, e.deps(Deps{Hasher: hasher}))
	return e
}

// start builds the app as main does: New, which reads nothing, then its
// start-up reading and writing (training mode's seed data and clock).
func (e *testEnv) start(logger *slog.Logger, cfg Config, deps Deps) *App {
	e.t.Helper()
	app, err := New(logger, cfg, deps)
	if err != nil {
		e.t.Fatal(err)
	}
	if err := app.Prepare(context.Background()); err != nil {
		e.t.Fatal(err)
	}
	return app
}

// bboltOnly skips the rest of t in the PostgreSQL pass: what it tests is
// the bbolt file's alone.
func bboltOnly(t testing.TB, why string) {
	t.Helper()
	if testEngine != engineBolt {
		t.Skip("the bbolt file's alone: " + why)
	}
}

// deps is d with the installation's secrets and the engine as every
// journey's store, and as main passes them, the bbolt file's backups and
// training side.
func (e *testEnv) deps(d Deps) Deps {
	d.Instance = e.instance()
	d.Stores = storesOf(e.store)
	if e.file != nil {
		d.Backup, d.Training = e.file, e.file
	}
	return d
}

// instance is the installation's secrets, as main reads them.
func (e *testEnv) instance() Instance {
	e.t.Helper()
	in, err := LoadInstance(context.Background(), e.store)
	if err != nil {
		e.t.Fatal(err)
	}
	return in
}

// training is the bbolt file's training side (nil on PostgreSQL).
func (e *testEnv) training() TrainingStore {
	if e.file == nil {
		return nil
	}
	return e.file
}

// dbBytes is everything the database holds, to prove refusals change
// nothing and that no password reaches it in clear: the bbolt file's
// bytes, or every row of the PostgreSQL schema, table by table.
func (e *testEnv) dbBytes() []byte {
	if e.pg != nil {
		return e.pgDump()
	}
	b, err := os.ReadFile(e.dbPath)
	if err != nil {
		e.t.Fatal(err)
	}
	return b
}

// pgDump is every row of every table in the test's schema, as text, in a
// stable order, read in one round trip on a connection kept for the test.
func (e *testEnv) pgDump() []byte {
	e.t.Helper()
	ctx := context.Background()
	if e.dumpConn == nil {
		conn, err := pgx.Connect(ctx, e.dbPath)
		if err != nil {
			e.t.Fatal(err)
		}
		e.t.Cleanup(func() { conn.Close(ctx) })
		rows, err := conn.Query(ctx, `SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema() ORDER BY table_name`)
		if err != nil {
			e.t.Fatal(err)
		}
		if e.dumpTables, err = pgx.CollectRows(rows, pgx.RowTo[string]); err != nil {
			e.t.Fatal(err)
		}
		e.dumpConn = conn
	}
	var (
		b   pgx.Batch
		out bytes.Buffer
	)
	for _, table := range e.dumpTables {
		b.Queue(`SELECT t::text FROM ` + pgx.Identifier{table}.Sanitize() + ` t ORDER BY 1`).Query(func(rows pgx.Rows) error {
			lines, err := pgx.CollectRows(rows, pgx.RowTo[string])
			fmt.Fprintf(&out, "%s\n%s\n", table, strings.Join(lines, "\n"))
			return err
		})
	}
	if err := e.dumpConn.SendBatch(ctx, &b).Close(); err != nil {
		e.t.Fatal(err)
	}
	return out.Bytes()
}

// serve runs the app on a real loopback listener, for what app.Test
// cannot show (fasthttp's own body limit and timeouts).
func (e *testEnv) serve() string {
	e.t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		e.t.Fatal(err)
	}
	go e.app.Listener(ln)
	e.t.Cleanup(func() { e.app.ShutdownWithTimeout(5 * time.Second) })
	return "http://" + ln.Addr().String()
}

// over sends the request over the real listener with c's cookies.
func (c *client) over(base, method, path, body string, opts ...reqOpt) response {
	c.env.t.Helper()
	req, err := http.NewRequest(method, base+path, strings.NewReader(body))
	if err != nil {
		c.env.t.Fatal(err)
	}
	req.Host = c.host
	for _, o := range opts {
		o(req)
	}
	at := c.jarURL(req)
	for _, ck := range c.jar.Cookies(at) {
		req.AddCookie(ck)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		c.env.t.Fatalf("%s %s: %v", method, path, err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	c.jar.SetCookies(at, resp.Cookies())
	return response{Response: resp, body: string(b)}
}

// client is a browser stand-in: a cookie jar (net/http/cookiejar, so Path,
// expiry and host scope are honoured as a browser honours them) and the
// app's Host header.
type client struct {
	env  *testEnv
	jar  *cookiejar.Jar
	host string
}

func (e *testEnv) client() *client {
	jar, err := cookiejar.New(nil)
	if err != nil {
		e.t.Fatal(err)
	}
	return &client{env: e, jar: jar, host: testHost}
}

// replayer is another client holding the cookies c would send to path
// now, as an attacker replaying them holds them: what c's answers set
// later does not reach it.
func (c *client) replayer(path string) *client {
	r := c.env.client()
	r.host = c.host
	at := &url.URL{Scheme: c.scheme(), Host: c.host, Path: path}
	r.jar.SetCookies(at, c.jar.Cookies(at))
	return r
}

// jarURL is the address the jar files req's cookies under: the Host the
// request names (which may differ from where it is sent) and its path.
func (c *client) jarURL(req *http.Request) *url.URL {
	return &url.URL{Scheme: c.scheme(), Host: req.Host, Path: req.URL.Path}
}

// scheme is the scheme the browser uses: https under TLS, so the jar keeps
// and sends Secure cookies as a browser does.
func (c *client) scheme() string {
	if c.env.cfg.Secure {
		return "https"
	}
	return "http"
}

// cookieAt is the value c would send to path for the app's cookie called
// name (its plain name; the browser keeps it under the instance's name).
func (c *client) cookieAt(path, name string) string {
	for _, ck := range c.jar.Cookies(&url.URL{Scheme: c.scheme(), Host: c.host, Path: path}) {
		if ck.Name == c.env.cookieName(name) {
			return ck.Value
		}
	}
	return ""
}

// cookie is cookieAt for the whole site ("/").
func (c *client) cookie(name string) string { return c.cookieAt("/", name) }

// setCookie puts a cookie for the whole site into c's jar, as a browser
// holding that value would send it (the CSRF seed, a stolen session).
func (c *client) setCookie(name, value string) {
	c.jar.SetCookies(&url.URL{Scheme: c.scheme(), Host: c.host, Path: "/"},
		[]*http.Cookie{{Name: c.env.cookieName(name), Value: value, Path: "/"}})
}

// cookieName is the name the app's cookie called base has in the browser:
// it carries the instance id (see namespaceCookies).
func (e *testEnv) cookieName(base string) string {
	id, err := e.store.InstanceID(context.Background())
	if err != nil {
		e.t.Fatal(err)
	}
	return instanceCookieName(base, id, e.cfg.Secure, "/")
}

type response struct {
	*http.Response
	body string
}

func (r response) doc(t testing.TB) *goquery.Document {
	t.Helper()
	d, err := goquery.NewDocumentFromReader(strings.NewReader(r.body))
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// request options
type reqOpt func(*http.Request)

func header(k, v string) reqOpt { return func(r *http.Request) { r.Header.Set(k, v) } }
func host(h string) reqOpt      { return func(r *http.Request) { r.Host = h } }

func (c *client) get(path string, opts ...reqOpt) response {
	return c.do(http.MethodGet, path, "", opts...)
}

// post sends a form; the CSRF token is the caller's to include.
func (c *client) post(path string, form url.Values, opts ...reqOpt) response {
	opts = append([]reqOpt{header("Content-Type", fiber.MIMEApplicationForm)}, opts...)
	return c.do(http.MethodPost, path, form.Encode(), opts...)
}

func (c *client) do(method, path, body string, opts ...reqOpt) response {
	c.env.t.Helper()
	req := httptest.NewRequest(method, path, strings.NewReader(body))
	req.Host = c.host
	for _, o := range opts {
		o(req)
	}
	at := c.jarURL(req)
	for _, ck := range c.jar.Cookies(at) {
		req.AddCookie(ck)
	}
	resp, err := c.env.app.Test(req, -1)
	if err != nil {
		c.env.t.Fatalf("%s %s: %v", method, path, err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	c.jar.SetCookies(at, resp.Cookies())
	return response{Response: resp, body: string(b)}
}

// csrf fetches a page and returns the token its forms carry.
func (c *client) csrf(path string) string {
	c.env.t.Helper()
	r := c.get(path)
	if r.StatusCode == 303 { // e.g. /login when already signed in
		r = c.get(r.Header.Get("Location"))
	}
	token, ok := r.doc(c.env.t).Find(`input[name="csrf_token"]`).First().Attr("value")
	if !ok || token == "" {
		c.env.t.Fatalf("GET %s (%d): no CSRF token in page", path, r.StatusCode)
	}
	return token
}

func wantStatus(t testing.TB, r response, want int) {
	t.Helper()
	if r.StatusCode != want {
		t.Fatalf("status = %d, want %d; body:\n%s", r.StatusCode, want, excerpt(r.body))
	}
}

func wantText(t testing.TB, r response, texts ...string) {
	t.Helper()
	for _, s := range texts {
		if !strings.Contains(r.body, s) {
			t.Errorf("body lacks %q; body:\n%s", s, excerpt(r.body))
		}
	}
}

func excerpt(s string) string {
	if len(s) > 3000 {
		return s[:3000] + "…"
	}
	return s
}

func nilLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// cfgForRebuild is the config the env was built with, for tests that
// rebuild the app with other dependencies.
func (e *testEnv) cfgForRebuild() Config {
	cfg := DefaultConfig()
	cfg.Now = e.clock.Now
	cfg.SignInRateLimit = 0
	return cfg
}

// csrfFor is the token the app expects for a browser with this CSRF seed
// and no session.
func (e *testEnv) csrfFor(seed string) string {
	key, err := e.store.CSRFKey(context.Background())
	if err != nil {
		e.t.Fatal(err)
	}
	return (&app{csrfKey: key}).csrfToken(seed, "")
}
