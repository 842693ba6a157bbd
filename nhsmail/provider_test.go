package nhsmail

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/PuerkitoBio/goquery"
	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"

	"github.com/cqrs-local/cqrs-signin/clock/clocktest"
	"github.com/cqrs-local/cqrs-signin/cqrs"
	"github.com/cqrs-local/cqrs-signin/secret"
	"github.com/cqrs-local/cqrs-signin/store"
)

// cheap keeps argon2id quick in tests; the algorithm is the real one.
var cheap = secret.Params{MemoryKiB: 1024, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32}

const (
	password      = "Correct-Horse-42"
	clientID      = "cqrs"
	callbackPath  = "/callback"
	wantIncorrect = "Incorrect user ID or password. Type the correct user ID and password, and try again."
)

// countingHasher counts password checks, to show that unknown emails are
// checked (against a dummy hash) like known ones.
type countingHasher struct {
	*secret.Hasher
	verifies atomic.Int32
}

func (h *countingHasher) Verify(ctx context.Context, pw, encoded string) (bool, error) {
	h.verifies.Add(1)
	return h.Hasher.Verify(ctx, pw, encoded)
}

// env is the provider on a real bbolt file behind a real HTTP server, and a
// relying party built the way CQRS builds one: go-oidc and x/oauth2.
type env struct {
	t        *testing.T
	store    *store.Store
	dbPath   string
	clock    *clocktest.Clock
	hasher   *countingHasher
	srv      *httptest.Server
	provider *atomic.Pointer[Provider]
	issuer   string
	redirect string
	secret   string

	oidc     *oidc.Provider
	oauth    oauth2.Config
	verifier *oidc.IDTokenVerifier
	browser  *http.Client // cookie jar, never follows redirects
	accounts map[string]cqrs.NHSmailAccount
}

func newEnv(t *testing.T) *env {
	t.Helper()
	e := &env{t: t, provider: new(atomic.Pointer[Provider]), clock: clocktest.New(time.Date(2026, 11, 2, 9, 0, 0, 0, time.UTC)), accounts: map[string]cqrs.NHSmailAccount{}}
	e.dbPath = filepath.Join(t.TempDir(), "cqrs.db")
	st, err := store.Open(e.dbPath, store.Options{Now: e.clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := e.store.Check(context.Background()); err != nil {
			t.Errorf("consistency check: %v", err)
		}
		e.store.Close()
	})
	e.store = st
	e.hasher = &countingHasher{Hasher: secret.NewHasher(cheap, 2, 5*time.Second)}
	e.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == callbackPath {
			http.Error(w, "the test reads the code from the redirect", http.StatusTeapot)
			return
		}
		e.provider.Load().ServeHTTP(w, r)
	}))
	t.Cleanup(e.srv.Close)
	e.issuer = e.srv.URL + "/nhsmail"
	e.redirect = e.srv.URL + callbackPath
	if e.secret, err = st.NHSmailClientSecret(t.Context()); err != nil {
		t.Fatal(err)
	}
	e.restart()

	ctx := e.ctx()
	if e.oidc, err = oidc.NewProvider(ctx, e.issuer); err != nil {
		t.Fatalf("discovery: %v", err)
	}
	e.oauth = oauth2.Config{
		ClientID:     clientID,
		ClientSecret: e.secret,
		RedirectURL:  e.redirect,
		Endpoint:     e.oidc.Endpoint(),
		Scopes:       []string{oidc.ScopeOpenID, "email", "profile"},
	}
	e.verifier = e.oidc.Verifier(&oidc.Config{ClientID: clientID, Now: time.Now})
	e.browser = e.newBrowser()

	e.addAccount("Sam.Patel@nhs.net", "Sam", "Patel", func(a *cqrs.NHSmailAccount) {})
	e.addAccount("disabled@nhs.net", "Dee", "Sabled", func(a *cqrs.NHSmailAccount) { a.Disabled = true })
	e.addAccount("locked@nhs.net", "Lou", "Locked", func(a *cqrs.NHSmailAccount) { a.Locked = true })
	e.addAccount("consent@nhs.net", "Con", "Sent", func(a *cqrs.NHSmailAccount) { a.ConsentRequired = true })
	return e
}

// with is e reporting to a subtest's t.
func (e *env) with(t *testing.T) *env {
	c := *e
	c.t = t
	return &c
}

// restart builds a new provider on the same store, as a new process would.
func (e *env) restart() *Provider {
	e.t.Helper()
	p, err := New(e.t.Context(), slog.New(slog.DiscardHandler), Config{
		Issuer:       e.issuer,
		ClientID:     clientID,
		ClientSecret: e.secret,
		RedirectURIs: []string{e.redirect},
		Now:          e.clock.Now,
	}, e.store, e.hasher)
	if err != nil {
		e.t.Fatal(err)
	}
	e.provider.Store(p)
	return p
}

// restartProcess closes the database and opens it again before building a
// new provider: what a restart of the app does to the simulator.
func (e *env) restartProcess() {
	e.t.Helper()
	if err := e.store.Close(); err != nil {
		e.t.Fatal(err)
	}
	st, err := store.Open(e.dbPath, store.Options{Now: e.clock.Now})
	if err != nil {
		e.t.Fatal(err)
	}
	e.store = st
	e.restart()
}

func (e *env) ctx() context.Context {
	return oidc.ClientContext(context.Background(), e.srv.Client())
}

func (e *env) newBrowser() *http.Client {
	jar, _ := cookiejar.New(nil)
	return &http.Client{
		Jar: jar,
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		},
	}
}

func (e *env) addAccount(email, first, last string, adjust func(*cqrs.NHSmailAccount)) {
	e.t.Helper()
	hash, err := e.hasher.Hash(context.Background(), password)
	if err != nil {
		e.t.Fatal(err)
	}
	a := cqrs.NHSmailAccount{Email: email, FirstName: first, LastName: last, PasswordHash: hash}
	adjust(&a)
	created, err := e.store.CreateNHSmailAccount(e.t.Context(), a)
	if err != nil {
		e.t.Fatal(err)
	}
	if a.Disabled || a.Locked || a.ConsentRequired {
		if err := e.store.SetNHSmailFlags(e.t.Context(), created.ID, a.Disabled, a.Locked, a.ConsentRequired); err != nil {
			e.t.Fatal(err)
		}
	}
	e.accounts[strings.ToLower(email)] = created
}

// attempt is one sign-in as the relying party starts it.
type attempt struct {
	state, nonce, verifier string
	url                    string
}

func (e *env) start(opts ...oauth2.AuthCodeOption) attempt {
	a := attempt{state: secret.NewToken(), nonce: secret.NewToken(), verifier: oauth2.GenerateVerifier()}
	opts = append([]oauth2.AuthCodeOption{oidc.Nonce(a.nonce), oauth2.S256ChallengeOption(a.verifier)}, opts...)
	a.url = e.oauth.AuthCodeURL(a.state, opts...)
	return a
}

// page is a response with its body read.
type page struct {
	status int
	header http.Header
	body   string
	doc    *goquery.Document
}

func (p page) testid(id string) *goquery.Selection {
	return p.doc.Find(`[data-testid="` + id + `"]`)
}

func (e *env) do(client *http.Client, req *http.Request) page {
	e.t.Helper()
	resp, err := client.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	doc, _ := goquery.NewDocumentFromReader(strings.NewReader(string(b)))
	return page{status: resp.StatusCode, header: resp.Header, body: string(b), doc: doc}
}

func (e *env) get(client *http.Client, u string) page {
	e.t.Helper()
	req, _ := http.NewRequest(http.MethodGet, u, nil)
	return e.do(client, req)
}

