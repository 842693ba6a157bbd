package handlers

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/cqrs-local/cqrs-signin/cqrs"
)

// ssoEnv is the app on a real listener, configured as a relying party of
// the in-test provider, with the system administrator and sam.patel.
type ssoEnv struct {
	*testEnv
	op    *testOP
	base  string
	admin cqrs.User
	sam   cqrs.User
}

// newSSOEnv binds the app's listener first: the redirect URI the provider
// knows must carry the port before the app is built.
func newSSOEnv(t *testing.T, adjust ...func(*SSOConfig)) *ssoEnv {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	base := "http://" + ln.Addr().String()
	op := newTestOP(t, "cqrs", "s3cret", base+"/sso/callback")
	e := newEnv(t, func(c *Config) {
		c.SSO = SSOConfig{Issuer: op.URL, ClientID: "cqrs", ClientSecret: "s3cret", RedirectURL: base + "/sso/callback", Now: c.Now}
		for _, f := range adjust {
			f(&c.SSO)
		}
	})
	op.setClock(e.clock.Now)
	go e.app.Listener(ln)
	t.Cleanup(func() { e.app.ShutdownWithTimeout(5 * time.Second) })
	admin := e.registeredAdmin()
	sam := e.addUser(admin.OrgID, "sam.patel", "Harbour!2026x")
	return &ssoEnv{testEnv: e, op: op, base: base, admin: admin, sam: sam}
}

// samAtProvider is sam.patel's identity at the provider; the email is in
// another case than the one CQRS holds.
func samAtProvider() map[string]any {
	return map[string]any{"sub": "248289761001", "email": "SAM.PATEL@NHS.NET", "email_verified": true, "name": "Sam Patel"}
}

// browser is a real HTTP client with a cookie jar that takes redirects one
// hop at a time, so a test sees every answer on the way.
type browser struct {
	t    *testing.T
	s    *ssoEnv
	jar  *cookiejar.Jar
	http *http.Client
	hops []hop
}

type hop struct {
	path     string
	status   int
	location string
}

