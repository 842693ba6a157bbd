package handlers

import (
	"bytes"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/PuerkitoBio/goquery"
	"github.com/gofiber/fiber/v2"

	"github.com/cqrs-local/cqrs-signin/clock"
	"github.com/cqrs-local/cqrs-signin/secret"
	"github.com/cqrs-local/cqrs-signin/store"
)

const testHost = "127.0.0.1:8420"

// testParams keep handler tests quick; the algorithm and encoding are the
// real ones (the process and browser tests use the OWASP parameters).
var testParams = secret.Params{MemoryKiB: 1024, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32}

// testClock is a settable time source shared by the app and its store.
type testClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *testClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *testClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// storesOf is what main passes: the one engine as every journey's store.
func storesOf(st *store.Store) Stores {
	return Stores{Instance: st, Setup: st, Links: st, SignIn: st, Sessions: st, Accounts: st, Messages: st,
		UserAdmin: st, Organisations: st, AuditLog: st, Forgotten: st, Mailbox: st, SSO: st, NHSmailAdmin: st, HelpDesk: st}
}

// testEnv is the whole app on a real bbolt file in a temp dir.
type testEnv struct {
	t      testing.TB
	app    *fiber.App
	store  *store.Store
	clock  *testClock
	dbPath string
	logs   *bytes.Buffer
	hasher *secret.Hasher
	cfg    Config // as the app was built with
}

func newEnv(t testing.TB, adjust ...func(*Config)) *testEnv {
	t.Helper()
	clk := &testClock{now: time.Date(2026, 11, 2, 9, 0, 0, 0, time.UTC)}
	// The store and the app read one training clock over the test clock;
	// its offset stays 0 unless a training-mode test moves it.
	training := clock.New(clk.Now)
	path := filepath.Join(t.TempDir(), "cqrs.db")
	st, err := store.Open(path, store.Options{Now: training.Now})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := st.Check(); err != nil {
			t.Errorf("bbolt consistency check: %v", err)
		}
		st.Close()
	})
	cfg := DefaultConfig()
	cfg.Now, cfg.Clock = training.Now, training
	for _, f := range adjust {
		f(&cfg)
	}
	logs := &bytes.Buffer{}
	hasher := secret.NewHasher(testParams, 4, 5*time.Second)
	app, err := New(slog.New(slog.NewTextHandler(logs, nil)), cfg, Deps{Stores: storesOf(st), Backup: st, Training: st, Hasher: hasher})
	if err != nil {
		t.Fatal(err)
	}
	return &testEnv{t: t, app: app, store: st, clock: clk, dbPath: path, logs: logs, hasher: hasher, cfg: cfg}
}

// dbBytes is the raw database file, to prove refusals change nothing and
// that no password reaches the disk in clear.
func (e *testEnv) dbBytes() []byte {
	b, err := os.ReadFile(e.dbPath)
	if err != nil {
		e.t.Fatal(err)
	}
	return b
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
	id, err := e.store.InstanceID()
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
	key, err := e.store.CSRFKey()
	if err != nil {
		e.t.Fatal(err)
	}
	return (&app{csrfKey: key}).csrfToken(seed, "")
}
