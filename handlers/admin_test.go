package handlers

import (
	"fmt"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/cqrs-local/cqrs-signin/cqrs"
)

// adminEnv has a registered system administrator signed in, a second
// organisation with its own User Administrator, and a plain user.
type adminEnv struct {
	*testEnv
	sys, orgAdmin, user, otherAdmin *client
	admin                           cqrs.User
	other                           cqrs.Organisation
}

func newAdminEnv(t *testing.T, adjust ...func(*Config)) *adminEnv {
	e := newEnv(t, adjust...)
	admin := e.registeredAdmin()
	other, err := e.store.CreateOrganisation(t.Context(), cqrs.Organisation{Name: "Hillside Surgery", ODSCode: "B82001"})
	if err != nil {
		t.Fatal(err)
	}
	e.addUserWithRole(admin.OrgID, "org.admin", "Harbour!2026x", cqrs.RoleUserAdmin)
	e.addUserWithRole(other.ID, "hill.admin", "Harbour!2026x", cqrs.RoleUserAdmin)
	e.addUser(admin.OrgID, "sam.patel", "Harbour!2026x")
	ae := &adminEnv{testEnv: e, admin: admin, other: other,
		sys: e.client(), orgAdmin: e.client(), user: e.client(), otherAdmin: e.client()}
	for c, id := range map[*client]string{ae.sys: "admin.jones", ae.orgAdmin: "org.admin", ae.user: "sam.patel", ae.otherAdmin: "hill.admin"} {
		pw := "Harbour!2026x"
		if id == "admin.jones" {
			pw = strongPassword
		}
		wantStatus(t, c.signIn(id, pw, ""), 303)
	}
	return ae
}

func newUserForm(c *client, orgID uint64, userID, email string) url.Values {
	form := userFormFields(orgID, userID, email)
	form.Set("csrf_token", c.csrf("/admin/users/new"))
	return form
}

// userFormFields is the new-user form filled in, without its CSRF token.
func userFormFields(orgID uint64, userID, email string) url.Values {
	return url.Values{
		"user_id": {userID}, "first_name": {"Jo"}, "last_name": {"Bloggs"}, "work_phone": {"0113 496 0000"},
		"email": {email}, "org_id": {fmt.Sprint(orgID)}, "role": {"user"},
	}
}

// roles are the environment's browsers by the role each is signed in as.
func (e *adminEnv) roles() map[string]*client {
	return map[string]*client{roleAnon: e.client(), roleUser: e.user, roleSameOrgAdmin: e.orgAdmin, roleOtherOrgAdmin: e.otherAdmin, roleSysAdmin: e.sys}
}