func (s *ssoEnv) browser(t *testing.T) *browser {
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	tr := &http.Transport{}
	t.Cleanup(tr.CloseIdleConnections)
	return &browser{t: t, s: s, jar: jar, http: &http.Client{Jar: jar, Transport: tr, Timeout: 10 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

// get is one request; no redirect is followed.
func (b *browser) get(rawURL string) response {
	b.t.Helper()
	resp, err := b.http.Get(rawURL)
	if err != nil {
		b.t.Fatalf("GET %s: %v", rawURL, err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	b.hops = append(b.hops, hop{path: resp.Request.URL.Path, status: resp.StatusCode, location: resp.Header.Get("Location")})
	return response{Response: resp, body: string(body)}
}

// visit follows redirects as a browser does and returns the last answer.
func (b *browser) visit(rawURL string) response {
	b.t.Helper()
	for range 10 {
		r := b.get(rawURL)
		if r.StatusCode < 300 || r.StatusCode > 399 {
			return r
		}
		next, err := r.Request.URL.Parse(r.Header.Get("Location"))
		if err != nil {
			b.t.Fatal(err)
		}
		rawURL = next.String()
	}
	b.t.Fatal("more than 10 redirects")
	return response{}
}

// authorizeURL presses Sign In and returns where the app sends the browser.
func (b *browser) authorizeURL(next string) string {
	b.t.Helper()
	start := b.s.base + "/sso/start"
	if next != "" {
		start += "?next=" + url.QueryEscape(next)
	}
	r := b.get(start)
	wantStatus(b.t, r, http.StatusSeeOther)
	loc := r.Header.Get("Location")
	if !strings.HasPrefix(loc, b.s.op.URL+"/authorize?") {
		b.t.Fatalf("/sso/start redirected to %q, not the provider", loc)
	}
	return loc
}

// callbackURL runs the journey to the provider and returns where the
// provider sends the browser back to.
func (b *browser) callbackURL(next string) string {
	b.t.Helper()
	return b.atProvider(b.authorizeURL(next))
}

func (b *browser) atProvider(authorizeURL string) string {
	b.t.Helper()
	r := b.get(authorizeURL)
	wantStatus(b.t, r, http.StatusFound)
	loc := r.Header.Get("Location")
	if !strings.HasPrefix(loc, b.s.base+"/sso/callback?") {
		b.t.Fatalf("the provider redirected to %q, not the app's callback", loc)
	}
	return loc
}

// signIn is the whole journey: Sign In, the provider, back, and on.
func (b *browser) signIn(next string) response {
	b.t.Helper()
	return b.visit(b.callbackURL(next))
}

func (b *browser) cookie(path, name string) string {
	u, _ := url.Parse(b.s.base + path)
	for _, c := range b.jar.Cookies(u) {
		if c.Name == b.s.cookieName(name) {
			return c.Value
		}
	}
	return ""
}

// wantSignedIn checks the journey ended on path with a working session.
func (b *browser) wantSignedIn(t *testing.T, r response, path string) {
	t.Helper()
	wantStatus(t, r, http.StatusOK)
	if r.Request.URL.Path != path {
		t.Fatalf("landed on %s, want %s", r.Request.URL, path)
	}
	if b.cookie("/", sessionCookie) == "" {
		t.Fatal("signed in without a session cookie")
	}
	if b.cookie("/sso/callback", ssoCookie) != "" {
		t.Error("the single sign-on state cookie outlived the callback")
	}
	wantStatus(t, b.get(b.s.base+"/messages"), http.StatusOK)
}

// wantNoSession checks the browser is not signed in.
func (b *browser) wantNoSession(t *testing.T) {
	t.Helper()
	if v := b.cookie("/", sessionCookie); v != "" {
		t.Errorf("the browser holds a session cookie %q", v)
	}
	r := b.get(b.s.base + "/messages")
	if r.StatusCode != http.StatusSeeOther || !strings.HasPrefix(r.Header.Get("Location"), "/login") {
		t.Errorf("/messages answered %d %q, want 303 to /login", r.StatusCode, r.Header.Get("Location"))
	}
}

// refusal is what a refused callback must show and record.
type refusal struct {
	status int
	texts  []string
	audit  string // in the detail of the new sso-refused audit entry
}

// noAccount is the single sign-on guide's step 5 page.
var noAccount = refusal{status: http.StatusForbidden, audit: "no active CQRS account",
	texts: []string{"You do not have a CQRS account", "support@cqrs.co.uk", "0800 4402777", "use your legacy login"}}

// noAddress is the page for a provider that sent no email or username.
var noAddress = refusal{status: http.StatusBadRequest, audit: "no email address from the provider",
	texts: []string{"NHSmail sent no email address", "did not tell CQRS your email address", "Nothing was signed in."}}

func notValid(detail, text string) refusal {
	return refusal{status: http.StatusBadRequest, audit: detail, texts: []string{"NHSmail sign-in did not complete", text, "Nothing was signed in."}}
}

func (s *ssoEnv) refusals() int {
	s.t.Helper()
	_, n, err := s.store.AuditEvents(context.Background(), cqrs.AuditFilter{Type: evSSORefused})
	if err != nil {
		s.t.Fatal(err)
	}
	return n
}

// wantRefused checks the answer, that no session was started, and that
// exactly one sso-refused entry was added since before was counted.
func (b *browser) wantRefused(t *testing.T, r response, before int, want refusal) {
	t.Helper()
	wantStatus(t, r, want.status)
	wantText(t, r, want.texts...)
	for _, c := range r.Cookies() {
		if c.Name == sessionCookie && c.Value != "" {
			t.Error("a refused sign-in set a session cookie")
		}
	}
	b.wantNoSession(t)
	events, n, err := b.s.store.AuditEvents(t.Context(), cqrs.AuditFilter{Type: evSSORefused, Limit: 1})
	if err != nil {
		t.Fatal(err)
	}
	if n != before+1 {
		t.Fatalf("sso-refused audit entries = %d, want %d", n, before+1)
	}
	if ev := events[0]; !strings.Contains(ev.Detail, want.audit) || ev.Method != "nhsmail" {
		t.Errorf("audit entry = %+v, want method nhsmail and detail with %q", ev, want.audit)
	}
}

func (s *ssoEnv) subject(t *testing.T, userID string) string {
	t.Helper()
	u, err := s.store.UserByUserID(t.Context(), userID)
	if err != nil {
		t.Fatal(err)
	}
	return u.SSOSubject
}

func (s *ssoEnv) lastEvent(t *testing.T, typ string) cqrs.AuditEvent {
	t.Helper()
	events, _, err := s.store.AuditEvents(t.Context(), cqrs.AuditFilter{Type: typ, Limit: 1})
	if err != nil || len(events) == 0 {
		t.Fatalf("no %s audit entry (%v)", typ, err)
	}
	return events[0]
}

func withQuery(t *testing.T, rawURL string, change func(url.Values)) string {
	t.Helper()
	u, err := url.Parse(rawURL)
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	change(q)
	u.RawQuery = q.Encode()
	return u.String()
}

func TestSSOSignIn(t *testing.T) {
	s := newSSOEnv(t)
	kim := s.addUser(s.admin.OrgID, "kim.lee", "Harbour!2026x")
	jo := s.addUser(s.admin.OrgID, "jo.upn", "Harbour!2026x")

	t.Run("email in another case: lands on the message centre and links the subject", func(t *testing.T) {
		s.op.login(opLogin{Claims: samAtProvider()})
		b := s.browser(t)
		r := b.signIn("")
		wantText(t, r, "Message Centre")
		b.wantSignedIn(t, r, "/messages")
		want := []hop{
			{"/sso/start", http.StatusSeeOther, ""},
			{"/authorize", http.StatusFound, ""},
			{"/sso/callback", http.StatusSeeOther, "/messages"},
			{"/messages", http.StatusOK, ""},
		}
		for i, h := range want {
			if got := b.hops[i]; got.path != h.path || got.status != h.status || h.location != "" && got.location != h.location {
				t.Errorf("hop %d = %+v, want %+v", i, got, h)
			}
		}
		if got, want := s.subject(t, "sam.patel"), s.op.URL+"|248289761001"; got != want {
			t.Errorf("SSOSubject = %q, want %q", got, want)
		}
		if ev := s.lastEvent(t, evSignIn); ev.Subject != "sam.patel" || ev.Method != "nhsmail" || ev.Detail != "matched by email" {
			t.Errorf("sign-in audit entry = %+v", ev)
		}

		// The provider saw the client, the redirect URI, state, nonce and
		// PKCE S256, and a verifier that hashes to the challenge.
		az := s.op.lastAuthorize()
		if az.ClientID != "cqrs" || az.RedirectURI != s.base+"/sso/callback" || az.ResponseType != "code" {
			t.Errorf("authorize request = %+v", az)
		}
		for _, scope := range []string{"openid", "email", "profile"} {
			if !strings.Contains(" "+az.Scope+" ", " "+scope+" ") {
				t.Errorf("scope %q lacks %s", az.Scope, scope)
			}
		}
		if len(az.State) < 20 || len(az.Nonce) < 20 || az.State == az.Nonce {
			t.Errorf("state %q and nonce %q: want two different unguessable values", az.State, az.Nonce)
		}
		if az.ChallengeMethod != "S256" || len(az.CodeChallenge) != 43 {
			t.Errorf("code_challenge_method %q, code_challenge %q", az.ChallengeMethod, az.CodeChallenge)
		}
		toks := s.op.tokenRequests()
		last := toks[len(toks)-1]
		if last.Refused != "" || last.AuthMethod != "client_secret_basic" || last.RedirectURI != s.base+"/sso/callback" {
			t.Errorf("token request = %+v", last)
		}
		if last.CodeVerifier == "" || s256(last.CodeVerifier) != az.CodeChallenge {
			t.Errorf("code_verifier %q does not hash to the challenge %q", last.CodeVerifier, az.CodeChallenge)
		}
	})

	t.Run("the email changed, the same subject: the link finds the account", func(t *testing.T) {
		claims := samAtProvider()
		claims["email"] = "sam.patel2@nhs.net"
		s.op.login(opLogin{Claims: claims})
		b := s.browser(t)
		b.wantSignedIn(t, b.signIn(""), "/messages")
		if ev := s.lastEvent(t, evSignIn); ev.Subject != "sam.patel" || ev.Detail != "matched by linked subject" {
			t.Errorf("sign-in audit entry = %+v", ev)
		}
	})

	entra := []struct {
		name   string
		user   cqrs.User
		claims map[string]any
		oid    string
	}{
		{"Entra-style claims, preferred_username only", kim, map[string]any{"preferred_username": "Kim.Lee@NHS.net"}, "00000000-0000-0000-66f3-3332eca7ea81"},
		{"Entra-style claims, upn only", jo, map[string]any{"upn": "JO.UPN@nhs.net"}, "00000000-0000-0000-9b2c-1f0e5d6a7c42"},
	}
	const tid = "9188040d-6c67-4c5b-b112-36a304b66dad"
	for _, tc := range entra {
		t.Run(tc.name, func(t *testing.T) {
			claims := map[string]any{"sub": "AAAAAAAAAAAAAAAAAAAAAIkzqFVrSaSaFHy782bbtaQ", "tid": tid, "oid": tc.oid, "name": "Entra User"}
			for k, v := range tc.claims {
				claims[k] = v
			}
			s.op.login(opLogin{Claims: claims})
			b := s.browser(t)
			b.wantSignedIn(t, b.signIn(""), "/messages")
			if got, want := s.subject(t, tc.user.UserID), s.op.URL+"|"+tid+":"+tc.oid; got != want {
				t.Errorf("SSOSubject = %q, want %q", got, want)
			}
			// Renamed in the directory: tid+oid still finds the account.
			claims["preferred_username"], claims["upn"] = "renamed@nhs.net", "renamed@nhs.net"
			s.op.login(opLogin{Claims: claims})
			b = s.browser(t)
			b.wantSignedIn(t, b.signIn(""), "/messages")
			if ev := s.lastEvent(t, evSignIn); ev.Subject != tc.user.UserID || ev.Detail != "matched by linked subject" {
				t.Errorf("sign-in audit entry = %+v", ev)
			}
		})
	}

	t.Run("next=/account lands on the account page", func(t *testing.T) {
		s.op.login(opLogin{Claims: samAtProvider()})
		b := s.browser(t)
		b.wantSignedIn(t, b.signIn("/account"), "/account")
	})
	for _, evil := range []string{"//evil.example", "https://evil.example/", `/\evil.example`} {
		t.Run("next="+evil+" lands on the message centre", func(t *testing.T) {
			s.op.login(opLogin{Claims: samAtProvider()})
			b := s.browser(t)
			b.wantSignedIn(t, b.signIn(evil), "/messages")
		})
	}

	t.Run("a provider that takes client_secret_post only", func(t *testing.T) {
		s.op.acceptAuth("client_secret_post")
		defer s.op.acceptAuth("client_secret_basic", "client_secret_post")
		s.op.login(opLogin{Claims: samAtProvider()})
		b := s.browser(t)
		b.wantSignedIn(t, b.signIn(""), "/messages")
		toks := s.op.tokenRequests()
		if last := toks[len(toks)-1]; last.AuthMethod != "client_secret_post" || last.Refused != "" {
			t.Errorf("last token request = %+v", last)
		}
	})
}

func TestSSOFindsOnlyActiveUnlinkedAccounts(t *testing.T) {
	s := newSSOEnv(t)
	org := s.admin.OrgID
	disabled := s.addUser(org, "gone.away", "Harbour!2026x")
	if _, err := s.store.SetStatus(t.Context(), disabled.ID, cqrs.StatusDisabled); err != nil {
		t.Fatal(err)
	}
	s.addUser(org, "new.starter", "") // invited, never registered
	linked := s.addUser(org, "linked.user", "Harbour!2026x")
	original := s.op.URL + "|original-subject"
	if _, err := s.store.LinkSSOSubject(t.Context(), linked.ID, original, nil); err != nil {
		t.Fatal(err)
	}
	s.addUser(org, "pref.user", "Harbour!2026x")

	linkedElsewhere := refusal{status: http.StatusForbidden, audit: "linked to another NHSmail identity",
		texts: []string{"Your CQRS account is linked to another NHSmail account", "Remove NHSmail link", "support@cqrs.co.uk"}}
	cases := []struct {
		name   string
		claims map[string]any
		want   refusal
	}{
		{"no CQRS account with that email", map[string]any{"sub": "s-nobody", "email": "nobody@nhs.net"}, noAccount},
		{"email_verified false", map[string]any{"sub": "s-unverified", "email": "sam.patel@nhs.net", "email_verified": false}, noAccount},
		{"email_verified false, preferred_username not an account", map[string]any{"sub": "s-unverified-2", "email": "sam.patel@nhs.net", "email_verified": false, "preferred_username": "someone@nhs.net"}, noAccount},
		{"an account linked to another subject", map[string]any{"sub": "s-newcomer", "email": "linked.user@nhs.net", "email_verified": true}, linkedElsewhere},
		{"a disabled account", map[string]any{"sub": "s-disabled", "email": "gone.away@nhs.net", "email_verified": true}, noAccount},
		{"an invited, unregistered account", map[string]any{"sub": "s-invited", "email": "new.starter@nhs.net", "email_verified": true}, noAccount},
		{"no email or username at all", map[string]any{"sub": "s-bare"}, noAddress},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s.op.login(opLogin{Claims: tc.claims})
			b := s.browser(t)
			before := s.refusals()
			r := b.signIn("")
			b.wantRefused(t, r, before, tc.want)
			if email, _ := tc.claims["email"].(string); email != "" && tc.claims["email_verified"] != false {
				wantText(t, r, email)
			}
		})
	}
	for _, u := range []string{"sam.patel", "gone.away", "new.starter", "pref.user"} {
		if sub := s.subject(t, u); sub != "" {
			t.Errorf("%s was linked to %q by a refused sign-in", u, sub)
		}
	}
	if got := s.subject(t, "linked.user"); got != original {
		t.Errorf("linked.user's subject = %q, want %q kept", got, original)
	}

	t.Run("email_verified false, preferred_username matches", func(t *testing.T) {
		s.op.login(opLogin{Claims: map[string]any{"sub": "s-pref", "email": "pref.user@nhs.net", "email_verified": false, "preferred_username": "PREF.USER@nhs.net"}})
		b := s.browser(t)
		b.wantSignedIn(t, b.signIn(""), "/messages")
		if ev := s.lastEvent(t, evSignIn); ev.Subject != "pref.user" || ev.Detail != "matched by preferred_username" {
			t.Errorf("sign-in audit entry = %+v", ev)
		}
	})

	t.Run("a locked account gets the locked page", func(t *testing.T) {
		if _, err := s.store.LegacySignIn(t.Context(), cqrs.SignInAttempt{UserID: "sam.patel", LockAfter: 1}); err != nil {
			t.Fatal(err)
		}
		s.op.login(opLogin{Claims: samAtProvider()})
		b := s.browser(t)
		r := b.signIn("")
		wantStatus(t, r, http.StatusForbidden)
		wantText(t, r, "Your account is locked", "Unlock Account or Forgotten Password", "support@cqrs.co.uk")
		b.wantNoSession(t)
		if ev := s.lastEvent(t, evSignInLocked); ev.Subject != "sam.patel" || ev.Method != "nhsmail" {
			t.Errorf("locked audit entry = %+v", ev)
		}
	})
}

func TestSSOStateIsBoundToTheBrowserAndUsedOnce(t *testing.T) {
	s := newSSOEnv(t)
	s.op.login(opLogin{Claims: samAtProvider()})
	notThisBrowser := notValid("state missing or not this browser's", "the sign-in request did not start in this browser")

	cases := []struct {
		name string
		run  func(t *testing.T, b *browser) response
		want refusal
	}{
		{"state missing", func(t *testing.T, b *browser) response {
			return b.visit(withQuery(t, b.callbackURL(""), func(q url.Values) { q.Del("state") }))
		}, notThisBrowser},
		{"state from another browser's sign-in", func(t *testing.T, b *browser) response {
			b.callbackURL("")
			theirs := s.browser(t).callbackURL("")
			return b.visit(theirs)
		}, notThisBrowser},
		{"no state cookie (the answer opened in another browser)", func(t *testing.T, b *browser) response {
			return b.visit(s.browser(t).callbackURL(""))
		}, notThisBrowser},
		{"the pending request expired", func(t *testing.T, b *browser) response {
			cb := b.callbackURL("")
			s.clock.Advance(ssoPendingTTL + time.Second)
			return b.visit(cb)
		}, notValid("state expired", "the sign-in took too long")},
		{"the user cancelled at the provider", func(t *testing.T, b *browser) response {
			s.op.login(opLogin{Claims: samAtProvider(), Deny: "access_denied"})
			defer s.op.login(opLogin{Claims: samAtProvider()})
			return b.signIn("")
		}, refusal{status: http.StatusForbidden, audit: "provider error access_denied",
			texts: []string{"NHSmail sign-in was cancelled", "you have not been signed in"}}},
		{"the provider reported an error", func(t *testing.T, b *browser) response {
			s.op.login(opLogin{Claims: samAtProvider(), Deny: "temporarily_unavailable"})
			defer s.op.login(opLogin{Claims: samAtProvider()})
			return b.signIn("")
		}, notValid("provider error temporarily_unavailable", "the sign-in service reported temporarily_unavailable")},
		{"no code", func(t *testing.T, b *browser) response {
			return b.visit(withQuery(t, b.callbackURL(""), func(q url.Values) { q.Del("code") }))
		}, notValid("no code", "no authorization code")},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			b := s.browser(t)
			before, exchanges := s.refusals(), len(s.op.tokenRequests())
			b.wantRefused(t, tc.run(t, b), before, tc.want)
			if n := len(s.op.tokenRequests()); n != exchanges {
				t.Errorf("the app exchanged a code (%d token requests) for a refused answer", n-exchanges)
			}
		})
	}

	t.Run("a callback URL replayed after a successful sign-in", func(t *testing.T) {
		b := s.browser(t)
		cb := b.callbackURL("")
		b.wantSignedIn(t, b.visit(cb), "/messages")
		state := mustQuery(t, cb, "state")
		exchanges := len(s.op.tokenRequests())

		// The same browser goes Back to (or reloads) the answer while
		// signed in: it is where the answer took it, the Message Centre,
		// and nothing reaches the token endpoint.
		before := s.refusals()
		r := b.visit(cb)
		b.wantSignedIn(t, r, "/messages")
		if n := s.refusals(); n != before {
			t.Errorf("sso-refused entries = %d, want %d", n, before)
		}

		// Signed out, the answer is only a used one: it was already used
		// (it did start in this browser).
		b.jar.SetCookies(mustURL(t, s.base+"/"), []*http.Cookie{{Name: s.cookieName(sessionCookie), Value: "", Path: "/", MaxAge: -1}})
		r = b.visit(cb)
		wantStatus(t, r, http.StatusBadRequest)
		wantText(t, r, "this sign-in answer was already used")
		if strings.Contains(r.body, "did not start in this browser") {
			t.Error("a reloaded answer is said not to have started in this browser")
		}
		if n := s.refusals(); n != before+1 {
			t.Errorf("sso-refused entries = %d, want %d", n, before+1)
		}

		// Someone with both the URL and the state cookie.
		thief := s.browser(t)
		u, _ := url.Parse(s.base + "/sso/callback")
		thief.jar.SetCookies(u, []*http.Cookie{{Name: s.cookieName(ssoCookie), Value: state, Path: "/sso"}})
		before = s.refusals()
		thief.wantRefused(t, thief.visit(cb), before, notValid("state unknown or replayed", "this sign-in answer was already used"))
		if n := len(s.op.tokenRequests()); n != exchanges {
			t.Errorf("a replayed state reached the token endpoint (%d requests)", n-exchanges)
		}
	})

	t.Run("just inside ten minutes still works", func(t *testing.T) {
		b := s.browser(t)
		cb := b.callbackURL("")
		s.clock.Advance(ssoPendingTTL - time.Second)
		b.wantSignedIn(t, b.visit(cb), "/messages")
	})
}

func mustQuery(t *testing.T, rawURL, name string) string {
	t.Helper()
	u, err := url.Parse(rawURL)
	if err != nil || u.Query().Get(name) == "" {
		t.Fatalf("%s has no %s (%v)", rawURL, name, err)
	}
	return u.Query().Get(name)
}

func TestSSOCodeExchange(t *testing.T) {
	s := newSSOEnv(t)
	codeRefused := notValid("code exchange refused", "the authorization code was refused")

	t.Run("a replayed code is refused by the provider", func(t *testing.T) {
		s.op.login(opLogin{Claims: samAtProvider()})
		first := s.browser(t)
		cb := first.callbackURL("")
		first.wantSignedIn(t, first.visit(cb), "/messages")
		used := mustQuery(t, cb, "code")

		b := s.browser(t)
		before := s.refusals()
		replay := withQuery(t, b.callbackURL(""), func(q url.Values) { q.Set("code", used) })
		b.wantRefused(t, b.visit(replay), before, codeRefused)
		toks := s.op.tokenRequests()
		if last := toks[len(toks)-1]; last.Code != used || last.Refused != "invalid_grant" || last.Reason != "code already used" {
			t.Errorf("last token request = %+v", last)
		}
	})

	t.Run("a tampered PKCE challenge: the provider refuses the verifier", func(t *testing.T) {
		s.op.login(opLogin{Claims: samAtProvider()})
		b := s.browser(t)
		authz := withQuery(t, b.authorizeURL(""), func(q url.Values) { q.Set("code_challenge", s256("an attacker's verifier")) })
		before, exchanges := s.refusals(), len(s.op.tokenRequests())
		b.wantRefused(t, b.visit(b.atProvider(authz)), before, codeRefused)
		// The first attempt is refused for PKCE (and uses the code up, so a
		// retry with other client authentication finds it used).
		toks := s.op.tokenRequests()
		if len(toks) == exchanges {
			t.Fatal("no token request reached the provider")
		}
		if first := toks[exchanges]; first.Refused != "invalid_grant" || !strings.Contains(first.Reason, "PKCE") {
			t.Errorf("token request = %+v, want refused for PKCE", first)
		}
	})

	t.Run("the provider refuses the exchange", func(t *testing.T) {
		s.op.login(opLogin{Claims: samAtProvider(), RefuseExchange: true})
		b := s.browser(t)
		before := s.refusals()
		b.wantRefused(t, b.signIn(""), before, codeRefused)
	})

	t.Run("no ID token in the answer", func(t *testing.T) {
		s.op.login(opLogin{Claims: samAtProvider(), NoIDToken: true})
		b := s.browser(t)
		before := s.refusals()
		b.wantRefused(t, b.signIn(""), before, notValid("no ID token", "no ID token"))
	})
}

func TestSSOWrongClientSecret(t *testing.T) {
	s := newSSOEnv(t, func(c *SSOConfig) { c.ClientSecret = "not-the-secret" })
	s.op.login(opLogin{Claims: samAtProvider()})
	b := s.browser(t)
	before := s.refusals()
	b.wantRefused(t, b.signIn(""), before, notValid("code exchange refused", "the authorization code was refused"))
	toks := s.op.tokenRequests()
	if len(toks) == 0 {
		t.Fatal("no token request reached the provider")
	}
	for _, tr := range toks {
		if tr.Refused != "invalid_client" {
			t.Errorf("token request = %+v, want invalid_client", tr)
		}
	}
	if sub := s.subject(t, "sam.patel"); sub != "" {
		t.Errorf("linked to %q", sub)
	}
}

func TestSSOIDTokenIsVerified(t *testing.T) {
	s := newSSOEnv(t)
	invalid := notValid("ID token not valid", "the identity token was not valid")
	cases := []struct {
		name  string
		login opLogin
		want  refusal
	}{
		{"signed with another key", opLogin{SignWithOtherKey: true}, invalid},
		{"alg none, unsigned", opLogin{Unsigned: true}, invalid},
		{"wrong issuer", opLogin{Issuer: "https://login.evil.example/"}, invalid},
		{"wrong audience", opLogin{Audience: "someone-else"}, invalid},
		{"audience list without this client", opLogin{Audience: []string{"someone-else", "another"}}, invalid},
		{"expired by the app's clock", opLogin{ExpiresIn: -time.Minute}, invalid},
		{"nonce from another sign-in", opLogin{Nonce: "a-nonce-this-browser-never-sent"}, notValid("nonce mismatch", "the identity token was not issued for this sign-in")},
		{"no sub", opLogin{NoSub: true}, invalid},
		{"no iat", opLogin{NoIat: true}, invalid},
		{"no kid, several keys published", opLogin{NoKid: true, ExtraKeys: true}, invalid},
		{"userinfo for another subject", opLogin{UserinfoSub: "someone-else"}, notValid("userinfo subject differs", "the identity token and the profile describe different people")},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			tc.login.Claims = samAtProvider()
			s.op.login(tc.login)
			b := s.browser(t)
			before := s.refusals()
			b.wantRefused(t, b.signIn(""), before, tc.want)
			toks := s.op.tokenRequests()
			if last := toks[len(toks)-1]; last.Refused != "" {
				t.Errorf("the provider refused the exchange (%+v): the app should have been the one to refuse", last)
			}
		})
	}
	if sub := s.subject(t, "sam.patel"); sub != "" {
		t.Errorf("a refused token linked sam.patel to %q", sub)
	}

	// OpenID Connect Core 10.1: with one key published, kid may be left
	// out (conformance test rp-id_token-kid-absent-single-jwks accepts it).
	t.Run("no kid, one key published", func(t *testing.T) {
		s.op.login(opLogin{Claims: samAtProvider(), NoKid: true})
		b := s.browser(t)
		b.wantSignedIn(t, b.signIn(""), "/messages")
	})
}

