package handlers

import (
	"bytes"
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
	base := e.serve()
	good := func() url.Values {
		return url.Values{"password": {strongPassword}, "confirm_password": {strongPassword}, "csrf_token": {csrf}}
	}

	cases := []struct {
		name   string
		send   func() response
		status int
		text   string
	}{
		{"CSRF token missing", func() response {
			f := good()
			f.Del("csrf_token")
			return c.post("/register", f)
		}, 403, "Your form has expired"},
		{"CSRF token wrong", func() response {
			f := good()
			f.Set("csrf_token", strings.Repeat("A", len(csrf)))
			return c.post("/register", f)
		}, 403, "Your form has expired"},
		{"CSRF token from another browser", func() response {
			other := e.client()
			other.get("/register?token=" + link)
			token := other.csrf("/register")
			f := good()
			f.Set("csrf_token", token)
			return c.post("/register", f)
		}, 403, "Your form has expired"},
		{"foreign Origin", func() response {
			return c.post("/register", good(), header("Origin", "http://evil.example"))
		}, 403, "another site"},
		{"another port on localhost", func() response {
			return c.post("/register", good(), header("Origin", "http://127.0.0.1:9999"))
		}, 403, "another site"},
		{"Sec-Fetch-Site cross-site", func() response {
			return c.post("/register", good(), header("Sec-Fetch-Site", "cross-site"))
		}, 403, "another site"},
		{"Sec-Fetch-Site same-site", func() response {
			return c.post("/register", good(), header("Sec-Fetch-Site", "same-site"))
		}, 403, "another site"},
		{"foreign Host", func() response {
			return c.post("/register", good(), host("evil.example:8420"))
		}, 403, "not served here"},
		{"foreign Host on a GET", func() response {
			return c.get("/register", host("rebind.example"))
		}, 403, "not served here"},
		{"oversized body", func() response {
			f := good()
			f.Set("padding", strings.Repeat("x", 70*1024))
			return c.over(base, "POST", "/register", f.Encode(), header("Content-Type", "application/x-www-form-urlencoded"))
		}, 413, "too large"},
		{"invalid UTF-8 in a form value", func() response {
			body := "password=%ff%feAbc123!&confirm_password=%ff%feAbc123!&csrf_token=" + url.QueryEscape(csrf)
			return c.do("POST", "/register", body, header("Content-Type", "application/x-www-form-urlencoded"))
		}, 400, "not valid text"},
		{"invalid UTF-8 in the query", func() response {
			return c.get("/register?x=%ff")
		}, 400, "not valid text"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			before := e.dbBytes()
			r := tc.send()
			wantStatus(t, r, tc.status)
			wantText(t, r, tc.text)
			if !bytes.Equal(before, e.dbBytes()) {
				t.Fatal("database changed after a refusal")
			}
		})
	}
	// After every refusal the real submission still works: nothing was spent.
	wantStatus(t, c.post("/register", good()), 303)
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

func (panickingStore) HasUsers() (bool, error) { panic("boom: internal detail") }

func TestPanicsBecomeAGenericPage(t *testing.T) {
	e := newEnv(t)
	stores := storesOf(e.store)
	stores.Setup = panickingStore{e.store}
	app, err := New(slog.New(slog.NewTextHandler(io.Discard, nil)), DefaultConfig(), Deps{Stores: stores, Hasher: e.hasher})
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