func TestCreateUserQueuesTheRegistrationEmail(t *testing.T) {
	e := newAdminEnv(t)
	r := e.orgAdmin.post("/admin/users", newUserForm(e.orgAdmin, e.admin.OrgID, "jo.bloggs", "jo.bloggs@nhs.net"))
	wantStatus(t, r, 303)
	if !strings.HasPrefix(r.Header.Get("Location"), "/admin/users/") {
		t.Fatalf("Location = %q", r.Header.Get("Location"))
	}
	u, err := e.store.UserByUserID(t.Context(), "jo.bloggs")
	if err != nil || u.Status != cqrs.StatusInvited || u.OrgID != e.admin.OrgID || u.WorkPhone != "0113 496 0000" {
		t.Fatalf("created user = %+v, %v", u, err)
	}
	emails, _ := e.store.Emails(t.Context(), cqrs.EmailFilter{UserID: u.ID})
	if len(emails) != 1 {
		t.Fatalf("emails queued = %d, want 1", len(emails))
	}
	m := emails[0]
	if m.To != "jo.bloggs@nhs.net" || m.Subject != "Complete your CQRS registration" || m.Status != cqrs.EmailQueued {
		t.Fatalf("email = %+v", m)
	}
	for _, want := range []string{"Sam Patel, your CQRS User Administrator at Riverside Practice", "Your User ID is: jo.bloggs", "http://127.0.0.1:8420/register?token=", "expires on 16 November 2026"} {
		if !strings.Contains(m.Text, want) {
			t.Errorf("email text lacks %q:\n%s", want, m.Text)
		}
	}
	if !strings.Contains(m.HTML, "<a href=\"http://127.0.0.1:8420/register?token=") {
		t.Errorf("email HTML lacks the link:\n%s", m.HTML)
	}

	// The link in the email registers the user.
	link := m.Text[strings.Index(m.Text, "http://127.0.0.1:8420/register?token="):]
	link = strings.TrimPrefix(link[:strings.IndexByte(link, '\n')], "http://127.0.0.1:8420")
	jo := e.client()
	wantStatus(t, jo.get(link), 303)
	page := jo.get("/register")
	wantStatus(t, page, 200)
	wantText(t, page, "jo.bloggs")
	r = jo.post("/register", url.Values{"password": {"Lakeside#2026"}, "confirm_password": {"Lakeside#2026"}, "csrf_token": {jo.csrf("/register")}})
	wantStatus(t, r, 303)
	wantStatus(t, jo.signIn("jo.bloggs", "Lakeside#2026", ""), 303)

	t.Run("the detail page shows the invitation accepted and the email", func(t *testing.T) {
		d := e.orgAdmin.get(fmt.Sprintf("/admin/users/%d", u.ID))
		wantStatus(t, d, 200)
		wantText(t, d, "accepted", "Complete your CQRS registration", "queued")
	})
}