func TestSSOLinkRemovedByTheAdministrator(t *testing.T) {
	s := newSSOEnv(t)
	s.op.login(opLogin{Claims: samAtProvider()})
	b := s.browser(t)
	b.wantSignedIn(t, b.signIn(""), "/messages")
	linked := s.op.URL + "|248289761001"
	if got := s.subject(t, "sam.patel"); got != linked {
		t.Fatalf("SSOSubject = %q, want %q", got, linked)
	}

	admin := s.client()
	wantStatus(t, admin.signIn("admin.jones", strongPassword, ""), http.StatusSeeOther)
	path := fmt.Sprintf("/admin/users/%d", s.sam.ID)
	page := admin.get(path)
	wantStatus(t, page, http.StatusOK)
	// Said as a person reads it: the account and since when, not the raw issuer|subject.
	if got := page.doc(t).Find(`[data-testid="detail-sso"]`).Text(); !strings.HasPrefix(got, "Linked to NHSmail account 248289761001 since ") || strings.Contains(got, "|") {
		t.Errorf("detail-sso = %q", got)
	}
	wantText(t, page, "Remove NHSmail link")

	r := admin.post(path+"/unlink", url.Values{"csrf_token": {admin.csrf(path)}})
	wantStatus(t, r, http.StatusSeeOther)
	if got := s.subject(t, "sam.patel"); got != "" {
		t.Fatalf("SSOSubject after unlink = %q", got)
	}
	if _, err := s.store.UserBySSOSubject(t.Context(), linked); !errors.Is(err, cqrs.ErrNotFound) {
		t.Errorf("the subject index still finds the account: %v", err)
	}
	if ev := s.lastEvent(t, evSSOUnlinked); ev.Subject != "sam.patel" || ev.Actor != "admin.jones" {
		t.Errorf("unlink audit entry = %+v", ev)
	}
	if page := admin.get(path); strings.Contains(page.body, `data-testid="detail-sso"`) {
		t.Error("the detail page still shows the link")
	}

	// A new identity with the same email can now link.
	claims := samAtProvider()
	claims["sub"] = "new-subject-77"
	s.op.login(opLogin{Claims: claims})
	b = s.browser(t)
	b.wantSignedIn(t, b.signIn(""), "/messages")
	if got, want := s.subject(t, "sam.patel"), s.op.URL+"|new-subject-77"; got != want {
		t.Errorf("SSOSubject after a new sign-in = %q, want %q", got, want)
	}
}

