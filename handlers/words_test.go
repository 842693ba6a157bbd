package handlers

import (
	"net/url"
	"strings"
	"testing"
)

// TestWaitingPageDoesNotLeadBackToItself: before set-up, "/" is the
// waiting page, and it offers no "Go to the CQRS Login page" (which led to
// "/" again); after set-up an error page's link goes to the Login page.
func TestWaitingPageDoesNotLeadBackToItself(t *testing.T) {
	e := newEnv(t)
	c := e.client()
	r := c.get("/")
	wantStatus(t, r, 503)
	wantText(t, r, "CQRS is waiting to be set up")
	if d := r.doc(t); d.Find(`main a[href="/"], main a[href="/login"]`).Length() > 0 || strings.Contains(r.body, "Go to the CQRS Login page") {
		t.Errorf("the waiting page links to the Login page, which is the waiting page again:\n%s", excerpt(r.body))
	}

	e.registeredAdmin()
	r = c.get("/does-not-exist")
	wantStatus(t, r, 404)
	if href, _ := r.doc(t).Find(`[data-testid="error-login-link"]`).Attr("href"); href != "/login" {
		t.Errorf("after set-up, the error page's link goes to %q, want /login", href)
	}
}

// TestValidationErrorsPrefixTheTitle: a page re-rendered with its problems
// has a <title> starting "Error: " (NHS service manual); the same page
// without problems does not.
func TestValidationErrorsPrefixTheTitle(t *testing.T) {
	e := newEnv(t)
	c := e.client()
	title := func(r response) string { return r.doc(t).Find("title").Text() }

	e.startSetup(c)
	if got := title(c.get("/setup")); strings.HasPrefix(got, "Error:") {
		t.Errorf("the set-up form, untouched: title %q", got)
	}
	r := c.post("/setup", url.Values{"csrf_token": {c.csrf("/setup")}})
	wantStatus(t, r, 422)
	if got, want := title(r), "Error: Set up CQRS - Calculating Quality Reporting Service (CQRS)"; got != want {
		t.Errorf("the set-up form with problems: title %q, want %q", got, want)
	}

	e.setUp(c)
	r = c.post("/register", url.Values{"password": {"short"}, "confirm_password": {"other"}, "csrf_token": {c.csrf("/register")}})
	wantStatus(t, r, 422)
	if got := title(r); !strings.HasPrefix(got, "Error: ") {
		t.Errorf("Security Information with problems: title %q", got)
	}
	wantStatus(t, c.post("/register", url.Values{"password": {strongPassword}, "confirm_password": {strongPassword}, "csrf_token": {c.csrf("/register")}}), 303)

	if got := title(c.get("/login")); strings.HasPrefix(got, "Error:") {
		t.Errorf("the Login page: title %q", got)
	}
	r = c.signIn("admin.jones", "Wrong#Guess1", "")
	wantStatus(t, r, 401)
	if got := title(r); !strings.HasPrefix(got, "Error: ") {
		t.Errorf("the Login page after a refused sign-in: title %q", got)
	}
	if got := title(c.get("/does-not-exist")); strings.HasPrefix(got, "Error:") {
		t.Errorf("a not-found page is not a form with problems: title %q", got)
	}
}
