package handlers

import (
	"bytes"
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/cqrs-local/cqrs-signin/cqrs"
	"github.com/cqrs-local/cqrs-signin/secret"
)

const strongPassword = "Riverside#2026q"

var adminForm = url.Values{
	"user_id": {"admin.jones"}, "first_name": {"Alex"}, "last_name": {"Jones"},
	"email": {"Alex.Jones@nhs.net"}, "org_name": {"Riverside Practice"}, "ods_code": {"y12345"},
}

// startSetup opens the printed set-up link in c.
func (e *testEnv) startSetup(c *client) {
	e.t.Helper()
	token := secret.NewToken()
	if err := e.store.SetSetupToken(context.Background(), secret.HashToken(token)); err != nil {
		e.t.Fatal(err)
	}
	r := c.get("/setup?token=" + token)
	wantStatus(e.t, r, 303)
	if loc := r.Header.Get("Location"); loc != "/setup" {
		e.t.Fatalf("set-up link redirects to %q, want the token-free /setup", loc)
	}
}

// setUp runs the first-run set-up and returns the registration link token
// it left in c's cookie jar.
func (e *testEnv) setUp(c *client) string {
	e.t.Helper()
	e.startSetup(c)
	form := cloneForm(adminForm)
	form.Set("csrf_token", c.csrf("/setup"))
	r := c.post("/setup", form)
	wantStatus(e.t, r, 303)
	if loc := r.Header.Get("Location"); loc != "/register" {
		e.t.Fatalf("set-up redirects to %q, want /register", loc)
	}
	return c.cookieAt("/register", linkCookie)
}

func cloneForm(v url.Values) url.Values {
	out := url.Values{}
	for k, vs := range v {
		out[k] = append([]string(nil), vs...)
	}
	return out
}

// startSetupRefused: once an account exists no new set-up token is taken.
func (e *testEnv) startSetupRefused(t *testing.T) {
	if err := e.store.SetSetupToken(t.Context(), secret.HashToken(secret.NewToken())); err == nil {
		t.Fatal("a set-up token was accepted after set-up")
	}
}