// Subjects are case-sensitive strings (OpenID Connect Core 1.0, 2: "sub"
// is compared as given); many providers' subjects are mixed case.
func TestSSOSubjectIsMatchedExactly(t *testing.T) {
	s := newSSOEnv(t)
	kim := s.addUser(s.admin.OrgID, "kim.lee", "Harbour!2026x")

	t.Run("a mixed-case subject finds its account again", func(t *testing.T) {
		claims := map[string]any{"sub": "00uA1b2C3d4E5f6G7h8", "email": "sam.patel@nhs.net", "email_verified": true}
		s.op.login(opLogin{Claims: claims})
		b := s.browser(t)
		b.wantSignedIn(t, b.signIn(""), "/messages")
		claims["email"] = "sam.changed@nhs.net"
		s.op.login(opLogin{Claims: claims})
		b = s.browser(t)
		b.wantSignedIn(t, b.signIn(""), "/messages")
	})

	t.Run("a subject differing only in case is another identity", func(t *testing.T) {
		if _, err := s.store.LinkSSOSubject(t.Context(), kim.ID, s.op.URL+"|abc-subject", nil); err != nil {
			t.Fatal(err)
		}
		s.op.login(opLogin{Claims: map[string]any{"sub": "ABC-SUBJECT", "email": "stranger@nhs.net", "email_verified": true}})
		b := s.browser(t)
		before := s.refusals()
		b.wantRefused(t, b.signIn(""), before, noAccount)
	})
}

