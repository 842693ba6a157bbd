package handlers

import (
	"bytes"
	"testing"

	"github.com/cqrs-local/cqrs-signin/cqrs"
)

func TestFirstRunSetup(t *testing.T) {
	e := newEnv(t)
	c := e.client()

	t.Run("home explains set-up is pending", func(t *testing.T) {
		r := c.get("/")
		wantStatus(t, r, 503)
		wantText(t, r, "waiting to be set up")
	})
	t.Run("a set-up page without the printed token is refused", func(t *testing.T) {
		r := e.client().get("/setup")
		wantStatus(t, r, 403)
		wantText(t, r, "This set-up link is not valid")
	})

	e.startSetup(c)
	r := c.get("/setup")
	wantStatus(t, r, 200)
	if got := r.doc(t).Find(`[data-testid="setup-heading"]`).Text(); got != "Set up CQRS" {
		t.Fatalf("heading = %q", got)
	}

	t.Run("invalid fields are listed and nothing is saved", func(t *testing.T) {
		before := e.dbBytes()
		form := cloneForm(adminForm)
		form.Set("user_id", "a b")
		form.Set("email", "alex@nhs.net\r\nBcc: x@evil.example")
		form.Set("ods_code", "")
		form.Set("csrf_token", c.csrf("/setup"))
		r := c.post("/setup", form)
		wantStatus(t, r, 422)
		wantText(t, r, "User ID can only contain", "Enter a valid email address", "Enter the organisation&#39;s ODS code")
		if n, _ := e.store.CountUsers(); n != 0 {
			t.Fatalf("users = %d after a refused set-up", n)
		}
		if !bytes.Equal(before, e.dbBytes()) {
			t.Fatal("database changed after a refused set-up")
		}
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

	t.Run("the set-up page works once", func(t *testing.T) {
		r := c.get("/setup")
		wantStatus(t, r, 410)
		wantText(t, r, "already set up")
		e.startSetupRefused(t)
	})
}