func TestRegistration(t *testing.T) {
	e := newEnv(t)
	c := e.client()
	token := e.setUp(c)

	page := c.get("/register")
	wantStatus(t, page, 200)
	wantText(t, page, "Security Information:", "* indicates required field(s)", "Password Policy:",
		"Password may only be changed once every 72 hours.",
		"Password can not contain all or part (first or last part) of the User ID.",
		"Password must be 8-32 characters long.",
		"Password must be different from the previous 8 passwords.",
		"Password must be different from the current password.",
		"Password must address three of the following four categories:",
		"Uppercase characters (A...Z)", "Lowercase characters (a...z)", "Base 10 digits (0...9)", "Non alphanumeric (!, ?, £ etc.)")
	doc := page.doc(t)
	if got := doc.Find(`[data-testid="register-user-id"]`).Text(); got != "admin.jones" {
		t.Fatalf("User ID shown = %q", got)
	}
	if doc.Find(`input[type="password"][value]`).Length() != 0 {
		t.Fatal("a password input carries a value")
	}
	csrf := doc.Find(`input[name="csrf_token"]`).AttrOr("value", "")

	t.Run("the live check ticks the cheap rules", func(t *testing.T) {
		cases := []struct {
			password                   string
			length, categories, userID string
		}{
			{"abc", "not-met", "not-met", "met"},
			{"Jones2024!x", "met", "met", "not-met"},
			{strongPassword, "met", "met", "met"},
		}
		for _, tc := range cases {
			r := c.post("/register/check", url.Values{"password": {tc.password}, "csrf_token": {csrf}}, header("HX-Request", "true"))
			wantStatus(t, r, 200)
			d := r.doc(t)
			for rule, want := range map[string]string{"length": tc.length, "categories": tc.categories, "user-id": tc.userID} {
				if got := d.Find(`[data-testid="rule-`+rule+`"]`).AttrOr("data-state", ""); got != want {
					t.Errorf("%q: rule %s = %q, want %q", tc.password, rule, got, want)
				}
			}
			if d.Find("html").Length() != 0 && strings.Contains(r.body, "<html") {
				t.Errorf("live check answered a whole page, want the fragment")
			}
		}
	})

	// The person holding the link, before they have registered.
	holder := map[string]*client{roleAnon: c}
	const problem = "There is a problem"
	password := func(pw, confirm string) url.Values {
		return url.Values{"password": {pw}, "confirm_password": {confirm}, "csrf_token": {csrf}}
	}
	runScenarios(t, e, holder, []scenario{
		{Name: "refused: empty", Method: "POST", URL: "/register", Role: roleAnon, Form: password("", ""),
			ExpectedStatus: 422, ExpectedContent: []string{"Enter a password.", "Confirm your password.", problem}, Unchanged: true},
		{Name: "refused: too short", Method: "POST", URL: "/register", Role: roleAnon, Form: password("Ab1!", "Ab1!"),
			ExpectedStatus: 422, ExpectedContent: []string{"Password must be 8-32 characters long.", problem}, NotExpectedContent: []string{"Ab1!"}, Unchanged: true},
		{Name: "refused: too long", Method: "POST", URL: "/register", Role: roleAnon, Form: password(strings.Repeat("Ab1!", 9), strings.Repeat("Ab1!", 9)),
			ExpectedStatus: 422, ExpectedContent: []string{"Password must be 8-32 characters long.", problem}, NotExpectedContent: []string{strings.Repeat("Ab1!", 9)}, Unchanged: true},
		{Name: "refused: two categories", Method: "POST", URL: "/register", Role: roleAnon, Form: password("abcdefgh12", "abcdefgh12"),
			ExpectedStatus: 422, ExpectedContent: []string{"Password must address three of the following four categories:", problem}, NotExpectedContent: []string{"abcdefgh12"}, Unchanged: true},
		{Name: "refused: contains the User ID", Method: "POST", URL: "/register", Role: roleAnon, Form: password("xADMIN.JONES1", "xADMIN.JONES1"),
			ExpectedStatus: 422, ExpectedContent: []string{"Password can not contain all or part", problem}, NotExpectedContent: []string{"xADMIN.JONES1"}, Unchanged: true},
		{Name: "refused: contains the last part", Method: "POST", URL: "/register", Role: roleAnon, Form: password("Jones#2026", "Jones#2026"),
			ExpectedStatus: 422, ExpectedContent: []string{"Password can not contain all or part", problem}, NotExpectedContent: []string{"Jones#2026"}, Unchanged: true},
		{Name: "refused: control character", Method: "POST", URL: "/register", Role: roleAnon, Form: password("Abcdef1!\t", "Abcdef1!\t"),
			ExpectedStatus: 422, ExpectedContent: []string{"Password must not contain control characters.", problem}, NotExpectedContent: []string{"Abcdef1!\t"}, Unchanged: true},
		{Name: "refused: confirmation differs", Method: "POST", URL: "/register", Role: roleAnon, Form: password(strongPassword, strongPassword+"x"),
			ExpectedStatus: 422, ExpectedContent: []string{"Confirm Password must match Password.", problem}, NotExpectedContent: []string{strongPassword}, Unchanged: true},
		{Name: "htmx gets the form fragment with its problems", Method: "POST", URL: "/register", Role: roleAnon, Form: password("short", "short"),
			Headers:        map[string]string{"HX-Request": "true"},
			ExpectedStatus: 422, ExpectedContent: []string{`id="security-information"`}, NotExpectedContent: []string{"<html"}, Unchanged: true},
	})

	r := c.post("/register", url.Values{"password": {strongPassword}, "confirm_password": {strongPassword}, "csrf_token": {csrf}})
	wantStatus(t, r, 303)
	if loc := r.Header.Get("Location"); loc != "/register/complete" {
		t.Fatalf("success redirects to %q", loc)
	}
	done := c.get("/register/complete")
	wantStatus(t, done, 200)
	wantText(t, done, "Your password has been set", "admin.jones", `href="/login"`)

	u, err := e.store.UserByUserID(t.Context(), "admin.jones")
	if err != nil {
		t.Fatal(err)
	}
	if u.Status != cqrs.StatusActive || !strings.HasPrefix(u.PasswordHash, "$argon2id$") {
		t.Fatalf("after registration: status %s, hash %.12q", u.Status, u.PasswordHash)
	}
	if ok, _ := e.hasher.Verify(t.Context(), strongPassword, u.PasswordHash); !ok {
		t.Fatal("stored hash does not verify the chosen password")
	}
	if bytes.Contains(e.dbBytes(), []byte(strongPassword)) {
		t.Fatal("the database file contains the password in clear")
	}
	if strings.Contains(e.logs.String(), strongPassword) {
		t.Fatal("the log contains the password")
	}

	runScenarios(t, e, map[string]*client{roleAnon: nil}, []scenario{
		{Name: "the link works once", URL: "/register", Role: roleAnon,
			Before: func(t *testing.T, again *client, _ url.Values) {
				wantStatus(t, again.get("/register?token="+token), 303)
			},
			ExpectedStatus: 404, ExpectedContent: []string{"This registration link cannot be used", "If you have already registered, you do not need it any more: sign in on the CQRS Login page", "ask your CQRS User Administrator"}},
	})
}

func TestRegistrationLinkExpires(t *testing.T) {
	e := newEnv(t)
	c := e.client()
	e.setUp(c)
	runScenarios(t, e, map[string]*client{roleAnon: c}, []scenario{
		{Name: "after 14 days", URL: "/register", Role: roleAnon,
			Before:         func(*testing.T, *client, url.Values) { e.clock.Advance(14*24*time.Hour + time.Second) },
			ExpectedStatus: 410, ExpectedContent: []string{"This registration link has expired", "Ask your CQRS User Administrator"}},
	})
}