// With EmailOnly (any provider but the simulator and Entra ID), a first
// sign-in is matched by the email claim alone: preferred_username and upn
// find nothing and link nothing.
func TestSSOEmailOnlyIgnoresUsernameClaims(t *testing.T) {
	s := newSSOEnv(t, func(c *SSOConfig) { c.EmailOnly = true })
	for name, claims := range map[string]map[string]any{
		"preferred_username": {"sub": "s-pref", "email": "nobody@nhs.net", "preferred_username": "sam.patel@nhs.net"},
		"upn":                {"sub": "s-upn", "upn": "SAM.PATEL@nhs.net"},
		"email not verified": {"sub": "s-unverified", "email": "sam.patel@nhs.net", "email_verified": false, "preferred_username": "sam.patel@nhs.net"},
	} {
		t.Run(name, func(t *testing.T) {
			s.op.login(opLogin{Claims: claims})
			b := s.browser(t)
			before := s.refusals()
			b.wantRefused(t, b.signIn(""), before, noAccount)
		})
	}
	if sub := s.subject(t, "sam.patel"); sub != "" {
		t.Errorf("sam.patel was linked to %q by a username claim", sub)
	}
	s.op.login(opLogin{Claims: samAtProvider()})
	b := s.browser(t)
	b.wantSignedIn(t, b.signIn(""), "/messages")
}