func TestCreateUserValidation(t *testing.T) {
	e := newAdminEnv(t, func(c *Config) { c.EmailDomains = []string{"nhs.net", "nhs.uk"} })
	// jo is the new-user form for jo.bloggs with one change.
	jo := func(change func(url.Values)) url.Values {
		form := userFormFields(e.admin.OrgID, "jo.bloggs", "jo.bloggs@nhs.net")
		change(form)
		return form
	}
	const problem = "There is a problem"
	runScenarios(t, e.testEnv, e.roles(), []scenario{
		{Name: "User ID too short", Method: "POST", URL: "/admin/users", Role: roleSameOrgAdmin, CSRFFrom: "/admin/users/new",
			Form:           jo(func(v url.Values) { v.Set("user_id", "ab") }),
			ExpectedStatus: 422, ExpectedContent: []string{problem, "User ID must be 3 to 32 characters long."}, Unchanged: true},
		{Name: "User ID too long", Method: "POST", URL: "/admin/users", Role: roleSameOrgAdmin, CSRFFrom: "/admin/users/new",
			Form:           jo(func(v url.Values) { v.Set("user_id", strings.Repeat("a", 33)) }),
			ExpectedStatus: 422, ExpectedContent: []string{problem, "User ID must be 3 to 32 characters long."}, Unchanged: true},
		{Name: "User ID characters", Method: "POST", URL: "/admin/users", Role: roleSameOrgAdmin, CSRFFrom: "/admin/users/new",
			Form:           jo(func(v url.Values) { v.Set("user_id", "jo bloggs") }),
			ExpectedStatus: 422, ExpectedContent: []string{problem, "User ID can only contain"}, Unchanged: true},
		{Name: "User ID taken, other case", Method: "POST", URL: "/admin/users", Role: roleSameOrgAdmin, CSRFFrom: "/admin/users/new",
			Form:           jo(func(v url.Values) { v.Set("user_id", "SAM.PATEL") }),
			ExpectedStatus: 422, ExpectedContent: []string{problem, "That User ID is already in use."}, Unchanged: true},
		{Name: "email taken, other case", Method: "POST", URL: "/admin/users", Role: roleSameOrgAdmin, CSRFFrom: "/admin/users/new",
			Form:           jo(func(v url.Values) { v.Set("email", "SAM.PATEL@nhs.net") }),
			ExpectedStatus: 422, ExpectedContent: []string{problem, "That email address is already in use"}, Unchanged: true},
		{Name: "email invalid", Method: "POST", URL: "/admin/users", Role: roleSameOrgAdmin, CSRFFrom: "/admin/users/new",
			Form:           jo(func(v url.Values) { v.Set("email", "not-an-email") }),
			ExpectedStatus: 422, ExpectedContent: []string{problem, "Enter a valid email address"}, Unchanged: true},
		{Name: "email header injection", Method: "POST", URL: "/admin/users", Role: roleSameOrgAdmin, CSRFFrom: "/admin/users/new",
			Form:           jo(func(v url.Values) { v.Set("email", "jo@nhs.net\r\nBcc: all@evil.example") }),
			ExpectedStatus: 422, ExpectedContent: []string{problem, "Enter a valid email address"}, Unchanged: true},
		{Name: "email domain not allowed", Method: "POST", URL: "/admin/users", Role: roleSameOrgAdmin, CSRFFrom: "/admin/users/new",
			Form:           jo(func(v url.Values) { v.Set("email", "jo@gmail.com") }),
			ExpectedStatus: 422, ExpectedContent: []string{problem, "ending nhs.net or nhs.uk"}, Unchanged: true},
		{Name: "name with a line break", Method: "POST", URL: "/admin/users", Role: roleSameOrgAdmin, CSRFFrom: "/admin/users/new",
			Form:           jo(func(v url.Values) { v.Set("first_name", "Jo\r\nBcc: x@evil.example") }),
			ExpectedStatus: 422, ExpectedContent: []string{problem, "first name contains characters that are not allowed"}, Unchanged: true},
		{Name: "name missing", Method: "POST", URL: "/admin/users", Role: roleSameOrgAdmin, CSRFFrom: "/admin/users/new",
			Form:           jo(func(v url.Values) { v.Set("last_name", "") }),
			ExpectedStatus: 422, ExpectedContent: []string{problem, "Enter a last name."}, Unchanged: true},
		{Name: "name too long", Method: "POST", URL: "/admin/users", Role: roleSameOrgAdmin, CSRFFrom: "/admin/users/new",
			Form:           jo(func(v url.Values) { v.Set("last_name", strings.Repeat("x", 51)) }),
			ExpectedStatus: 422, ExpectedContent: []string{problem, "50 characters or fewer"}, Unchanged: true},
		{Name: "phone", Method: "POST", URL: "/admin/users", Role: roleSameOrgAdmin, CSRFFrom: "/admin/users/new",
			Form:           jo(func(v url.Values) { v.Set("work_phone", "call me") }),
			ExpectedStatus: 422, ExpectedContent: []string{problem, "Enter a phone number"}, Unchanged: true},
		{Name: "another organisation", Method: "POST", URL: "/admin/users", Role: roleSameOrgAdmin, CSRFFrom: "/admin/users/new",
			Form:           jo(func(v url.Values) { v.Set("org_id", fmt.Sprint(e.other.ID)) }),
			ExpectedStatus: 422, ExpectedContent: []string{problem, "Select an organisation."}, Unchanged: true},
		{Name: "role not assignable", Method: "POST", URL: "/admin/users", Role: roleSameOrgAdmin, CSRFFrom: "/admin/users/new",
			Form:           jo(func(v url.Values) { v.Set("role", "system-admin") }),
			ExpectedStatus: 422, ExpectedContent: []string{problem, "Select a role."}, Unchanged: true},
	})
}