func TestRegistrationLinkTokenLeavesURL(t *testing.T) {
	e := newEnv(t)
	c := e.client()
	token := e.setUp(c)
	fresh := e.client()
	r := fresh.get("/register?token=" + token)
	wantStatus(t, r, 303)
	if r.Header.Get("Location") != "/register" || r.Header.Get("Referrer-Policy") != "no-referrer" {
		t.Fatalf("Location %q, Referrer-Policy %q", r.Header.Get("Location"), r.Header.Get("Referrer-Policy"))
	}
	wantStatus(t, fresh.get("/register"), 200)
	wantStatus(t, e.client().get("/register?token=not-a-real-token"), 303)
}

// TestPasswordSetPagesOnlyRightAfterTheChange: "Your password has been
// set/changed" is shown once, to the browser that just set it; anyone
// typing the address, a reload, a forged or another flow's cookie get the
// CQRS Login page.
func TestPasswordSetPagesOnlyRightAfterTheChange(t *testing.T) {
	e := newEnv(t)
	for _, done := range []string{"/register/complete", "/reset/complete"} {
		r := e.client().get(done)
		if r.StatusCode != 303 || r.Header.Get("Location") != "/login" || strings.Contains(r.body, "Your password has been") {
			t.Errorf("GET %s typed in: %d %q, want 303 to /login\n%s", done, r.StatusCode, r.Header.Get("Location"), excerpt(r.body))
		}
	}
	forged := e.client()
	forged.jar.SetCookies(&url.URL{Scheme: "http", Host: testHost, Path: "/register/complete"},
		[]*http.Cookie{{Name: e.cookieName(doneCookie), Value: "admin.jones", Path: "/register/complete"}})
	if r := forged.get("/register/complete"); r.StatusCode != 303 {
		t.Errorf("a forged completion cookie: %d, want 303", r.StatusCode)
	}

	c := e.client()
	e.setUp(c)
	r := c.post("/register", url.Values{"password": {strongPassword}, "confirm_password": {strongPassword}, "csrf_token": {c.csrf("/register")}})
	wantStatus(t, r, 303)
	proof := c.cookieAt("/register/complete", doneCookie)
	done := c.get("/register/complete")
	wantStatus(t, done, 200)
	wantText(t, done, "Your password has been set", "admin.jones")
	if again := c.get("/register/complete"); again.StatusCode != 303 {
		t.Errorf("the confirmation reloaded: %d, want 303 to the CQRS Login page", again.StatusCode)
	}
	// The registration's proof says nothing on the reset page.
	other := e.client()
	other.jar.SetCookies(&url.URL{Scheme: "http", Host: testHost, Path: "/reset/complete"},
		[]*http.Cookie{{Name: e.cookieName(doneCookie), Value: proof, Path: "/reset/complete"}})
	if r := other.get("/reset/complete"); r.StatusCode != 303 {
		t.Errorf("a registration's proof on /reset/complete: %d, want 303", r.StatusCode)
	}
	// Nor once its five minutes are over.
	late := e.client()
	late.jar.SetCookies(&url.URL{Scheme: "http", Host: testHost, Path: "/register/complete"},
		[]*http.Cookie{{Name: e.cookieName(doneCookie), Value: proof, Path: "/register/complete"}})
	e.clock.Advance(doneTTL + time.Second)
	if r := late.get("/register/complete"); r.StatusCode != 303 {
		t.Errorf("an expired proof: %d, want 303", r.StatusCode)
	}
}

// TestLateLiveCheckAfterTheSubmitIsQuiet: the as-you-type check fires
// 150 ms after typing, so a quick Enter can land it after the password was
// set and the link used. It then answers 204 (htmx swaps nothing and logs
// no console error) and records no refused link: nobody was refused.
func TestLateLiveCheckAfterTheSubmitIsQuiet(t *testing.T) {
	e := newEnv(t)
	c := e.client()
	e.setUp(c)
	csrf := c.csrf("/register")
	wantStatus(t, c.post("/register", url.Values{"password": {strongPassword}, "confirm_password": {strongPassword}, "csrf_token": {csrf}}), 303)
	_, before, _ := e.store.AuditEvents(t.Context(), cqrs.AuditFilter{Type: evLinkRefused})
	r := c.post("/register/check", url.Values{"password": {strongPassword}, "csrf_token": {c.csrf("/login")}}, header("HX-Request", "true"))
	if r.StatusCode != http.StatusNoContent || r.body != "" {
		t.Errorf("a late check: %d %q, want 204 and nothing to swap", r.StatusCode, excerpt(r.body))
	}
	if _, after, _ := e.store.AuditEvents(t.Context(), cqrs.AuditFilter{Type: evLinkRefused}); after != before {
		t.Errorf("a late check recorded %d refused links", after-before)
	}
}