func (e *env) post(client *http.Client, u string, form url.Values, header ...string) page {
	e.t.Helper()
	req, _ := http.NewRequest(http.MethodPost, u, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	return e.do(client, req)
}

// signInForm opens the sign-in page of an attempt and returns the form's
// hidden fields.
func (e *env) signInForm(client *http.Client, a attempt) url.Values {
	e.t.Helper()
	pg := e.get(client, a.url)
	if pg.status != http.StatusOK {
		e.t.Fatalf("authorize: status %d, Location %q, body %s", pg.status, pg.header.Get("Location"), pg.body)
	}
	if got := strings.TrimSpace(pg.testid("nhsmail-heading").Text()); got != "Sign in with your NHSmail account" {
		e.t.Fatalf("heading %q", got)
	}
	form := url.Values{}
	pg.doc.Find(`form[data-testid="nhsmail-form"] input[type="hidden"]`).Each(func(_ int, s *goquery.Selection) {
		form.Set(s.AttrOr("name", ""), s.AttrOr("value", ""))
	})
	if form.Get("csrf_token") == "" || form.Get("query") == "" {
		e.t.Fatalf("hidden fields missing: %v", form)
	}
	return form
}

func (e *env) submit(client *http.Client, a attempt, email, pw string, private bool) page {
	e.t.Helper()
	form := e.signInForm(client, a)
	form.Set("email", email)
	form.Set("password", pw)
	if private {
		form.Set("private", "yes")
	}
	return e.post(client, e.issuer+"/authorize", form)
}

// codeFrom reads the code from a redirect to the callback and checks the
// state came back.
func (e *env) codeFrom(pg page, a attempt) string {
	e.t.Helper()
	if pg.status != http.StatusSeeOther && pg.status != http.StatusFound {
		e.t.Fatalf("want a redirect to the callback, got %d: %s", pg.status, pg.body)
	}
	loc, err := url.Parse(pg.header.Get("Location"))
	if err != nil || !strings.HasPrefix(loc.String(), e.redirect+"?") {
		e.t.Fatalf("Location %q is not the callback", pg.header.Get("Location"))
	}
	q := loc.Query()
	if q.Get("error") != "" {
		e.t.Fatalf("callback got error %q: %s", q.Get("error"), q.Get("error_description"))
	}
	if q.Get("state") != a.state {
		e.t.Fatalf("state %q, want %q", q.Get("state"), a.state)
	}
	if q.Get("code") == "" {
		e.t.Fatal("no code")
	}
	return q.Get("code")
}

func (e *env) callbackError(pg page, a attempt) string {
	e.t.Helper()
	loc, err := url.Parse(pg.header.Get("Location"))
	if err != nil || !strings.HasPrefix(loc.String(), e.redirect+"?") {
		e.t.Fatalf("status %d, Location %q is not the callback: %s", pg.status, pg.header.Get("Location"), pg.body)
	}
	if got := loc.Query().Get("state"); got != a.state {
		e.t.Fatalf("error redirect state %q, want %q", got, a.state)
	}
	if loc.Query().Get("code") != "" {
		e.t.Fatal("an error redirect carried a code")
	}
	return loc.Query().Get("error")
}

type idClaims struct {
	Email             string `json:"email"`
	EmailVerified     bool   `json:"email_verified"`
	PreferredUsername string `json:"preferred_username"`
	Name              string `json:"name"`
	GivenName         string `json:"given_name"`
	FamilyName        string `json:"family_name"`
	TID               string `json:"tid"`
	OID               string `json:"oid"`
}

// exchange swaps a code for tokens and verifies the ID token as CQRS does.
func (e *env) exchange(code string, a attempt) (*oauth2.Token, *oidc.IDToken, idClaims) {
	e.t.Helper()
	tok, err := e.oauth.Exchange(e.ctx(), code, oauth2.VerifierOption(a.verifier))
	if err != nil {
		e.t.Fatalf("exchange: %v", err)
	}
	raw, ok := tok.Extra("id_token").(string)
	if !ok {
		e.t.Fatal("no id_token in the token response")
	}
	idt, err := e.verifier.Verify(e.ctx(), raw)
	if err != nil {
		e.t.Fatalf("verify ID token: %v", err)
	}
	if idt.Nonce != a.nonce {
		e.t.Fatalf("nonce %q, want %q", idt.Nonce, a.nonce)
	}
	var c idClaims
	if err := idt.Claims(&c); err != nil {
		e.t.Fatal(err)
	}
	return tok, idt, c
}

func exchangeError(t *testing.T, err error) string {
	t.Helper()
	var re *oauth2.RetrieveError
	if !errors.As(err, &re) {
		t.Fatalf("exchange error %v is not a token endpoint refusal", err)
	}
	return re.ErrorCode
}

func TestDiscoveryDocumentAndJWKS(t *testing.T) {
	e := newEnv(t)
	pg := e.get(http.DefaultClient, e.issuer+"/.well-known/openid-configuration")
	if pg.status != http.StatusOK || !strings.HasPrefix(pg.header.Get("Content-Type"), "application/json") {
		t.Fatalf("discovery: %d %s", pg.status, pg.header.Get("Content-Type"))
	}
	var d map[string]any
	if err := json.Unmarshal([]byte(pg.body), &d); err != nil {
		t.Fatal(err)
	}
	for key, want := range map[string]string{
		"issuer":                 e.issuer,
		"authorization_endpoint": e.issuer + "/authorize",
		"token_endpoint":         e.issuer + "/token",
		"userinfo_endpoint":      e.issuer + "/userinfo",
		"jwks_uri":               e.issuer + "/jwks",
	} {
		if d[key] != want {
			t.Errorf("%s = %v, want %s", key, d[key], want)
		}
	}
	for key, want := range map[string][]string{
		"response_types_supported":              {"code"},
		"id_token_signing_alg_values_supported": {"RS256"},
		"scopes_supported":                      {"openid", "email", "profile"},
		"token_endpoint_auth_methods_supported": {"client_secret_basic", "client_secret_post"},
		"code_challenge_methods_supported":      {"S256"},
	} {
		got, _ := json.Marshal(d[key])
		if wantJSON, _ := json.Marshal(want); string(got) != string(wantJSON) {
			t.Errorf("%s = %s, want %s", key, got, wantJSON)
		}
	}
	for _, c := range []string{"sub", "tid", "oid", "email", "preferred_username", "name"} {
		if !strings.Contains(pg.body, `"`+c+`"`) {
			t.Errorf("claims_supported lacks %s", c)
		}
	}

	pg = e.get(http.DefaultClient, e.issuer+"/jwks")
	var set struct {
		Keys []map[string]any `json:"keys"`
	}
	if err := json.Unmarshal([]byte(pg.body), &set); err != nil || len(set.Keys) != 1 {
		t.Fatalf("jwks: %v %s", err, pg.body)
	}
	k := set.Keys[0]
	if k["kty"] != "RSA" || k["alg"] != "RS256" || k["use"] != "sig" || k["kid"] == "" || k["d"] != nil {
		t.Fatalf("jwks key %v", k)
	}
}

func TestFullRoundTripAndSessionReuse(t *testing.T) {
	e := newEnv(t)
	sam := e.accounts["sam.patel@nhs.net"]

	// The sign-in page, as the documents show it.
	a := e.start()
	pg := e.get(e.browser, a.url)
	if pg.status != http.StatusOK {
		t.Fatalf("authorize: %d %s", pg.status, pg.body)
	}
	for _, id := range []string{"nhsmail-heading", "nhsmail-email", "nhsmail-password", "nhsmail-private", "nhsmail-submit", "nhsmail-help"} {
		if pg.testid(id).Length() != 1 {
			t.Errorf("sign-in page lacks %s", id)
		}
	}
	for _, text := range []string{"Email Address", "Password", "This is a private computer", "Sign in",
		"Unlock Account or Forgotten Password?", "NHSmail simulator — a stand-in for NHSmail inside this CQRS system. Do not enter your real NHSmail password."} {
		if !strings.Contains(pg.doc.Text(), text) {
			t.Errorf("sign-in page lacks %q", text)
		}
	}
	// Outside training mode nothing calls this a training system.
	if strings.Contains(strings.ToLower(pg.doc.Text()), "training") {
		t.Error("the sign-in page speaks of training outside training mode")
	}
	if got := strings.TrimSpace(pg.testid("nhsmail-help").Text()); got != "Click here." {
		t.Errorf("help link text %q", got)
	}
	if pg.testid("nhsmail-error").Length() != 0 {
		t.Error("a fresh page shows an error")
	}
	if pg.doc.Find("script, style, [style]").Length() != 0 {
		t.Error("the page has inline script or style")
	}
	if csp := pg.header.Get("Content-Security-Policy"); !strings.Contains(csp, "script-src 'self'") || pg.header.Get("X-Frame-Options") != "DENY" {
		t.Errorf("security headers: CSP %q, XFO %q", csp, pg.header.Get("X-Frame-Options"))
	}
	help := e.get(e.browser, e.srv.URL+pg.testid("nhsmail-help").AttrOr("href", ""))
	if help.status != http.StatusOK || !strings.Contains(help.body, "NHSmail portal") || !strings.Contains(help.body, "CQRS system administrator") {
		t.Errorf("help page: %d %s", help.status, help.body)
	}

	// Sign in (email typed in another case), on a private computer.
	resp := e.submit(e.browser, a, "SAM.PATEL@nhs.net", password, true)
	code := e.codeFrom(resp, a)
	var sessionCookie *http.Cookie
	for _, c := range (&http.Response{Header: resp.header}).Cookies() {
		if c.Name == SessionCookie {
			sessionCookie = c
		}
	}
	if sessionCookie == nil || sessionCookie.MaxAge != int(SessionLifespan/time.Second) || !sessionCookie.HttpOnly ||
		sessionCookie.Path != "/nhsmail" || sessionCookie.SameSite != http.SameSiteLaxMode {
		t.Fatalf("private-computer session cookie: %+v", sessionCookie)
	}

	tok, idt, c := e.exchange(code, a)
	if idt.Subject != sam.ObjectID || c.OID != sam.ObjectID || c.TID != sam.TenantID || c.TID == "" {
		t.Errorf("sub %q oid %q tid %q; want %q and tenant %q", idt.Subject, c.OID, c.TID, sam.ObjectID, sam.TenantID)
	}
	if c.Email != "Sam.Patel@nhs.net" || !c.EmailVerified || c.PreferredUsername != "Sam.Patel@nhs.net" ||
		c.Name != "Sam Patel" || c.GivenName != "Sam" || c.FamilyName != "Patel" {
		t.Errorf("profile claims %+v", c)
	}
	if idt.Issuer != e.issuer || len(idt.Audience) != 1 || idt.Audience[0] != clientID {
		t.Errorf("iss %q aud %v", idt.Issuer, idt.Audience)
	}

	info, err := e.oidc.UserInfo(e.ctx(), oauth2.StaticTokenSource(tok))
	if err != nil {
		t.Fatalf("userinfo: %v", err)
	}
	var ic idClaims
	info.Claims(&ic)
	if info.Subject != sam.ObjectID || info.Email != "Sam.Patel@nhs.net" || ic.TID != sam.TenantID || ic.Name != "Sam Patel" {
		t.Errorf("userinfo %+v %+v", info, ic)
	}

	// The same browser signs in again without the page.
	a2 := e.start()
	code2 := e.codeFrom(e.get(e.browser, a2.url), a2)
	if _, idt2, _ := e.exchange(code2, a2); idt2.Subject != sam.ObjectID {
		t.Errorf("second sign-in subject %q", idt2.Subject)
	}

	// prompt=login asks for the password even so, and still signs in.
	a3 := e.start(oauth2.SetAuthURLParam("prompt", "login"))
	e.codeFrom(e.submit(e.browser, a3, "sam.patel@nhs.net", password, false), a3)

	// A replayed code is refused, and the tokens it gave are revoked.
	_, err = e.oauth.Exchange(e.ctx(), code, oauth2.VerifierOption(a.verifier))
	if got := exchangeError(t, err); got != "invalid_grant" {
		t.Errorf("replayed code: %q, want invalid_grant", got)
	}
	if _, err := e.oidc.UserInfo(e.ctx(), oauth2.StaticTokenSource(tok)); err == nil {
		t.Error("the access token of a replayed code still opens userinfo")
	}
}

func TestSessionCookieWithoutPrivateComputer(t *testing.T) {
	e := newEnv(t)
	a := e.start()
	resp := e.submit(e.browser, a, "sam.patel@nhs.net", password, false)
	e.codeFrom(resp, a)
	raw := ""
	for _, v := range resp.header.Values("Set-Cookie") {
		if strings.HasPrefix(v, SessionCookie+"=") {
			raw = v
		}
	}
	if raw == "" || strings.Contains(raw, "Max-Age") || strings.Contains(raw, "Expires") {
		t.Fatalf("session cookie %q should last only as long as the browser", raw)
	}
	// The server record still ends after 12 hours.
	e.clock.Advance(SessionLifespan)
	a2 := e.start()
	if pg := e.get(e.browser, a2.url); pg.status != http.StatusOK || pg.testid("nhsmail-heading").Length() != 1 {
		t.Fatalf("after 12 hours: %d %s", pg.status, pg.header.Get("Location"))
	}
}

func TestTokenEndpointRefusals(t *testing.T) {
	e := newEnv(t)
	first := e.start()
	e.exchange(e.codeFrom(e.submit(e.browser, first, "sam.patel@nhs.net", password, true), first), first)
	fresh := func(e *env) (attempt, string) {
		a := e.start()
		return a, e.codeFrom(e.get(e.browser, a.url), a)
	}

	t.Run("wrong client secret", func(t *testing.T) {
		e := e.with(t)
		a, code := fresh(e)
		bad := e.oauth
		bad.ClientSecret = "not-the-secret"
		_, err := bad.Exchange(e.ctx(), code, oauth2.VerifierOption(a.verifier))
		if got := exchangeError(t, err); got != "invalid_client" {
			t.Errorf("got %q, want invalid_client", got)
		}
	})
	t.Run("no client secret", func(t *testing.T) {
		e := e.with(t)
		a, code := fresh(e)
		form := url.Values{"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {e.redirect}, "client_id": {clientID}, "code_verifier": {a.verifier}}
		pg := e.post(http.DefaultClient, e.issuer+"/token", form)
		if pg.status != http.StatusUnauthorized || !strings.Contains(pg.body, "invalid_client") {
			t.Errorf("got %d %s", pg.status, pg.body)
		}
	})
	t.Run("client_secret_post works", func(t *testing.T) {
		e := e.with(t)
		a, code := fresh(e)
		post := e.oauth
		post.Endpoint.AuthStyle = oauth2.AuthStyleInParams
		if _, err := post.Exchange(e.ctx(), code, oauth2.VerifierOption(a.verifier)); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("wrong PKCE verifier", func(t *testing.T) {
		e := e.with(t)
		_, code := fresh(e)
		_, err := e.oauth.Exchange(e.ctx(), code, oauth2.VerifierOption(oauth2.GenerateVerifier()))
		if got := exchangeError(t, err); got != "invalid_grant" {
			t.Errorf("got %q, want invalid_grant", got)
		}
	})
	t.Run("no PKCE verifier", func(t *testing.T) {
		e := e.with(t)
		_, code := fresh(e)
		_, err := e.oauth.Exchange(e.ctx(), code)
		if got := exchangeError(t, err); got != "invalid_grant" && got != "invalid_request" {
			t.Errorf("got %q", got)
		}
	})
	t.Run("expired code", func(t *testing.T) {
		e := e.with(t)
		// The provider's storage checks a code's age against its clock,
		// which the test moves.
		a, code := fresh(e)
		e.clock.Advance(CodeLifespan + time.Second)
		defer e.clock.Advance(-CodeLifespan - time.Second)
		_, err := e.oauth.Exchange(e.ctx(), code, oauth2.VerifierOption(a.verifier))
		if got := exchangeError(t, err); got != "invalid_grant" {
			t.Errorf("got %q, want invalid_grant", got)
		}
	})
	t.Run("code a second before expiry", func(t *testing.T) {
		e := e.with(t)
		a, code := fresh(e)
		e.clock.Advance(CodeLifespan - time.Second)
		defer e.clock.Advance(-CodeLifespan + time.Second)
		if _, err := e.oauth.Exchange(e.ctx(), code, oauth2.VerifierOption(a.verifier)); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("userinfo without a token", func(t *testing.T) {
		e := e.with(t)
		pg := e.get(http.DefaultClient, e.issuer+"/userinfo")
		if pg.status != http.StatusUnauthorized || !strings.Contains(pg.header.Get("WWW-Authenticate"), "invalid_token") {
			t.Errorf("got %d %v", pg.status, pg.header)
		}
	})
	t.Run("expired access token", func(t *testing.T) {
		e := e.with(t)
		a, code := fresh(e)
		tok, _, _ := e.exchange(code, a)
		e.clock.Advance(AccessTokenLifespan)
		defer e.clock.Advance(-AccessTokenLifespan)
		if _, err := e.oidc.UserInfo(e.ctx(), oauth2.StaticTokenSource(tok)); err == nil {
			t.Error("an expired access token opened userinfo")
		}
		wantBearerChallenge(t, e, tok.AccessToken)
	})
	t.Run("forged access token", func(t *testing.T) {
		wantBearerChallenge(t, e.with(t), "not-a-token-this-provider-issued")
	})
}

func TestSignInFailures(t *testing.T) {
	e := newEnv(t)
	cases := []struct {
		name, email, password string
		status                int
		want                  string
	}{
		{"wrong password", "sam.patel@nhs.net", "Wrong-Horse-42", http.StatusUnauthorized, wantIncorrect},
		{"unknown email", "nobody@nhs.net", password, http.StatusUnauthorized, wantIncorrect},
		{"disabled account", "disabled@nhs.net", password, http.StatusUnauthorized, wantIncorrect},
		{"nothing typed", "", "", http.StatusUnauthorized, wantIncorrect},
		{"locked, wrong password", "locked@nhs.net", "Wrong-Horse-42", http.StatusUnauthorized, wantIncorrect},
		{"locked, right password", "locked@nhs.net", password, http.StatusForbidden, "Your NHSmail account is locked."},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := e.with(t)
			browser := e.newBrowser()
			before := e.hasher.verifies.Load()
			pg := e.submit(browser, e.start(), tc.email, tc.password, true)
			if pg.status != tc.status {
				t.Errorf("status %d, want %d", pg.status, tc.status)
			}
			if loc := pg.header.Get("Location"); loc != "" {
				t.Errorf("redirected to %q", loc)
			}
			if strings.Contains(strings.Join(pg.header.Values("Set-Cookie"), ";"), SessionCookie+"=") {
				t.Error("a session cookie was set")
			}
			got := strings.TrimSpace(pg.testid("nhsmail-error").Text())
			if tc.want == wantIncorrect && got != tc.want || !strings.HasPrefix(got, tc.want) {
				t.Errorf("message %q, want %q", got, tc.want)
			}
			if tc.status == http.StatusForbidden && !strings.Contains(got, "Unlock Account or Forgotten Password") {
				t.Errorf("locked message %q does not point to Unlock Account or Forgotten Password", got)
			}
			if n := e.hasher.verifies.Load() - before; n != 1 {
				t.Errorf("%d password checks, want exactly 1 whatever the email", n)
			}
			if got := pg.testid("nhsmail-email").AttrOr("value", ""); got != tc.email {
				t.Errorf("email field kept %q, want %q", got, tc.email)
			}
			if pg.testid("nhsmail-password").AttrOr("value", "") != "" {
				t.Error("the password was echoed")
			}
			// The re-rendered form still works.
			form := url.Values{}
			pg.doc.Find(`form[data-testid="nhsmail-form"] input[type="hidden"]`).Each(func(_ int, s *goquery.Selection) {
				form.Set(s.AttrOr("name", ""), s.AttrOr("value", ""))
			})
			if form.Get("csrf_token") == "" || form.Get("query") == "" {
				t.Error("the re-rendered form lost its hidden fields")
			}
		})
	}
}

func TestConsent(t *testing.T) {
	e := newEnv(t)
	consentPage := func(e *env, browser *http.Client, a attempt) url.Values {
		t := e.t
		pg := e.submit(browser, a, "consent@nhs.net", password, false)
		if pg.status != http.StatusOK || pg.testid("nhsmail-consent-text").Length() != 1 {
			t.Fatalf("want the consent page, got %d %s", pg.status, pg.body)
		}
		if got := strings.TrimSpace(pg.testid("nhsmail-consent-text").Text()); got != "CQRS wants to sign you in and read your name and email address." {
			t.Errorf("consent text %q", got)
		}
		form := url.Values{}
		pg.doc.Find(`form[data-testid="nhsmail-consent-form"] input[type="hidden"]`).Each(func(_ int, s *goquery.Selection) {
			form.Set(s.AttrOr("name", ""), s.AttrOr("value", ""))
		})
		return form
	}

	t.Run("cancel", func(t *testing.T) {
		e := e.with(t)
		a := e.start()
		form := consentPage(e, e.newBrowser(), a)
		browser := e.newBrowser()
		// A second browser cannot answer: the CSRF cookie is the first one's.
		form.Set("decision", "cancel")
		if pg := e.post(browser, e.issuer+"/consent", form); pg.status != http.StatusForbidden {
			t.Errorf("another browser's answer: %d", pg.status)
		}
	})
	t.Run("cancel gives access_denied", func(t *testing.T) {
		e := e.with(t)
		browser := e.newBrowser()
		a := e.start()
		form := consentPage(e, browser, a)
		form.Set("decision", "cancel")
		if got := e.callbackError(e.post(browser, e.issuer+"/consent", form), a); got != "access_denied" {
			t.Errorf("error %q, want access_denied", got)
		}
		// The ticket is single-use.
		if pg := e.post(browser, e.issuer+"/consent", form); pg.status != http.StatusBadRequest {
			t.Errorf("reused ticket: %d", pg.status)
		}
	})
	t.Run("accept signs in", func(t *testing.T) {
		e := e.with(t)
		browser := e.newBrowser()
		a := e.start(oauth2.SetAuthURLParam("prompt", "login"))
		form := consentPage(e, browser, a)
		form.Set("decision", "accept")
		_, _, c := e.exchange(e.codeFrom(e.post(browser, e.issuer+"/consent", form), a), a)
		if c.Email != "consent@nhs.net" {
			t.Errorf("email %q", c.Email)
		}
		// Signed in now, the next request goes straight to consent.
		a2 := e.start()
		if pg := e.get(browser, a2.url); pg.testid("nhsmail-consent-text").Length() != 1 {
			t.Errorf("signed-in consent account: %d %s", pg.status, pg.header.Get("Location"))
		}
	})
}

func TestSignInFormDefences(t *testing.T) {
	e := newEnv(t)
	sessionSet := func(pg page) bool {
		return strings.Contains(strings.Join(pg.header.Values("Set-Cookie"), ";"), SessionCookie+"=")
	}
	filled := func(e *env, browser *http.Client) url.Values {
		form := e.signInForm(browser, e.start())
		form.Set("email", "sam.patel@nhs.net")
		form.Set("password", password)
		return form
	}

	t.Run("no CSRF token", func(t *testing.T) {
		e := e.with(t)
		browser := e.newBrowser()
		form := filled(e, browser)
		form.Del("csrf_token")
		pg := e.post(browser, e.issuer+"/authorize", form)
		if pg.status != http.StatusForbidden || sessionSet(pg) || pg.header.Get("Location") != "" {
			t.Errorf("got %d, Location %q", pg.status, pg.header.Get("Location"))
		}
	})
	t.Run("token of another browser", func(t *testing.T) {
		e := e.with(t)
		form := filled(e, e.newBrowser())
		pg := e.post(e.newBrowser(), e.issuer+"/authorize", form)
		if pg.status != http.StatusForbidden || sessionSet(pg) {
			t.Errorf("got %d", pg.status)
		}
	})
	t.Run("query changed after the page was served", func(t *testing.T) {
		e := e.with(t)
		browser := e.newBrowser()
		form := filled(e, browser)
		form.Set("query", e.start().url[strings.Index(e.start().url, "?")+1:])
		if pg := e.post(browser, e.issuer+"/authorize", form); pg.status != http.StatusForbidden {
			t.Errorf("got %d", pg.status)
		}
	})
	t.Run("other origin", func(t *testing.T) {
		e := e.with(t)
		browser := e.newBrowser()
		pg := e.post(browser, e.issuer+"/authorize", filled(e, browser), "Origin", "http://evil.example")
		if pg.status != http.StatusForbidden || sessionSet(pg) {
			t.Errorf("got %d", pg.status)
		}
	})
	t.Run("cross-site fetch", func(t *testing.T) {
		e := e.with(t)
		browser := e.newBrowser()
		pg := e.post(browser, e.issuer+"/authorize", filled(e, browser), "Sec-Fetch-Site", "cross-site")
		if pg.status != http.StatusForbidden {
			t.Errorf("got %d", pg.status)
		}
	})
	t.Run("same origin is fine", func(t *testing.T) {
		e := e.with(t)
		browser := e.newBrowser()
		pg := e.post(browser, e.issuer+"/authorize", filled(e, browser), "Origin", e.srv.URL, "Sec-Fetch-Site", "same-origin")
		if pg.status != http.StatusSeeOther {
			t.Errorf("got %d %s", pg.status, pg.body)
		}
	})
	t.Run("invalid UTF-8", func(t *testing.T) {
		e := e.with(t)
		browser := e.newBrowser()
		form := filled(e, browser)
		form.Set("email", "sam\xff@nhs.net")
		if pg := e.post(browser, e.issuer+"/authorize", form); pg.status != http.StatusBadRequest {
			t.Errorf("got %d", pg.status)
		}
		if pg := e.get(browser, e.issuer+"/authorize?client_id=%ff"); pg.status != http.StatusBadRequest {
			t.Errorf("query: got %d", pg.status)
		}
	})
}

func TestAuthorizeRequestErrors(t *testing.T) {
	e := newEnv(t)
	base := func(e *env) url.Values {
		a := e.start()
		u, _ := url.Parse(a.url)
		return u.Query()
	}
	page := func(e *env, q url.Values) page { return e.get(e.newBrowser(), e.issuer+"/authorize?"+q.Encode()) }

	// No redirect to a client or a redirect URI that is not registered: a page.
	for name, change := range map[string]func(url.Values){
		"unknown client":           func(q url.Values) { q.Set("client_id", "someone-else") },
		"unregistered redirect":    func(q url.Values) { q.Set("redirect_uri", "http://127.0.0.1:1/steal") },
		"redirect on another host": func(q url.Values) { q.Set("redirect_uri", "https://evil.example/callback") },
	} {
		t.Run(name, func(t *testing.T) {
			e := e.with(t)
			q := base(e)
			change(q)
			pg := page(e, q)
			if pg.status < 400 || pg.status > 499 || pg.header.Get("Location") != "" {
				t.Fatalf("got %d, Location %q", pg.status, pg.header.Get("Location"))
			}
			if pg.testid("nhsmail-message-heading").Length() != 1 || !strings.HasPrefix(pg.header.Get("Content-Type"), "text/html") {
				t.Errorf("not the error page: %s", pg.body)
			}
		})
	}

	// A registered redirect URI hears about its own mistakes.
	for name, tc := range map[string]struct {
		change func(url.Values)
		want   string
	}{
		"no PKCE":          {func(q url.Values) { q.Del("code_challenge"); q.Del("code_challenge_method") }, "invalid_request"},
		"plain PKCE":       {func(q url.Values) { q.Set("code_challenge_method", "plain") }, "invalid_request"},
		"no openid scope":  {func(q url.Values) { q.Set("scope", "email") }, "invalid_scope"},
		"unknown scope":    {func(q url.Values) { q.Set("scope", "openid offline_access") }, "invalid_scope"},
		"implicit flow":    {func(q url.Values) { q.Set("response_type", "id_token") }, "unsupported_response_type"},
		"no session, none": {func(q url.Values) { q.Set("prompt", "none") }, "login_required"},
	} {
		t.Run(name, func(t *testing.T) {
			e := e.with(t)
			q := base(e)
			tc.change(q)
			a := attempt{state: q.Get("state")}
			if got := e.callbackError(page(e, q), a); got != tc.want {
				t.Errorf("error %q, want %q", got, tc.want)
			}
		})
	}
}

func TestSigningKeyPersists(t *testing.T) {
	e := newEnv(t)
	kid := func() string {
		pg := e.get(http.DefaultClient, e.issuer+"/jwks")
		var set struct {
			Keys []struct {
				Kid string `json:"kid"`
			} `json:"keys"`
		}
		json.Unmarshal([]byte(pg.body), &set)
		if len(set.Keys) != 1 {
			t.Fatalf("jwks %s", pg.body)
		}
		return set.Keys[0].Kid
	}
	before := kid()
	a := e.start()
	code := e.codeFrom(e.submit(e.browser, a, "sam.patel@nhs.net", password, true), a)
	tok0, _, _ := e.exchange(code, a)
	raw := tok0.Extra("id_token").(string)

	e.restart()
	if after := kid(); after != before || e.provider.Load().KeyID(t.Context()) != before {
		t.Fatalf("kid %q after restart, want %q", after, before)
	}
	// A token issued before the restart still verifies against the keys
	// published after it, by a relying party that fetches them afresh.
	rp, err := oidc.NewProvider(e.ctx(), e.issuer)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := rp.Verifier(&oidc.Config{ClientID: clientID}).Verify(e.ctx(), raw); err != nil {
		t.Errorf("ID token from before the restart: %v", err)
	}
	a2 := e.start()
	code2 := e.codeFrom(e.get(e.browser, a2.url), a2) // the session survived the restart too
	tok, _, _ := e.exchange(code2, a2)
	header, _ := base64.RawURLEncoding.DecodeString(strings.Split(tok.Extra("id_token").(string), ".")[0])
	if !strings.Contains(string(header), `"kid":"`+before+`"`) {
		t.Errorf("ID token header %s lacks kid %s", header, before)
	}
}

func TestDisablingAnAccountEndsItsSignIns(t *testing.T) {
	e := newEnv(t)
	sam := e.accounts["sam.patel@nhs.net"]
	a := e.start()
	tok, _, _ := e.exchange(e.codeFrom(e.submit(e.browser, a, "sam.patel@nhs.net", password, true), a), a)
	if err := e.store.SetNHSmailFlags(t.Context(), sam.ID, true, false, false); err != nil {
		t.Fatal(err)
	}
	a2 := e.start()
	if pg := e.get(e.browser, a2.url); pg.status != http.StatusOK || pg.testid("nhsmail-heading").Length() != 1 {
		t.Errorf("a disabled account's session still signs in: %d %s", pg.status, pg.header.Get("Location"))
	}
	if _, err := e.oidc.UserInfo(e.ctx(), oauth2.StaticTokenSource(tok)); err == nil {
		t.Error("a disabled account's access token still opens userinfo")
	}
}

func TestContentSecurityPolicy(t *testing.T) {
	for _, tc := range []struct {
		redirects []string
		want      string
	}{
		{[]string{"http://127.0.0.1:8420/sso/callback"}, "form-action 'self'"},
		{[]string{"http://localhost:8420/sso/callback", "http://127.0.0.1:8420/x", "http://localhost:8420/y"}, "form-action 'self' http://localhost:8420"},
	} {
		got := contentSecurity("http://127.0.0.1:8420", tc.redirects)
		if !strings.HasSuffix(got, tc.want) || !strings.Contains(got, "script-src 'self'; style-src 'self'") {
			t.Errorf("contentSecurity(%v) = %q, want it to end %q", tc.redirects, got, tc.want)
		}
	}
}

// A restart between the sign-in page and the callback, and between the
// callback and the code exchange, loses nothing: the form is accepted, the
// code exchanged, its access token opens userinfo; and a consent page shown
// before a restart is answered after it.
func TestRestartInTheMiddleOfASignIn(t *testing.T) {
	e := newEnv(t)
	a := e.start()
	form := e.signInForm(e.browser, a)
	e.restartProcess()
	form.Set("email", "sam.patel@nhs.net")
	form.Set("password", password)
	code := e.codeFrom(e.post(e.browser, e.issuer+"/authorize", form), a)
	e.restartProcess()
	tok, idt, _ := e.exchange(code, a)
	e.restartProcess()
	if info, err := e.oidc.UserInfo(e.ctx(), oauth2.StaticTokenSource(tok)); err != nil || info.Subject != idt.Subject {
		t.Errorf("userinfo after a restart: %v", err)
	}
	// The code stays spent across the restart.
	if _, err := e.oauth.Exchange(e.ctx(), code, oauth2.VerifierOption(a.verifier)); exchangeError(t, err) != "invalid_grant" {
		t.Errorf("a code exchanged before a restart was accepted again after it")
	}

	browser := e.newBrowser()
	c := e.start()
	pg := e.submit(browser, c, "consent@nhs.net", password, false)
	consent := url.Values{}
	pg.doc.Find(`form[data-testid="nhsmail-consent-form"] input[type="hidden"]`).Each(func(_ int, s *goquery.Selection) {
		consent.Set(s.AttrOr("name", ""), s.AttrOr("value", ""))
	})
	if consent.Get("ticket") == "" {
		t.Fatalf("no consent page: %d %s", pg.status, pg.body)
	}
	e.restartProcess()
	consent.Set("decision", "accept")
	e.exchange(e.codeFrom(e.post(browser, e.issuer+"/consent", consent), c), c)
}

// Exact redirect URI match (RFC 9700 4.1.3): a browser already signed in
// to the simulator is not sent with a code to the registered callback on
// another port of the same host, to a look-alike with userinfo in front of
// the host, or to any near miss; it gets a page.
func TestRedirectURIMustMatchExactly(t *testing.T) {
	e := newEnv(t)
	a := e.start()
	e.exchange(e.codeFrom(e.submit(e.browser, a, "sam.patel@nhs.net", password, true), a), a)
	reg, _ := url.Parse(e.redirect)
	otherPort := "1"
	if reg.Port() == "1" {
		otherPort = "2"
	}
	for name, uri := range map[string]string{
		"another port":            "http://" + reg.Hostname() + ":" + otherPort + reg.Path,
		"no port":                 "http://" + reg.Hostname() + reg.Path,
		"userinfo before host":    "http://evil.example@" + reg.Host + reg.Path,
		"userinfo, another port":  "http://evil.example@" + reg.Hostname() + ":" + otherPort + reg.Path,
		"localhost for 127.0.0.1": "http://localhost:" + reg.Port() + reg.Path,
		"https":                   "https://" + reg.Host + reg.Path,
		"trailing slash":          e.redirect + "/",
		"path case":               "http://" + reg.Host + strings.ToUpper(reg.Path),
		"extra query":             e.redirect + "?next=x",
		"fragment":                e.redirect + "#x",
	} {
		t.Run(name, func(t *testing.T) {
			e := e.with(t)
			u, _ := url.Parse(e.start().url)
			q := u.Query()
			q.Set("redirect_uri", uri)
			u.RawQuery = q.Encode()
			pg := e.get(e.browser, u.String())
			if pg.status < 400 || pg.status > 499 || pg.header.Get("Location") != "" {
				t.Fatalf("redirect_uri %s: got %d, Location %q", uri, pg.status, pg.header.Get("Location"))
			}
			if pg.testid("nhsmail-message-heading").Length() != 1 {
				t.Errorf("not the error page: %s", pg.body)
			}
		})
	}
}

// The ID token and userinfo carry what Entra ID (which NHSmail runs on)
// sends: tid, oid, upn, preferred_username, name and email.
func TestEntraIDClaims(t *testing.T) {
	e := newEnv(t)
	sam := e.accounts["sam.patel@nhs.net"]
	a := e.start()
	tok, idt, _ := e.exchange(e.codeFrom(e.submit(e.browser, a, "sam.patel@nhs.net", password, false), a), a)
	want := map[string]any{"tid": sam.TenantID, "oid": sam.ObjectID, "upn": sam.Email, "preferred_username": sam.Email,
		"name": "Sam Patel", "email": sam.Email, "sub": sam.ObjectID}
	var fromToken map[string]any
	if err := idt.Claims(&fromToken); err != nil {
		t.Fatal(err)
	}
	info, err := e.oidc.UserInfo(e.ctx(), oauth2.StaticTokenSource(tok))
	if err != nil {
		t.Fatal(err)
	}
	var fromUserinfo map[string]any
	if err := info.Claims(&fromUserinfo); err != nil {
		t.Fatal(err)
	}
	for claim, v := range want {
		if fromToken[claim] != v {
			t.Errorf("ID token %s = %v, want %v", claim, fromToken[claim], v)
		}
		if fromUserinfo[claim] != v {
			t.Errorf("userinfo %s = %v, want %v", claim, fromUserinfo[claim], v)
		}
	}
}

// prompt=login and select_account ask for the password whatever the
// session; max_age asks for it only when the session is older, and the ID
// token's auth_time says when the password was typed.
func TestPromptAndMaxAge(t *testing.T) {
	e := newEnv(t)
	a := e.start()
	signedIn := time.Now()
	e.exchange(e.codeFrom(e.submit(e.browser, a, "sam.patel@nhs.net", password, false), a), a)
	signInPage := func(pg page) bool {
		return pg.status == http.StatusOK && pg.testid("nhsmail-heading").Length() == 1
	}
	for _, prompt := range []string{"login", "select_account"} {
		if pg := e.get(e.browser, e.start(oauth2.SetAuthURLParam("prompt", prompt)).url); !signInPage(pg) {
			t.Errorf("prompt=%s with a session: %d %s", prompt, pg.status, pg.header.Get("Location"))
		}
	}

	e.clock.Advance(10 * time.Minute)
	defer e.clock.Advance(-10 * time.Minute)
	// A session ten minutes old is good for max_age=3600: no page, and
	// auth_time is when the password was typed, not now.
	b := e.start(oauth2.SetAuthURLParam("max_age", "3600"))
	_, idt, _ := e.exchange(e.codeFrom(e.get(e.browser, b.url), b), b)
	var claims struct {
		AuthTime int64 `json:"auth_time"`
	}
	if err := idt.Claims(&claims); err != nil {
		t.Fatal(err)
	}
	if got, want := time.Unix(claims.AuthTime, 0), signedIn.Add(-10*time.Minute); got.Sub(want).Abs() > 5*time.Second {
		t.Errorf("auth_time %v, want about %v (ten minutes before now)", got, want)
	}
	// ... but not for max_age=300.
	if pg := e.get(e.browser, e.start(oauth2.SetAuthURLParam("max_age", "300")).url); !signInPage(pg) {
		t.Errorf("max_age=300 with a ten-minute-old session: %d %s", pg.status, pg.header.Get("Location"))
	}
	// Signing in again answers max_age=300 with a fresh auth_time.
	c := e.start(oauth2.SetAuthURLParam("max_age", "300"))
	_, idt, _ = e.exchange(e.codeFrom(e.submit(e.browser, c, "sam.patel@nhs.net", password, false), c), c)
	if err := idt.Claims(&claims); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(time.Unix(claims.AuthTime, 0)); d > 5*time.Second {
		t.Errorf("auth_time after signing in again is %v old", d)
	}
	// prompt=none with a session too old is login_required.
	d := e.start(oauth2.SetAuthURLParam("max_age", "0"), oauth2.SetAuthURLParam("prompt", "none"))
	e.clock.Advance(time.Second)
	defer e.clock.Advance(-time.Second)
	if got := e.callbackError(e.get(e.browser, d.url), d); got != "login_required" {
		t.Errorf("prompt=none, max_age=0: %q, want login_required", got)
	}
}

// Rotating the signing key: new ID tokens carry the new kid; the JWKS
// publishes the old key beside it for a day, so tokens it signed still
// verify; a relying party that cached the old key set keeps working.
func TestSigningKeyRotation(t *testing.T) {
	e := newEnv(t)
	jwks := func() []string {
		pg := e.get(http.DefaultClient, e.issuer+"/jwks")
		var set struct {
			Keys []struct {
				Kid string `json:"kid"`
				Alg string `json:"alg"`
			} `json:"keys"`
		}
		if err := json.Unmarshal([]byte(pg.body), &set); err != nil {
			t.Fatal(err)
		}
		var kids []string
		for _, k := range set.Keys {
			kids = append(kids, k.Kid)
		}
		return kids
	}
	kidOf := func(raw string) string {
		header, _ := base64.RawURLEncoding.DecodeString(strings.Split(raw, ".")[0])
		var h struct {
			Kid string `json:"kid"`
		}
		json.Unmarshal(header, &h)
		return h.Kid
	}
	a := e.start()
	tok1, _, _ := e.exchange(e.codeFrom(e.submit(e.browser, a, "sam.patel@nhs.net", password, true), a), a) // e.verifier now caches the old key set
	oldKid := kidOf(tok1.Extra("id_token").(string))

	if err := e.provider.Load().RotateSigningKey(t.Context()); err != nil {
		t.Fatal(err)
	}
	newKid := e.provider.Load().KeyID(t.Context())
	if newKid == oldKid {
		t.Fatal("the kid did not change")
	}
	if got := jwks(); len(got) != 2 || got[0] != newKid || got[1] != oldKid {
		t.Fatalf("JWKS kids %v, want [%s %s]", got, newKid, oldKid)
	}
	b := e.start()
	tok2, _, _ := e.exchange(e.codeFrom(e.get(e.browser, b.url), b), b) // verified by the RP that cached the old set
	if got := kidOf(tok2.Extra("id_token").(string)); got != newKid {
		t.Errorf("new ID token kid %s, want %s", got, newKid)
	}
	fresh, err := oidc.NewProvider(e.ctx(), e.issuer)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := fresh.Verifier(&oidc.Config{ClientID: clientID}).Verify(e.ctx(), tok1.Extra("id_token").(string)); err != nil {
		t.Errorf("a token signed before the rotation: %v", err)
	}

	// Across a restart, and until a day has passed.
	e.restartProcess()
	if got := jwks(); len(got) != 2 || e.provider.Load().KeyID(t.Context()) != newKid {
		t.Errorf("after a restart: kids %v, signing with %s", got, e.provider.Load().KeyID(t.Context()))
	}
	e.clock.Advance(24 * time.Hour)
	defer e.clock.Advance(-24 * time.Hour)
	e.restartProcess()
	if got := jwks(); len(got) != 1 || got[0] != newKid {
		t.Errorf("a day later: kids %v, want only %s", got, newKid)
	}
}

// A second relying party, registered as an application (confidential, then
// public), signs in through the simulator with its own client: its own
// audience, its own redirect URI, its own secret or PKCE alone.
func TestAnotherApplicationSignsIn(t *testing.T) {
	e := newEnv(t)
	const appSecret = "a-secret-shown-once-0123456789abcdefghijkl"
	sum := sha256.Sum256([]byte(appSecret))
	conf, err := e.store.CreateNHSmailApplication(t.Context(), cqrs.NHSmailApplication{Name: "Practice Rota", SecretHash: sum[:],
		RedirectURIs: []string{e.srv.URL + "/rota/callback"}})
	if err != nil {
		t.Fatal(err)
	}
	pub, err := e.store.CreateNHSmailApplication(t.Context(), cqrs.NHSmailApplication{Name: "Rota Desktop",
		RedirectURIs: []string{"http://127.0.0.1:53682/callback"}})
	if err != nil {
		t.Fatal(err)
	}
	rp := func(app cqrs.NHSmailApplication, secret string) (oauth2.Config, *oidc.IDTokenVerifier) {
		cfg := oauth2.Config{ClientID: app.ClientID, ClientSecret: secret, RedirectURL: app.RedirectURIs[0],
			Endpoint: e.oidc.Endpoint(), Scopes: []string{oidc.ScopeOpenID, "email", "profile"}}
		if secret == "" {
			cfg.Endpoint.AuthStyle = oauth2.AuthStyleInParams
		}
		return cfg, e.oidc.Verifier(&oidc.Config{ClientID: app.ClientID})
	}
	signIn := func(cfg oauth2.Config, browser *http.Client, email string) (attempt, string) {
		a := attempt{state: secret.NewToken(), nonce: secret.NewToken(), verifier: oauth2.GenerateVerifier()}
		a.url = cfg.AuthCodeURL(a.state, oidc.Nonce(a.nonce), oauth2.S256ChallengeOption(a.verifier))
		form := e.signInForm(browser, a)
		form.Set("email", email)
		form.Set("password", password)
		pg := e.post(browser, e.issuer+"/authorize", form)
		loc, _ := url.Parse(pg.header.Get("Location"))
		if pg.status != http.StatusSeeOther || loc == nil || !strings.HasPrefix(loc.String(), cfg.RedirectURL+"?") || loc.Query().Get("state") != a.state {
			t.Fatalf("%s: got %d, Location %q", cfg.ClientID, pg.status, pg.header.Get("Location"))
		}
		if csp := pg.header.Get("Content-Security-Policy"); !strings.Contains(csp, "form-action 'self'") {
			t.Errorf("CSP %q", csp)
		}
		return a, loc.Query().Get("code")
	}

	for _, tc := range []struct {
		app    cqrs.NHSmailApplication
		secret string
	}{{conf, appSecret}, {pub, ""}} {
		cfg, verifier := rp(tc.app, tc.secret)
		a, code := signIn(cfg, e.newBrowser(), "sam.patel@nhs.net")
		tok, err := cfg.Exchange(e.ctx(), code, oauth2.VerifierOption(a.verifier))
		if err != nil {
			t.Fatalf("%s: exchange: %v", tc.app.Name, err)
		}
		idt, err := verifier.Verify(e.ctx(), tok.Extra("id_token").(string))
		if err != nil {
			t.Fatalf("%s: verify: %v", tc.app.Name, err)
		}
		var c idClaims
		idt.Claims(&c)
		if idt.Audience[0] != tc.app.ClientID || idt.Nonce != a.nonce || c.Email != "Sam.Patel@nhs.net" {
			t.Errorf("%s: aud %v nonce %q email %q", tc.app.Name, idt.Audience, idt.Nonce, c.Email)
		}
		// Its code is no good to CQRS's client, nor to CQRS's ID token verifier.
		b, code2 := signIn(cfg, e.newBrowser(), "sam.patel@nhs.net")
		if _, err := e.oauth.Exchange(e.ctx(), code2, oauth2.VerifierOption(b.verifier)); exchangeError(t, err) != "invalid_grant" {
			t.Errorf("%s's code was exchanged by CQRS's client", tc.app.Name)
		}
		if _, err := e.verifier.Verify(e.ctx(), tok.Extra("id_token").(string)); err == nil {
			t.Errorf("%s's ID token verified for CQRS", tc.app.Name)
		}
	}

	// The confidential one needs its secret; the public one needs PKCE.
	cfg, _ := rp(conf, "not-the-secret")
	a, code := signIn(cfg, e.newBrowser(), "sam.patel@nhs.net")
	if _, err := cfg.Exchange(e.ctx(), code, oauth2.VerifierOption(a.verifier)); exchangeError(t, err) != "invalid_client" {
		t.Errorf("wrong secret: %v", err)
	}
	cfg, _ = rp(pub, "")
	_, code = signIn(cfg, e.newBrowser(), "sam.patel@nhs.net")
	if _, err := cfg.Exchange(e.ctx(), code); err == nil {
		t.Error("the public client exchanged a code without its PKCE verifier")
	}

	// Consent names the application; a deleted one is refused with a page.
	browser := e.newBrowser()
	cfg, _ = rp(conf, appSecret)
	a = attempt{state: "s", nonce: "n", verifier: oauth2.GenerateVerifier()}
	a.url = cfg.AuthCodeURL(a.state, oauth2.S256ChallengeOption(a.verifier))
	form := e.signInForm(browser, a)
	form.Set("email", "consent@nhs.net")
	form.Set("password", password)
	if got := strings.TrimSpace(e.post(browser, e.issuer+"/authorize", form).testid("nhsmail-consent-text").Text()); got != "Practice Rota wants to sign you in and read your name and email address." {
		t.Errorf("consent text %q", got)
	}
	if err := e.store.DeleteNHSmailApplication(t.Context(), conf.ClientID); err != nil {
		t.Fatal(err)
	}
	if pg := e.get(e.newBrowser(), a.url); pg.status != http.StatusBadRequest || pg.header.Get("Location") != "" {
		t.Errorf("a deleted application: %d %q", pg.status, pg.header.Get("Location"))
	}
}

// One code exchanged by eight callers at once gives tokens to one at most.
func TestCodeExchangedInParallelOnce(t *testing.T) {
	e := newEnv(t)
	a := e.start()
	code := e.codeFrom(e.submit(e.browser, a, "sam.patel@nhs.net", password, false), a)
	var wg sync.WaitGroup
	var ok atomic.Int32
	for range 8 {
		wg.Go(func() {
			if _, err := e.oauth.Exchange(e.ctx(), code, oauth2.VerifierOption(a.verifier)); err == nil {
				ok.Add(1)
			}
		})
	}
	wg.Wait()
	if n := ok.Load(); n > 1 {
		t.Errorf("%d exchanges of one code got tokens", n)
	}
}

// An access token ends with what it was issued for: removing its
// application, changing its account's password or disabling the account
// revokes it at once (re-enabling the account does not bring it back),
// while other applications' and accounts' tokens go on working.
func TestAccessTokensEndWithTheirApplicationOrAccount(t *testing.T) {
	e := newEnv(t)
	e.addAccount("Ann.Other@nhs.net", "Ann", "Other", func(a *cqrs.NHSmailAccount) {})
	sam, ann := e.accounts["sam.patel@nhs.net"], e.accounts["ann.other@nhs.net"]
	rota, err := e.store.CreateNHSmailApplication(t.Context(), cqrs.NHSmailApplication{Name: "Rota Desktop", RedirectURIs: []string{"http://127.0.0.1:53682/callback"}})
	if err != nil {
		t.Fatal(err)
	}
	rotaCfg := oauth2.Config{ClientID: rota.ClientID, RedirectURL: rota.RedirectURIs[0], Endpoint: e.oidc.Endpoint(),
		Scopes: []string{oidc.ScopeOpenID, "email", "profile"}}
	rotaCfg.Endpoint.AuthStyle = oauth2.AuthStyleInParams
	viaRota := func(email string) *oauth2.Token {
		t.Helper()
		browser := e.newBrowser()
		a := attempt{state: secret.NewToken(), nonce: secret.NewToken(), verifier: oauth2.GenerateVerifier()}
		a.url = rotaCfg.AuthCodeURL(a.state, oidc.Nonce(a.nonce), oauth2.S256ChallengeOption(a.verifier))
		form := e.signInForm(browser, a)
		form.Set("email", email)
		form.Set("password", password)
		loc, _ := url.Parse(e.post(browser, e.issuer+"/authorize", form).header.Get("Location"))
		tok, err := rotaCfg.Exchange(e.ctx(), loc.Query().Get("code"), oauth2.VerifierOption(a.verifier))
		if err != nil {
			t.Fatalf("Rota's exchange: %v", err)
		}
		return tok
	}
	viaCQRS := func(email string) *oauth2.Token {
		t.Helper()
		a := e.start()
		tok, _, _ := e.exchange(e.codeFrom(e.submit(e.newBrowser(), a, email, password, false), a), a)
		return tok
	}
	opens := func(tok *oauth2.Token) bool {
		_, err := e.oidc.UserInfo(e.ctx(), oauth2.StaticTokenSource(tok))
		return err == nil
	}

	rotaSam, cqrsSam, cqrsAnn := viaRota("sam.patel@nhs.net"), viaCQRS("sam.patel@nhs.net"), viaCQRS("ann.other@nhs.net")
	for name, tok := range map[string]*oauth2.Token{"Rota's": rotaSam, "CQRS's": cqrsSam, "Ann's": cqrsAnn} {
		if !opens(tok) {
			t.Fatalf("%s fresh access token does not open userinfo", name)
		}
	}
	if err := e.store.DeleteNHSmailApplication(t.Context(), rota.ClientID); err != nil {
		t.Fatal(err)
	}
	if opens(rotaSam) {
		t.Error("a removed application's access token still opens userinfo")
	}
	if !opens(cqrsSam) {
		t.Error("removing Rota ended CQRS's token for the same account")
	}

	hash, err := e.hasher.Hash(e.ctx(), "Another-Horse-43")
	if err != nil {
		t.Fatal(err)
	}
	if err := e.store.SetNHSmailPassword(t.Context(), sam.ID, hash); err != nil {
		t.Fatal(err)
	}
	if opens(cqrsSam) {
		t.Error("an access token still opens userinfo after its account's password changed")
	}
	if !opens(cqrsAnn) {
		t.Error("changing Sam's password ended Ann's token")
	}

	if err := e.store.SetNHSmailFlags(t.Context(), ann.ID, true, false, false); err != nil {
		t.Fatal(err)
	}
	if err := e.store.SetNHSmailFlags(t.Context(), ann.ID, false, false, false); err != nil {
		t.Fatal(err)
	}
	if opens(cqrsAnn) {
		t.Error("an access token opens userinfo again once its disabled account is enabled")
	}
}

// The form-action sources are origins rebuilt from parsed host names: a
// registered URI whose host holds ";" (from before hosts were checked)
// adds no directive.
func TestContentSecurityPolicyFromParsedOrigins(t *testing.T) {
	got := contentSecurity("http://127.0.0.1:8420", []string{"https://evil.example;sandbox/cb", "https://evil.example,x/cb",
		"https://Rota.Example.org:8443/cb", "https://[2001:db8::1]/cb"})
	if strings.Count(got, ";") != 9 || strings.Contains(got, "sandbox") || strings.Contains(got, "evil") {
		t.Errorf("CSP %q", got)
	}
	if !strings.HasSuffix(got, "form-action 'self' https://rota.example.org:8443 https://[2001:db8::1]") {
		t.Errorf("CSP %q ends otherwise", got)
	}
	for raw, want := range map[string]string{"https://a.example/cb": "https://a.example", "http://127.0.0.1:53682/cb": "http://127.0.0.1:53682",
		"https://a.example;b/cb": "", "https://a_b.example/": "", "ftp://a.example/": "", "https://a.example:65536/": "", "https://a.example:08/": ""} {
		if got, ok := cqrs.RedirectOrigin(raw); got != want || ok != (want != "") {
			t.Errorf("cqrs.RedirectOrigin(%q) = %q, %v; want %q", raw, got, ok, want)
		}
	}
}

// wantBearerChallenge checks /userinfo refuses the token with a 401 that
// names the error in WWW-Authenticate (RFC 6750 section 3).
func wantBearerChallenge(t *testing.T, e *env, accessToken string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, e.issuer+"/userinfo", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+accessToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if got := resp.Header.Get("WWW-Authenticate"); resp.StatusCode != http.StatusUnauthorized || !strings.HasPrefix(got, "Bearer ") || !strings.Contains(got, `error="invalid_token"`) {
		t.Errorf("userinfo answered %d with WWW-Authenticate %q, want 401 with Bearer error=\"invalid_token\"", resp.StatusCode, got)
	}
	if !strings.Contains(string(body), `"error":"invalid_token"`) {
		t.Errorf("userinfo's refusal says %s, want the error code invalid_token", body)
	}
}

// TestDatabaseAwayIsATryAgainPage: a store error that is the database out
// of reach (PostgreSQL restarting) gets the 503 "try again in a moment"
// page with Retry-After, as the app's pages do; any other stays a fault.
func TestDatabaseAwayIsATryAgainPage(t *testing.T) {
	e := newEnv(t)
	p := e.provider.Load()
	away := errors.New("the database restarting")
	p.cfg.Unavailable = func(err error) bool { return errors.Is(err, away) }
	for _, c := range []struct {
		err        error
		status     int
		retryAfter string
		heading    string
	}{
		{fmt.Errorf("reading the account: %w", away), http.StatusServiceUnavailable, "5", "Sorry, NHSmail is unavailable for a moment"},
		{errors.New("a broken record"), http.StatusInternalServerError, "", "Sorry, there is a problem with NHSmail"},
	} {
		rec := httptest.NewRecorder()
		p.serverError(rec, httptest.NewRequest(http.MethodPost, "/nhsmail/authorize", nil), "sign-in", c.err)
		if rec.Code != c.status || rec.Header().Get("Retry-After") != c.retryAfter || !strings.Contains(rec.Body.String(), c.heading) {
			t.Errorf("%v: %d Retry-After %q, want %d %q and %q in:\n%.300s", c.err, rec.Code, rec.Header().Get("Retry-After"), c.status, c.retryAfter, c.heading, rec.Body.String())
		}
	}
}
