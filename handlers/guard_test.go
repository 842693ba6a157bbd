package handlers

import (
	"context"
	"io"
	"log/slog"
	"net/url"
	"strings"
	"testing"
)

func TestGuardRefusesAndChangesNothing(t *testing.T) {
	e := newEnv(t)
	c := e.client()
	link := e.setUp(c)
	csrf := c.csrf("/register")
	good := url.Values{"password": {strongPassword}, "confirm_password": {strongPassword}, "csrf_token": {csrf}}
	// with is the good form with one change.
	with := func(change func(url.Values)) url.Values {
		f := cloneForm(good)
		change(f)
		return f
	}
	// The visitor's browser holds the registration link: each refusal
	// below would otherwise have set the password.
	roles := map[string]*client{roleAnon: c}
	const expired, elsewhere, notHere = "Your form has expired", "another site", "not served here"
	runScenarios(t, e, roles, []scenario{
		{Name: "CSRF token missing", Method: "POST", URL: "/register", Role: roleAnon,
			Form:           with(func(f url.Values) { f.Del("csrf_token") }),
			ExpectedStatus: 403, ExpectedContent: []string{expired}, Unchanged: true},
		{Name: "CSRF token wrong", Method: "POST", URL: "/register", Role: roleAnon,
			Form:           with(func(f url.Values) { f.Set("csrf_token", strings.Repeat("A", len(csrf))) }),
			ExpectedStatus: 403, ExpectedContent: []string{expired}, Unchanged: true},
		{Name: "CSRF token from another browser", Method: "POST", URL: "/register", Role: roleAnon, Form: good,
			Before: func(t *testing.T, _ *client, f url.Values) {
				other := e.client()
				other.get("/register?token=" + link)
				f.Set("csrf_token", other.csrf("/register"))
			},
			ExpectedStatus: 403, ExpectedContent: []string{expired}, Unchanged: true},
		{Name: "foreign Origin", Method: "POST", URL: "/register", Role: roleAnon, Form: good,
			Headers:        map[string]string{"Origin": "http://evil.example"},
			ExpectedStatus: 403, ExpectedContent: []string{elsewhere}, Unchanged: true},
		{Name: "another port on localhost", Method: "POST", URL: "/register", Role: roleAnon, Form: good,
			Headers:        map[string]string{"Origin": "http://127.0.0.1:9999"},
			ExpectedStatus: 403, ExpectedContent: []string{elsewhere}, Unchanged: true},
		{Name: "Sec-Fetch-Site cross-site", Method: "POST", URL: "/register", Role: roleAnon, Form: good,
			Headers:        map[string]string{"Sec-Fetch-Site": "cross-site"},
			ExpectedStatus: 403, ExpectedContent: []string{elsewhere}, Unchanged: true},
		{Name: "Sec-Fetch-Site same-site", Method: "POST", URL: "/register", Role: roleAnon, Form: good,
			Headers:        map[string]string{"Sec-Fetch-Site": "same-site"},
			ExpectedStatus: 403, ExpectedContent: []string{elsewhere}, Unchanged: true},
		{Name: "foreign Host", Method: "POST", URL: "/register", Role: roleAnon, Form: good, Host: "evil.example:8420",
			ExpectedStatus: 403, ExpectedContent: []string{notHere}, Unchanged: true},
		{Name: "foreign Host on a GET", URL: "/register", Role: roleAnon, Host: "rebind.example",
			ExpectedStatus: 403, ExpectedContent: []string{notHere}, Unchanged: true},
		{Name: "oversized body", Method: "POST", URL: "/register", Role: roleAnon, OverListener: true,
			Form:           with(func(f url.Values) { f.Set("padding", strings.Repeat("x", 70*1024)) }),
			ExpectedStatus: 413, ExpectedContent: []string{"too large"}, Unchanged: true},
		{Name: "invalid UTF-8 in a form value", Method: "POST", URL: "/register", Role: roleAnon,
			Body:           "password=%ff%feAbc123!&confirm_password=%ff%feAbc123!&csrf_token=" + url.QueryEscape(csrf),
			ExpectedStatus: 400, ExpectedContent: []string{"not valid text"}, Unchanged: true},
		{Name: "invalid UTF-8 in the query", URL: "/register?x=%ff", Role: roleAnon,
			ExpectedStatus: 400, ExpectedContent: []string{"not valid text"}, Unchanged: true},
	})
	// After every refusal the real submission still works: nothing was spent.
	wantStatus(t, c.post("/register", good), 303)
}

func TestSecurityHeaders(t *testing.T) {
	e := newEnv(t)
	r := e.client().get("/")
	csp := r.Header.Get("Content-Security-Policy")
	for _, want := range []string{"script-src 'self'", "object-src 'none'", "base-uri 'none'", "frame-ancestors 'none'"} {
		if !strings.Contains(csp, want) {
			t.Errorf("CSP %q lacks %q", csp, want)
		}
	}
	if strings.Contains(csp, "unsafe-inline") {
		t.Errorf("CSP allows inline script: %q", csp)
	}
	for h, want := range map[string]string{"X-Content-Type-Options": "nosniff", "Cache-Control": "no-store", "Referrer-Policy": "same-origin"} {
		if got := r.Header.Get(h); got != want {
			t.Errorf("%s = %q, want %q", h, got, want)
		}
	}
}

func TestAssetsAreEmbedded(t *testing.T) {
	e := newEnv(t)
	for _, path := range []string{"/assets/vendor/htmx.min.js", "/assets/vendor/nhsuk-frontend.min.css", "/assets/css/app.css", "/assets/js/app.js", "/assets/images/favicon.svg"} {
		r := e.client().get(path)
		if r.StatusCode != 200 || len(r.body) == 0 {
			t.Errorf("GET %s = %d (%d bytes); run `go tool task deps` to install the front-end packages", path, r.StatusCode, len(r.body))
		}
		if r.Header.Get("Cache-Control") == "no-store" {
			t.Errorf("GET %s is not cacheable", path)
		}
	}
}

// panickingStore fails the way a bug would.
type panickingStore struct{ SetupStore }

func (panickingStore) HasUsers(ctx context.Context) (bool, error) { panic("boom: internal detail") }

func TestPanicsBecomeAGenericPage(t *testing.T) {
	e := newEnv(t)
	stores := storesOf(e.store)
	stores.Setup = panickingStore{e.store}
	app, err := New(slog.New(slog.NewTextHandler(io.Discard, nil)), DefaultConfig(), Deps{Instance: e.instance(), Stores: stores, Hasher: e.hasher})
	if err != nil {
		t.Fatal(err)
	}
	e.app = app
	r := e.client().get("/")
	wantStatus(t, r, 500)
	wantText(t, r, "Sorry, there is a problem with the service")
	if strings.Contains(r.body, "boom") {
		t.Fatal("the panic message reached the page")
	}
}