func TestAdministrationIsAuthorisedOnTheServer(t *testing.T) {
	e := newAdminEnv(t)
	hill, _ := e.store.UserByUserID(t.Context(), "hill.admin")
	sam, _ := e.store.UserByUserID(t.Context(), "sam.patel")
	hillPath := fmt.Sprintf("/admin/users/%d", hill.ID)
	roles := e.roles()

	t.Run("a plain user gets nothing", func(t *testing.T) {
		runScenarios(t, e.testEnv, roles, []scenario{
			{Name: "users", URL: "/admin/users", Role: roleUser, ExpectedStatus: 403},
			{Name: "new user", URL: "/admin/users/new", Role: roleUser, ExpectedStatus: 403},
			{Name: "a user of their organisation", URL: fmt.Sprintf("/admin/users/%d", sam.ID), Role: roleUser, ExpectedStatus: 403},
			{Name: "organisations", URL: "/admin/organisations", Role: roleUser, ExpectedStatus: 403},
			{Name: "mailbox", URL: "/mailbox", Role: roleUser, ExpectedStatus: 403},
			{Name: "create a user", Method: "POST", URL: "/admin/users", Role: roleUser, CSRFFrom: "/messages",
				Form: userFormFields(e.admin.OrgID, "jo.bloggs", "jo@nhs.net"), ExpectedStatus: 403, Unchanged: true},
		})
	})
	t.Run("a User Administrator cannot see or change another organisation's user", func(t *testing.T) {
		edit := url.Values{"first_name": {"X"}, "last_name": {"Y"}, "email": {"x@nhs.net"}, "org_id": {fmt.Sprint(e.admin.OrgID)}, "role": {"user"}}
		scenarios := []scenario{{Name: "see", URL: hillPath, Role: roleSameOrgAdmin, ExpectedStatus: 404}}
		for _, action := range []string{"", "/disable", "/unlock", "/resend", "/reset", "/enable", "/revoke"} {
			name := "change: edit"
			if action != "" {
				name = "change: " + action[1:]
			}
			scenarios = append(scenarios, scenario{Name: name, Method: "POST", URL: hillPath + action, Role: roleSameOrgAdmin,
				CSRFFrom: "/admin/users", Form: edit, ExpectedStatus: 404, Unchanged: true})
		}
		scenarios = append(scenarios, scenario{Name: "find in the list", URL: "/admin/users?q=hill", Role: roleSameOrgAdmin,
			ExpectedStatus: 200, ExpectedContent: []string{"No users match."}, NotExpectedContent: []string{"hill.admin"}})
		runScenarios(t, e.testEnv, roles, scenarios)
	})
	t.Run("a User Administrator cannot manage the system administrator", func(t *testing.T) {
		runScenarios(t, e.testEnv, roles, []scenario{
			{Name: "see", URL: fmt.Sprintf("/admin/users/%d", e.admin.ID), Role: roleSameOrgAdmin, ExpectedStatus: 403},
		})
	})
	t.Run("only the system administrator manages organisations", func(t *testing.T) {
		runScenarios(t, e.testEnv, roles, []scenario{
			{Name: "User Administrator", URL: "/admin/organisations", Role: roleSameOrgAdmin, ExpectedStatus: 403},
			{Name: "system administrator", URL: "/admin/organisations", Role: roleSysAdmin, ExpectedStatus: 200},
		})
	})
	t.Run("the system administrator sees everyone", func(t *testing.T) {
		runScenarios(t, e.testEnv, roles, []scenario{
			{Name: "another organisation's user", URL: hillPath, Role: roleSysAdmin, ExpectedStatus: 200},
			{Name: "the list", URL: "/admin/users", Role: roleSysAdmin, ExpectedStatus: 200, ExpectedContent: []string{"hill.admin", "sam.patel", "org.admin"}},
		})
	})
	t.Run("CSRF is enforced", func(t *testing.T) {
		runScenarios(t, e.testEnv, roles, []scenario{
			{Name: "no token", Method: "POST", URL: "/admin/users", Role: roleSameOrgAdmin,
				Form: userFormFields(e.admin.OrgID, "jo.bloggs", "jo@nhs.net"), ExpectedStatus: 403, Unchanged: true},
		})
	})
}

