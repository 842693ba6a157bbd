package handlers

import (
	"testing"

	"github.com/cqrs-local/cqrs-signin/cqrs"
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
				if any, _ := e.store.HasUsers(); any {
					t.Fatal("a user was made by a refused set-up")
				}
			}},
	})

	token := e.setUp(c)
	u, err := e.store.UserByUserID("ADMIN.JONES")
	if err != nil {
		t.Fatal(err)
	}
	if u.Role != cqrs.RoleSystemAdmin || u.Status != cqrs.StatusInvited || u.PasswordHash != "" {
		t.Fatalf("admin = %+v, want an invited system administrator without a password", u)
	}
	if org, err := e.store.Organisation(u.OrgID); err != nil || org.ODSCode != "Y12345" {
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