// newSimulatorAdminEnv is newAdminEnv with the embedded NHSmail simulator
// configured, so its administration pages (accounts, applications) exist.
func newSimulatorAdminEnv(t *testing.T) *adminEnv {
	t.Helper()
	e := newAdminEnv(t)
	cfg := e.cfgForRebuild()
	cfg.SSO = SSOConfig{Issuer: "http://127.0.0.1:8420/nhsmail", ClientID: "cqrs", ClientSecret: "x", RedirectURL: "http://127.0.0.1:8420/sso/callback"}
	app, err := New(nilLogger(), cfg, e.deps(Deps{Hasher: e.hasher, NHSmailDirectory: e.store}))
	if err != nil {
		t.Fatal(err)
	}
	e.app = app
	return e
}

// The system administrator registers another application with the NHSmail
// simulator: its secret is shown once and only its SHA-256 is kept; bad
// redirect URIs are refused with a message and register nothing; nobody
// else may see or change the registrations.
func TestNHSmailApplicationsAreRegisteredByTheSystemAdministrator(t *testing.T) {
	e := newSimulatorAdminEnv(t)
	const page = "/admin/nhsmail/applications"
	form := func(c *client, name, uris, kind string) url.Values {
		return url.Values{"name": {name}, "redirect_uris": {uris}, "type": {kind}, "csrf_token": {c.csrf(page)}}
	}

	for name, c := range map[string]*client{"User Administrator": e.orgAdmin, "user": e.user, "anonymous": e.client()} {
		if r := c.get(page); r.StatusCode == http.StatusOK {
			t.Errorf("%s opened the applications page", name)
		}
		if r := c.post(page, url.Values{"name": {"X"}, "redirect_uris": {"https://x.example/cb"}, "type": {"public"}}); r.StatusCode < 400 {
			t.Errorf("%s registered an application: %d", name, r.StatusCode)
		}
	}

	for _, bad := range []string{"", "http://rota.example.org/callback", "https://evil.example@rota.example.org/cb", "https://rota.example.org/cb#frag", "rota.example.org/cb", "javascript:alert(1)"} {
		r := e.sys.post(page, form(e.sys, "Practice Rota", bad, "confidential"))
		wantStatus(t, r, http.StatusUnprocessableEntity)
		wantText(t, r, "redirect URI")
		if apps, _ := e.store.NHSmailApplications(t.Context()); len(apps) != 0 {
			t.Fatalf("%q registered an application", bad)
		}
	}

	r := e.sys.post(page, form(e.sys, "Practice Rota", "https://rota.example.org/callback\nhttp://127.0.0.1:53682/callback", "confidential"))
	wantStatus(t, r, http.StatusSeeOther) // POST-redirect-GET: a reload registers nothing
	r = e.sys.get(page)
	doc := r.doc(t)
	secretShown := strings.TrimSpace(doc.Find(`[data-testid="app-secret"]`).Text())
	clientID := strings.TrimSpace(doc.Find(`[data-testid="app-client-id"]`).Text())
	apps, err := e.store.NHSmailApplications(t.Context())
	if err != nil || len(apps) != 1 || secretShown == "" || apps[0].ClientID != clientID {
		t.Fatalf("registered %+v, shown id %q secret %q (%v)", apps, clientID, secretShown, err)
	}
	if sum := sha256.Sum256([]byte(secretShown)); !bytes.Equal(apps[0].SecretHash, sum[:]) || len(apps[0].RedirectURIs) != 2 {
		t.Errorf("stored %+v", apps[0])
	}
	if bytes.Contains(e.dbBytes(), []byte(secretShown)) {
		t.Error("the client secret reached the database in clear")
	}
	list := e.sys.get(page)
	wantText(t, list, "Practice Rota", clientID, "Confidential", "https://rota.example.org/callback")
	if strings.Contains(list.body, secretShown) {
		t.Error("the list shows the secret again")
	}

	r = e.sys.post(page, form(e.sys, "Rota Desktop", "http://localhost:53682/callback", "public"))
	wantStatus(t, r, http.StatusSeeOther)
	r = e.sys.get(page)
	if !strings.Contains(r.body, "Rota Desktop") {
		t.Error("the new public client is not shown after the redirect")
	}
	if apps, _ := e.store.NHSmailApplications(t.Context()); len(apps) != 2 {
		t.Errorf("%d applications after registering two", len(apps))
	}
	if r.doc(t).Find(`[data-testid="app-secret"]`).Length() != 0 {
		t.Error("a public client was given a secret")
	}

	del := page + "/" + clientID + "/delete"
	if r := e.orgAdmin.post(del, url.Values{"csrf_token": {e.orgAdmin.csrf("/admin/users")}}); r.StatusCode < 400 {
		t.Errorf("a User Administrator removed an application: %d", r.StatusCode)
	}
	wantStatus(t, e.sys.post(del, url.Values{"csrf_token": {e.sys.csrf(page)}}), http.StatusSeeOther)
	if _, err := e.store.NHSmailApplication(t.Context(), clientID); err == nil {
		t.Error("the application is still registered")
	}
}