func TestUserActions(t *testing.T) {
	e := newAdminEnv(t)
	sam, _ := e.store.UserByUserID(t.Context(), "sam.patel")
	path := fmt.Sprintf("/admin/users/%d", sam.ID)
	act := func(action string) response {
		return e.orgAdmin.post(path+"/"+action, url.Values{"csrf_token": {e.orgAdmin.csrf(path)}})
	}

	t.Run("edit", func(t *testing.T) {
		form := url.Values{"first_name": {"Samuel"}, "last_name": {"Patel"}, "work_phone": {"01234 567890"}, "email": {"samuel.patel@nhs.net"},
			"org_id": {fmt.Sprint(e.admin.OrgID)}, "role": {"user-admin"}, "csrf_token": {e.orgAdmin.csrf(path)}}
		wantStatus(t, e.orgAdmin.post(path, form), 303)
		u, _ := e.store.User(t.Context(), sam.ID)
		if u.FirstName != "Samuel" || u.Email != "samuel.patel@nhs.net" || u.Role != cqrs.RoleUserAdmin {
			t.Fatalf("after edit: %+v", u)
		}
		if _, err := e.store.UserByEmail(t.Context(), "sam.patel@nhs.net"); err == nil {
			t.Error("the old email still finds the user")
		}
	})
	t.Run("disable ends sessions and refuses sign-in; enable restores", func(t *testing.T) {
		wantStatus(t, act("disable"), 303)
		if r := e.user.get("/messages"); r.StatusCode != 303 {
			t.Errorf("the disabled user's session still works: %d", r.StatusCode)
		}
		wantStatus(t, e.client().signIn("sam.patel", "Harbour!2026x", ""), 401)
		wantText(t, e.orgAdmin.get("/admin/users?state=disabled"), "sam.patel")
		wantStatus(t, act("enable"), 303)
		wantStatus(t, e.client().signIn("sam.patel", "Harbour!2026x", ""), 303)
	})
	t.Run("unlock clears the failure count", func(t *testing.T) {
		for i := 0; i < 3; i++ {
			e.client().signIn("sam.patel", "wrong", "")
		}
		wantStatus(t, act("unlock"), 303)
		if u, _ := e.store.User(t.Context(), sam.ID); u.FailedSignIns != 0 {
			t.Fatalf("failures after unlock = %d", u.FailedSignIns)
		}
	})
	t.Run("reset link queues an email whose link works", func(t *testing.T) {
		wantStatus(t, act("reset"), 303)
		emails, _ := e.store.Emails(t.Context(), cqrs.EmailFilter{UserID: sam.ID, Limit: 1})
		if len(emails) != 1 || emails[0].Kind != "reset" {
			t.Fatalf("emails = %+v", emails)
		}
		text := emails[0].Text
		i := strings.Index(text, "/reset?token=")
		link := text[i : i+strings.IndexByte(text[i:], '\n')]
		c := e.client()
		wantStatus(t, c.get(link), 303)
		r := c.post("/reset", url.Values{"password": {"Lakeside#2026"}, "confirm_password": {"Lakeside#2026"}, "csrf_token": {c.csrf("/reset")}})
		wantStatus(t, r, 303)
		wantText(t, c.get("/reset/complete"), "Your password has been changed")
		wantStatus(t, e.client().signIn("sam.patel", "Lakeside#2026", ""), 303)
		if last, _ := e.store.Emails(t.Context(), cqrs.EmailFilter{UserID: sam.ID, Limit: 1}); last[0].Kind != "password-changed" {
			t.Errorf("no password-changed email: %+v", last[0])
		}
	})
	t.Run("a registered user's invitation cannot be resent", func(t *testing.T) {
		wantStatus(t, act("resend"), 409)
	})
}

