package handlers

import (
	"net/url"
	"strconv"
	"strings"
	"testing"

	"github.com/cqrs-local/cqrs-signin/cqrs"
)

// editForm is the user page's form for u, with changes.
func editForm(u cqrs.User, csrf string, change func(url.Values)) url.Values {
	f := url.Values{"first_name": {u.FirstName}, "last_name": {u.LastName}, "work_phone": {"0113 496 0000"}, "email": {u.Email},
		"org_id": {strconv.FormatUint(u.OrgID, 10)}, "role": {string(u.Role)}, "csrf_token": {csrf}}
	if change != nil {
		change(f)
	}
	return f
}

// TestRoleChangeRotatesTheSession: a role changed by an administrator ends
// the person's sessions, so each browser they had starts a new session (a
// new ID) under the new role, raised or lowered; an administrator who
// lowers their own role keeps working in a rotated session, and their other
// browsers are signed out.
func TestRoleChangeRotatesTheSession(t *testing.T) {
	e := newEnv(t, func(c *Config) { c.SignInRateLimit = 0 })
	admin := e.registeredAdmin()
	sam := e.addUser(admin.OrgID, "sam.patel", strongPassword)
	uma := e.addUserWithRole(admin.OrgID, "uma.admin", strongPassword, cqrs.RoleUserAdmin)
	sysAdmin := e.client()
	wantStatus(t, sysAdmin.signIn("admin.jones", strongPassword, ""), 303)
	page := func(u cqrs.User) string { return "/admin/users/" + strconv.FormatUint(u.ID, 10) }
	signedIn := func(c *client) bool { return c.get("/messages").StatusCode == 200 }

	// Raised: sam's browser signed in as a plain user no longer works.
	samBrowser := e.client()
	wantStatus(t, samBrowser.signIn("sam.patel", strongPassword, ""), 303)
	before := samBrowser.cookie(sessionCookie)
	wantStatus(t, sysAdmin.post(page(sam), editForm(sam, sysAdmin.csrf(page(sam)), func(f url.Values) { f.Set("role", string(cqrs.RoleUserAdmin)) })), 303)
	if signedIn(samBrowser) {
		t.Error("after sam's role was raised, the session from before still works")
	}
	wantStatus(t, samBrowser.signIn("sam.patel", strongPassword, ""), 303)
	if after := samBrowser.cookie(sessionCookie); after == before || after == "" {
		t.Error("sam's session ID is the same after the role change")
	}
	wantStatus(t, samBrowser.get("/admin/users"), 200)

	// Lowered: both of uma's browsers are signed out.
	umaOne, umaTwo := e.client(), e.client()
	wantStatus(t, umaOne.signIn("uma.admin", strongPassword, ""), 303)
	wantStatus(t, umaTwo.signIn("uma.admin", strongPassword, ""), 303)
	wantStatus(t, sysAdmin.post(page(uma), editForm(uma, sysAdmin.csrf(page(uma)), func(f url.Values) { f.Set("role", string(cqrs.RoleUser)) })), 303)
	for i, c := range []*client{umaOne, umaTwo} {
		if signedIn(c) {
			t.Errorf("after uma's role was lowered, her browser %d is still signed in", i+1)
		}
	}

	// Their own role lowered: this browser rotated, the other signed out.
	sam, _ = e.store.User(t.Context(), sam.ID)
	samOther := e.client()
	wantStatus(t, samOther.signIn("sam.patel", strongPassword, ""), 303)
	before = samBrowser.cookie(sessionCookie)
	r := samBrowser.post(page(sam), editForm(sam, samBrowser.csrf(page(sam)), func(f url.Values) { f.Set("role", string(cqrs.RoleUser)) }))
	if r.StatusCode != 303 {
		t.Fatalf("lowering their own role: %d", r.StatusCode)
	}
	if after := samBrowser.cookie(sessionCookie); after == before || after == "" {
		t.Errorf("the session ID was not rotated when sam lowered their own role (%q)", after)
	}
	if !signedIn(samBrowser) {
		t.Error("sam's own browser was signed out")
	}
	if signedIn(samOther) {
		t.Error("sam's other browser is still signed in after their role was lowered")
	}
	if got := samBrowser.get("/admin/users").StatusCode; got != 403 {
		t.Errorf("as a plain user sam opens the users page: %d", got)
	}

	// A change that is not of role or organisation keeps sessions.
	samOther = e.client()
	wantStatus(t, samOther.signIn("sam.patel", strongPassword, ""), 303)
	sam, _ = e.store.User(t.Context(), sam.ID)
	wantStatus(t, sysAdmin.post(page(sam), editForm(sam, sysAdmin.csrf(page(sam)), func(f url.Values) { f.Set("first_name", "Samir") })), 303)
	if !signedIn(samOther) {
		t.Error("a change of name signed sam out")
	}
}

// TestEmailChangeTellsTheOldAddress: when an administrator changes a
// person's email, the old address is told, in the same change.
func TestEmailChangeTellsTheOldAddress(t *testing.T) {
	e := newEnv(t, func(c *Config) { c.SignInRateLimit = 0 })
	admin := e.registeredAdmin()
	sam := e.addUser(admin.OrgID, "sam.patel", strongPassword)
	sysAdmin := e.client()
	wantStatus(t, sysAdmin.signIn("admin.jones", strongPassword, ""), 303)
	page := "/admin/users/" + strconv.FormatUint(sam.ID, 10)
	wantStatus(t, sysAdmin.post(page, editForm(sam, sysAdmin.csrf(page), func(f url.Values) { f.Set("email", "sam.new@nhs.net") })), 303)
	emails, err := e.store.Emails(t.Context(), cqrs.EmailFilter{UserID: sam.ID, Limit: 10})
	if err != nil {
		t.Fatal(err)
	}
	var notice *cqrs.Email
	for i := range emails {
		if emails[i].Kind == "email-changed" {
			notice = &emails[i]
		}
	}
	if notice == nil {
		t.Fatalf("no email-changed notice among %d emails", len(emails))
	}
	if notice.To != "sam.patel@nhs.net" {
		t.Errorf("the notice went to %q, want the old address", notice.To)
	}
	if !strings.Contains(notice.Text, "sam.patel") || !strings.Contains(notice.Text, notYou) || strings.Contains(notice.Text, "sam.new@nhs.net") {
		t.Errorf("notice text:\n%s", notice.Text)
	}
}