// TestSSOResultPagesCanBeReloaded: a refused callback redirects to a page
// of its own, so reloading it (or redrawing it) shows the same page, not
// "this sign-in answer was already used", and audits nothing more.
func TestSSOResultPagesCanBeReloaded(t *testing.T) {
	s := newSSOEnv(t)
	locked := s.addUser(s.admin.OrgID, "locked.user", "Harbour!2026x")
	if _, err := s.store.LegacySignIn(t.Context(), cqrs.SignInAttempt{UserID: locked.UserID, LockAfter: 1}); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name   string
		claims map[string]any
		path   string
		texts  []string
	}{
		{"no CQRS account", map[string]any{"sub": "s-nobody", "email": "nobody@nhs.net", "email_verified": true}, "/sso/no-account",
			[]string{"You do not have a CQRS account", "nobody@nhs.net"}},
		{"locked", map[string]any{"sub": "s-locked", "email": "locked.user@nhs.net", "email_verified": true}, "/sso/locked",
			[]string{"Your account is locked"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s.op.login(opLogin{Claims: tc.claims})
			b := s.browser(t)
			cb := b.callbackURL("")
			r := b.visit(cb)
			if r.Request.URL.Path != tc.path {
				t.Fatalf("the callback ended on %s, want %s", r.Request.URL, tc.path)
			}
			wantStatus(t, r, http.StatusForbidden)
			wantText(t, r, tc.texts...)
			audited := s.refusals() + len(s.events(t, evSignInLocked))
			for range 2 {
				again := b.visit(r.Request.URL.String())
				wantStatus(t, again, http.StatusForbidden)
				wantText(t, again, tc.texts...)
				if strings.Contains(again.body, "already used") {
					t.Fatal("a reloaded result page says the answer was already used")
				}
			}
			// Back onto the callback's address: the same page again.
			back := b.visit(cb)
			if back.Request.URL.Path != tc.path || strings.Contains(back.body, "already used") {
				t.Errorf("Back onto the used callback ended on %s:\n%s", back.Request.URL, excerpt(back.body))
			}
			if n := s.refusals() + len(s.events(t, evSignInLocked)); n != audited {
				t.Errorf("reloading audited %d more refusals", n-audited)
			}
			b.wantNoSession(t)
			// Another browser given the address sees the page, naming nobody.
			other := s.browser(t).visit(r.Request.URL.String())
			wantStatus(t, other, http.StatusForbidden)
			if strings.Contains(other.body, "nobody@nhs.net") {
				t.Error("another browser is shown the refused address")
			}
		})
	}
}

