package handlers

import (
	"errors"
	"net/url"
	"testing"
	"time"

	"github.com/cqrs-local/cqrs-signin/cqrs"
	"github.com/cqrs-local/cqrs-signin/secret"
)

func TestFirstRunSetup(t *testing.T) {
	e := newEnv(t)
	c := e.client()

	// The browser that will set CQRS up, and any other.
	roles := map[string]*client{roleSysAdmin: c, roleAnon: nil}
	runScenarios(t, e, roles, []scenario{
		{Name: "home explains set-up is pending", URL: "/", Role: roleSysAdmin, ExpectedStatus: 503, ExpectedContent: []string{"waiting to be set up"}},
		{Name: "a set-up page without the printed token is refused", URL: "/setup", Role: roleAnon, ExpectedStatus: 403, ExpectedContent: []string{"This set-up link is not valid"}},
	})

	e.startSetup(c)
	r := c.get("/setup")
	wantStatus(t, r, 200)
	if got := r.doc(t).Find(`[data-testid="setup-heading"]`).Text(); got != "Set up CQRS" {
		t.Fatalf("heading = %q", got)
	}

	invalid := cloneForm(adminForm)
	invalid.Set("user_id", "a b")
	invalid.Set("email", "alex@nhs.net\r\nBcc: x@evil.example")
	invalid.Set("ods_code", "")
	invalid.Del("csrf_token")
	runScenarios(t, e, roles, []scenario{
		{Name: "invalid fields are listed and nothing is saved", Method: "POST", URL: "/setup", Role: roleSysAdmin, CSRFFrom: "/setup", Form: invalid,
			ExpectedStatus: 422, ExpectedContent: []string{"User ID can only contain", "Enter a valid email address", "Enter the organisation's ODS code"},
			Unchanged: true,
			ExpectedChange: func(t *testing.T) {
				if any, _ := e.store.HasUsers(t.Context()); any {
					t.Fatal("a user was made by a refused set-up")
				}
			}},
	})

	token := e.setUp(c)
	u, err := e.store.UserByUserID(t.Context(), "ADMIN.JONES")
	if err != nil {
		t.Fatal(err)
	}
	if u.Role != cqrs.RoleSystemAdmin || u.Status != cqrs.StatusInvited || u.PasswordHash != "" {
		t.Fatalf("admin = %+v, want an invited system administrator without a password", u)
	}
	if org, err := e.store.Organisation(t.Context(), u.OrgID); err != nil || org.ODSCode != "Y12345" {
		t.Fatalf("organisation = %+v, %v; want ODS code Y12345", org, err)
	}
	if token == "" {
		t.Fatal("set-up left no registration link cookie")
	}

	runScenarios(t, e, roles, []scenario{
		{Name: "the set-up page works once", URL: "/setup", Role: roleSysAdmin, ExpectedStatus: 410, ExpectedContent: []string{"already set up"},
			ExpectedChange: e.startSetupRefused},
	})
}

// TestUnfinishedSetUpIsNotStranded: the set-up form was sent, then the
// browser lost its link cookie (closed, or past its 30 minutes) before the
// password was chosen. The spent set-up page says how on, and the link a
// start prints (the store's SystemAdminLink) leads to the administrator's
// Security Information screen.
func TestUnfinishedSetUpIsNotStranded(t *testing.T) {
	e := newEnv(t)
	e.setUp(e.client())
	e.clock.Advance(linkCookieTTL + time.Minute)

	lost := e.client() // no cookies: a new browser, or the old cookie expired
	wantStatus(t, lost.get("/register"), 404)
	r := lost.get("/setup")
	wantStatus(t, r, 410)
	wantText(t, r, "restart CQRS: until it is, every start prints a new link to choose it")

	token := secret.NewToken()
	if _, _, err := e.store.SystemAdminLink(t.Context(), secret.HashToken(token), e.cfg.RegistrationLinkTTL, e.cfg.ResetLinkTTL, false); err != nil {
		t.Fatalf("the start's link: %v", err)
	}
	wantStatus(t, lost.get("/register?token="+token), 303)
	page := lost.get("/register")
	wantStatus(t, page, 200)
	if got := page.doc(t).Find(`[data-testid="register-user-id"]`).Text(); got != "admin.jones" {
		t.Fatalf("Security Information for %q, want admin.jones", got)
	}
	csrf := page.doc(t).Find(`input[name="csrf_token"]`).AttrOr("value", "")
	r = lost.post("/register", url.Values{"password": {strongPassword}, "confirm_password": {strongPassword}, "csrf_token": {csrf}})
	wantStatus(t, r, 303)
	if u, _ := e.store.UserByUserID(t.Context(), "admin.jones"); u.PasswordHash == "" {
		t.Fatal("the administrator still has no password")
	}
	if _, _, err := e.store.SystemAdminLink(t.Context(), secret.HashToken(secret.NewToken()), e.cfg.RegistrationLinkTTL, e.cfg.ResetLinkTTL, false); !errors.Is(err, cqrs.ErrConflict) {
		t.Fatalf("a start after the password is chosen: %v, want no link (ErrConflict)", err)
	}
}
