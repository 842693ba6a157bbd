package handlers

import (
	"net/url"
	"strings"
	"testing"
)

// The markup the keyboard journeys (e2e/journey_keyboard_test.go) rely on,
// checked without a browser: errors tied to their fields, the Password
// Policy's brief status, and no rule shown met beside emptied fields.

func TestRefusedPasswordShowsNoRuleMet(t *testing.T) {
	e := newEnv(t)
	c := e.client()
	e.setUp(c)
	csrf := c.csrf("/register")

	r := c.post("/register/check", url.Values{"password": {strongPassword}, "csrf_token": {csrf}}, header("HX-Request", "true"))
	wantStatus(t, r, 200)
	if got, want := r.doc(t).Find(`#password-policy`).AttrOr("data-summary", ""), "3 of 3 rules met"; got != want {
		t.Errorf("live check's summary = %q, want %q", got, want)
	}

	for _, htmx := range []bool{false, true} {
		var opts []reqOpt
		if htmx {
			opts = append(opts, header("HX-Request", "true"))
		}
		r = c.post("/register", url.Values{"password": {strongPassword}, "confirm_password": {strongPassword + "x"}, "csrf_token": {csrf}}, opts...)
		wantStatus(t, r, 422)
		d := r.doc(t)
		if n := d.Find(`#password-policy [data-state="met"]`).Length(); n != 0 {
			t.Errorf("htmx %v: a refused password shows %d rules met beside the emptied fields", htmx, n)
		}
		if n := d.Find(`#password-policy [aria-live], #password-policy [role="status"]`).Length(); n != 0 {
			t.Errorf("htmx %v: the policy box, replaced as the user types, holds a live region", htmx)
		}
		if got := d.Find(`[data-testid="policy-status"]`).AttrOr("role", ""); got != "status" {
			t.Errorf("htmx %v: the policy's status region has role %q", htmx, got)
		}
		for id, want := range map[string]string{
			"password":         "password-hint password-policy-status",
			"confirm_password": "confirm_password-error confirm_password-hint",
		} {
			in := d.Find("#" + id)
			if got := in.AttrOr("aria-describedby", ""); got != want {
				t.Errorf("htmx %v: %s aria-describedby = %q, want %q", htmx, id, got, want)
			}
		}
		if got := d.Find("#confirm_password").AttrOr("aria-invalid", ""); got != "true" {
			t.Errorf("htmx %v: Confirm Password aria-invalid = %q", htmx, got)
		}
	}
}

func TestRefusedSignInIsTiedToItsFields(t *testing.T) {
	e := newEnv(t)
	e.registeredAdmin()
	c := e.client()
	r := c.signIn("admin.jones", "Wrong#Guess1", "")
	wantStatus(t, r, 401)
	d := r.doc(t)
	if got := d.Find(`[data-testid="error-summary"] a[href="#user_id"]`).Text(); got != "Incorrect user ID or password" && !strings.Contains(got, "Incorrect") {
		t.Errorf("the summary's link to User ID reads %q", got)
	}
	for _, id := range []string{"user_id", "password"} {
		in := d.Find("#" + id)
		if in.AttrOr("aria-invalid", "") != "true" || in.AttrOr("aria-describedby", "") != "signin-field-error" {
			t.Errorf("%s: aria-invalid %q, aria-describedby %q", id, in.AttrOr("aria-invalid", ""), in.AttrOr("aria-describedby", ""))
		}
	}
	if d.Find("#signin-field-error").Length() != 1 {
		t.Errorf("no error message beside the fields")
	}
	if got := d.Find(`[data-testid="legacy-sign-in"]`).AttrOr("aria-labelledby", ""); got != "legacy-heading" {
		t.Errorf("legacy Sign In aria-labelledby = %q", got)
	}
}