func (s *ssoEnv) events(t *testing.T, typ string) []cqrs.AuditEvent {
	t.Helper()
	events, _, err := s.store.AuditEvents(t.Context(), cqrs.AuditFilter{Type: typ})
	if err != nil {
		t.Fatal(err)
	}
	return events
}

// TestSSOEmbeddedLinksSurviveAChangeOfAddress: links to the embedded
// simulator are namespaced by a constant, not its issuer URL (which holds
// the listener's address); links written at an earlier address still sign
// in; another identity gets the page that says the account is linked
// elsewhere.
func TestSSOEmbeddedLinksSurviveAChangeOfAddress(t *testing.T) {
	s := newSSOEnv(t, func(c *SSOConfig) { c.LinkNamespace = EmbeddedNHSmailNamespace })
	const tenant = "8a1e6b7c-0000-4000-8000-000000000001"
	identity := func(oid, email string) map[string]any {
		return map[string]any{"sub": "pairwise-" + oid, "tid": tenant, "oid": oid, "email": email, "email_verified": true}
	}

	s.op.login(opLogin{Claims: identity("oid-sam", "sam.patel@nhs.net")})
	b := s.browser(t)
	b.wantSignedIn(t, b.signIn(""), "/messages")
	if got, want := s.subject(t, "sam.patel"), EmbeddedNHSmailNamespace+"|"+tenant+":oid-sam"; got != want {
		t.Fatalf("sam's link = %q, want %q (no address in it)", got, want)
	}

	earlier := s.addUser(s.admin.OrgID, "earlier.user", "Harbour!2026x")
	if _, err := s.store.LinkSSOSubject(t.Context(), earlier.ID, "http://127.0.0.1:8420/nhsmail|"+tenant+":oid-earlier", nil); err != nil {
		t.Fatal(err)
	}
	s.op.login(opLogin{Claims: identity("oid-earlier", "earlier.user@nhs.net")})
	b = s.browser(t)
	b.wantSignedIn(t, b.signIn(""), "/messages")
	if ev := s.lastEvent(t, evSignIn); ev.Subject != "earlier.user" {
		t.Errorf("sign-in audit entry = %+v", ev)
	}

	// Someone else holding earlier.user's address at NHSmail.
	s.op.login(opLogin{Claims: identity("oid-impostor", "earlier.user@nhs.net")})
	b = s.browser(t)
	before := s.refusals()
	r := b.signIn("")
	if r.Request.URL.Path != "/sso/linked-elsewhere" {
		t.Fatalf("ended on %s, want /sso/linked-elsewhere", r.Request.URL)
	}
	b.wantRefused(t, r, before, refusal{status: http.StatusForbidden, audit: "linked to another NHSmail identity",
		texts: []string{"Your CQRS account is linked to another NHSmail account", "earlier.user@nhs.net", "sign in with the NHSmail account you used before", "Remove NHSmail link"}})
	if strings.Contains(r.body, "You do not have a CQRS account") {
		t.Error("the linked-elsewhere page says there is no CQRS account")
	}
}

func mustURL(t *testing.T, raw string) *url.URL {
	t.Helper()
	u, err := url.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

// A provider may send the email in the userinfo answer only (OpenID Connect
// Core 5.4): the person is found by it. One that sends no address at all
// gets a page saying so, not the page for an address without an account.
func TestSSOUsesTheUserinfoProfile(t *testing.T) {
	s := newSSOEnv(t)

	t.Run("email only from userinfo", func(t *testing.T) {
		s.op.login(opLogin{Claims: map[string]any{"sub": "ui-only-1"},
			UserinfoOnly: map[string]any{"email": "Sam.Patel@nhs.net", "email_verified": true}})
		b := s.browser(t)
		b.wantSignedIn(t, b.signIn(""), "/messages")
		if got, want := s.subject(t, "sam.patel"), s.op.URL+"|ui-only-1"; got != want {
			t.Errorf("sam.patel linked to %q, want %q", got, want)
		}
	})

	t.Run("userinfo's unverified email is not matched", func(t *testing.T) {
		s.op.login(opLogin{Claims: map[string]any{"sub": "ui-only-2", "email": "nobody@nhs.net", "email_verified": true},
			UserinfoOnly: map[string]any{"email": "kim.lee@nhs.net", "email_verified": false}})
		b := s.browser(t)
		before := s.refusals()
		b.wantRefused(t, b.signIn(""), before, noAccount)
	})

	t.Run("no address anywhere", func(t *testing.T) {
		s.op.login(opLogin{Claims: map[string]any{"sub": "ui-none", "name": "Sam Patel"}})
		b := s.browser(t)
		before := s.refusals()
		b.wantRefused(t, b.signIn(""), before, noAddress)
	})
}