func TestResendAndRevokeInvitation(t *testing.T) {
	e := newAdminEnv(t)
	wantStatus(t, e.orgAdmin.post("/admin/users", newUserForm(e.orgAdmin, e.admin.OrgID, "jo.bloggs", "jo.bloggs@nhs.net")), 303)
	jo, _ := e.store.UserByUserID(t.Context(), "jo.bloggs")
	path := fmt.Sprintf("/admin/users/%d", jo.ID)
	firstLink := func() string {
		emails, _ := e.store.Emails(t.Context(), cqrs.EmailFilter{UserID: jo.ID, Limit: 1})
		text := emails[0].Text
		i := strings.Index(text, "/register?token=")
		return text[i : i+strings.IndexByte(text[i:], '\n')]
	}
	old := firstLink()
	wantStatus(t, e.orgAdmin.post(path+"/resend", url.Values{"csrf_token": {e.orgAdmin.csrf(path)}}), 303)
	fresh := firstLink()
	if fresh == old {
		t.Fatal("resend reused the link")
	}
	c := e.client()
	c.get(old)
	wantStatus(t, c.get("/register"), 404)
	c = e.client()
	c.get(fresh)
	wantStatus(t, c.get("/register"), 200)
	wantText(t, e.orgAdmin.get(path), "pending")

	wantStatus(t, e.orgAdmin.post(path+"/revoke", url.Values{"csrf_token": {e.orgAdmin.csrf(path)}}), 303)
	wantStatus(t, c.get("/register"), 404)
	wantText(t, e.orgAdmin.get(path), "revoked")

	e.clock.Advance(15 * 24 * time.Hour)
	wantStatus(t, e.orgAdmin.signIn("org.admin", "Harbour!2026x", ""), 303)
	wantStatus(t, e.orgAdmin.post(path+"/resend", url.Values{"csrf_token": {e.orgAdmin.csrf(path)}}), 303)
	wantText(t, e.orgAdmin.get(path), "pending")
}

func TestUserListSearchFilterAndPages(t *testing.T) {
	e := newAdminEnv(t)
	for i := 0; i < 30; i++ {
		e.addUser(e.admin.OrgID, fmt.Sprintf("bulk.user%02d", i), "")
	}
	r := e.orgAdmin.get("/admin/users")
	wantText(t, r, "Showing 1 to 25 of 33 users.", "Next page")
	r = e.orgAdmin.get("/admin/users?page=2")
	wantText(t, r, "Showing 26 to 33 of 33 users.", "Previous page")
	r = e.orgAdmin.get("/admin/users?q=USER07")
	wantText(t, r, "Showing 1 to 1 of 1 users.", "bulk.user07")
	r = e.orgAdmin.get("/admin/users?state=invited")
	wantText(t, r, "of 30 users")
	frag := e.orgAdmin.get("/admin/users?q=bulk", header("HX-Request", "true"))
	if strings.Contains(frag.body, "<html") || !strings.Contains(frag.body, `id="user-table"`) {
		t.Error("htmx search did not get the table fragment")
	}
	wantStatus(t, e.orgAdmin.post("/admin/users", newUserForm(e.orgAdmin, e.admin.OrgID, "jo.bloggs", "jo.bloggs@nhs.net")), 303)
	row := e.orgAdmin.get("/admin/users?q=jo.bloggs").doc(t).Find(`[data-testid="user-row-jo.bloggs"]`).Text()
	if !strings.Contains(row, "queued") {
		t.Errorf("the list does not show the registration email's status: %q", row)
	}
}

func TestTheSystemAdministratorsRoleIsKept(t *testing.T) {
	e := newAdminEnv(t)
	path := fmt.Sprintf("/admin/users/%d", e.admin.ID)
	form := url.Values{"first_name": {"Alexandra"}, "last_name": {"Jones"}, "email": {"alex.jones@nhs.net"},
		"org_id": {fmt.Sprint(e.admin.OrgID)}, "role": {"user"}, "csrf_token": {e.sys.csrf(path)}}
	wantStatus(t, e.sys.post(path, form), 303)
	u, _ := e.store.User(t.Context(), e.admin.ID)
	if u.FirstName != "Alexandra" || u.Role != cqrs.RoleSystemAdmin {
		t.Fatalf("after editing the system administrator: %s, role %s", u.FirstName, u.Role)
	}
}
