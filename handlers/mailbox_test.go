package handlers

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cqrs-local/cqrs-signin/cqrs"
	"github.com/cqrs-local/cqrs-signin/secret"
	"github.com/cqrs-local/cqrs-signin/store"
)

// latestEmailTo is the newest outbox entry for the user, with its link's
// token (Secret), straight from the store.
func (e *testEnv) latestEmailTo(u cqrs.User) cqrs.Email {
	e.t.Helper()
	emails, err := e.store.Emails(context.Background(), cqrs.EmailFilter{UserID: u.ID, Limit: 1})
	if err != nil || len(emails) == 0 {
		e.t.Fatalf("no email to %s: %v", u.UserID, err)
	}
	return emails[0]
}

// wantNoLink checks that an opened email shows none of its link.
func wantNoLink(t *testing.T, r response, m cqrs.Email) {
	t.Helper()
	wantStatus(t, r, 200)
	if m.Secret == "" {
		t.Fatalf("email %d carries no link token to look for", m.ID)
	}
	if strings.Contains(r.body, m.Secret) || strings.Contains(r.body, "token=") || r.doc(t).Find(`[data-testid="mailbox-link"]`).Length() != 0 {
		t.Errorf("the email to %s shows its link:\n%s", m.To, excerpt(r.body))
	}
	wantText(t, r, hiddenLink)
}

// wantLink checks that an opened email shows its working link.
func wantLink(t *testing.T, r response, m cqrs.Email) {
	t.Helper()
	wantStatus(t, r, 200)
	if href := r.doc(t).Find(`[data-testid="mailbox-link"]`).AttrOr("href", ""); !strings.HasSuffix(href, "?token="+m.Secret) {
		t.Errorf("the email to %s does not show its link (href %q)", m.To, href)
	}
}

// The critical path of issue 11: a User Administrator in the system
// administrator's organisation asks, on the public Forgotten page, for the
// system administrator's reset email, opens it in the local mailbox and
// follows its link. The mailbox never shows them that link; nor the link
// of a reset they start themselves for a user they manage (ASVS 6.4.6).
func TestUserAdministratorCannotTakeOverTheSystemAdministrator(t *testing.T) {
	e := newAdminEnv(t)
	sam, _ := e.store.UserByUserID(t.Context(), "sam.patel")
	orgAdmin, _ := e.store.UserByUserID(t.Context(), "org.admin")

	anon := e.client()
	wantStatus(t, anon.post("/forgotten", url.Values{"who": {"admin.jones"}, "csrf_token": {anon.csrf("/forgotten")}}), 303)
	sysReset := e.latestEmailTo(e.admin)
	if sysReset.Kind != "reset" {
		t.Fatalf("the newest email to the system administrator is %q, want the reset", sysReset.Kind)
	}
	samPath := fmt.Sprintf("/admin/users/%d", sam.ID)
	wantStatus(t, e.orgAdmin.post(samPath+"/reset", url.Values{"csrf_token": {e.orgAdmin.csrf(samPath)}}), 303)
	samReset := e.latestEmailTo(sam)
	wantStatus(t, e.orgAdmin.post("/forgotten", url.Values{"who": {"org.admin"}, "csrf_token": {e.orgAdmin.csrf("/forgotten")}}), 303)
	ownReset := e.latestEmailTo(orgAdmin)

	box := e.orgAdmin.get("/mailbox")
	wantStatus(t, box, 200)
	wantText(t, box, "Other links in emails to other people are hidden")
	for _, m := range []cqrs.Email{sysReset, samReset} {
		if !strings.Contains(box.body, fmt.Sprintf(`data-testid="email-%d"`, m.ID)) {
			t.Errorf("the User Administrator's mailbox does not list the email to %s (they may know it was sent)", m.To)
		}
		t.Run("the User Administrator cannot read the link to "+m.To, func(t *testing.T) {
			wantNoLink(t, e.orgAdmin.get(fmt.Sprintf("/mailbox/%d", m.ID)), m)
		})
	}
	t.Run("the User Administrator reads the link in their own email", func(t *testing.T) {
		wantLink(t, e.orgAdmin.get(fmt.Sprintf("/mailbox/%d", ownReset.ID)), ownReset)
	})
	t.Run("the system administrator reads every link, to pass it on", func(t *testing.T) {
		for _, m := range []cqrs.Email{sysReset, samReset, ownReset} {
			wantLink(t, e.sys.get(fmt.Sprintf("/mailbox/%d", m.ID)), m)
		}
	})
	t.Run("a user and a visitor read nothing", func(t *testing.T) {
		for _, m := range []cqrs.Email{sysReset, samReset} {
			wantStatus(t, e.user.get(fmt.Sprintf("/mailbox/%d", m.ID)), 403)
			wantStatus(t, e.client().get(fmt.Sprintf("/mailbox/%d", m.ID)), 303)
		}
	})
	t.Run("another organisation's User Administrator does not even see it", func(t *testing.T) {
		wantStatus(t, e.otherAdmin.get(fmt.Sprintf("/mailbox/%d", sysReset.ID)), 404)
	})
	t.Run("the system administrator's password is unchanged and the link unused", func(t *testing.T) {
		after, _ := e.store.User(t.Context(), e.admin.ID)
		if after.PasswordHash != e.admin.PasswordHash {
			t.Error("the system administrator's password changed")
		}
		if _, u, err := e.store.LinkUser(t.Context(), secret.HashToken(sysReset.Secret), cqrs.LinkReset); err != nil || u.ID != e.admin.ID {
			t.Errorf("the system administrator's own link no longer works: %v", err)
		}
	})
}

// The backup the system administrator downloads (and the one the backup
// subcommand fetches from a running instance) holds no working link.
func TestDownloadedBackupHoldsNoWorkingLink(t *testing.T) {
	bboltOnly(t, "the app makes the bbolt file's backups; PostgreSQL is backed up with its own tools")
	e := newAdminEnv(t, func(c *Config) { c.InstanceToken = "instance-token-for-the-test" })
	wantStatus(t, e.orgAdmin.post("/admin/users", newUserForm(e.orgAdmin, e.admin.OrgID, "jo.bloggs", "jo.bloggs@nhs.net")), 303)
	jo, _ := e.store.UserByUserID(t.Context(), "jo.bloggs")
	m := e.latestEmailTo(jo)
	if m.Secret == "" || !strings.Contains(string(e.dbBytes()), m.Secret) {
		t.Fatal("the live database does not hold the registration email's link (nothing to test)")
	}
	for name, r := range map[string]response{
		"/admin/backup":    e.sys.get("/admin/backup"),
		"/internal/backup": e.client().get("/internal/backup", header("Authorization", "Bearer instance-token-for-the-test")),
	} {
		t.Run(name, func(t *testing.T) {
			wantStatus(t, r, 200)
			path := filepath.Join(t.TempDir(), "backup.db")
			if err := os.WriteFile(path, []byte(r.body), 0o600); err != nil {
				t.Fatal(err)
			}
			if _, err := store.Verify(path); err != nil {
				t.Fatalf("the backup is not a database: %v", err)
			}
			if strings.Contains(r.body, m.Secret) {
				t.Error("the backup holds the registration link's token")
			}
			if got, want := r.Header.Get("Content-Length"), fmt.Sprint(len(r.body)); got != want {
				t.Errorf("Content-Length = %s, want %s", got, want)
			}
		})
	}
}

func TestLocalMailbox(t *testing.T) {
	e := newAdminEnv(t)
	wantStatus(t, e.orgAdmin.post("/admin/users", newUserForm(e.orgAdmin, e.admin.OrgID, "jo.bloggs", "jo.bloggs@nhs.net")), 303)
	wantStatus(t, e.otherAdmin.post("/admin/users", newUserForm(e.otherAdmin, e.other.ID, "hill.user", "hill.user@nhs.net")), 303)
	box := e.orgAdmin.get("/mailbox")
	wantStatus(t, box, 200)
	wantText(t, box, "jo.bloggs@nhs.net")
	if strings.Contains(box.body, "hill.user@nhs.net") {
		t.Error("the mailbox shows another organisation's email")
	}
	id := box.doc(t).Find(`[data-testid="email-table"] tbody tr`).First().AttrOr("data-testid", "")
	// The User Administrator passes the invitation of someone who has never
	// registered on (see TestUserAdministratorDeliversInvitations); the
	// system administrator sees the link too.
	open := e.orgAdmin.get("/mailbox/" + strings.TrimPrefix(id, "email-"))
	wantStatus(t, open, 200)
	wantText(t, open, "Your User ID is: jo.bloggs")
	link := e.sys.get("/mailbox/"+strings.TrimPrefix(id, "email-")).doc(t).Find(`[data-testid="mailbox-link"]`).AttrOr("href", "")
	if !strings.HasPrefix(link, "http://127.0.0.1:8420/register?token=") {
		t.Fatalf("mailbox link = %q", link)
	}
	hillBox := e.otherAdmin.get("/mailbox")
	if strings.Contains(hillBox.body, "jo.bloggs@nhs.net") {
		t.Error("another organisation's administrator sees the email")
	}
	runScenarios(t, e.testEnv, e.roles(), []scenario{
		{Name: "another organisation's email", URL: "/mailbox/" + strings.TrimPrefix(id, "email-"), Role: roleOtherOrgAdmin, ExpectedStatus: 404},
		{Name: "signed out", URL: "/mailbox", Role: roleAnon, ExpectedStatus: 303},
	})
}

// TestUserAdministratorDeliversInvitations: without a mail server a User
// Administrator passes on the registration link of someone in their
// organisation who has never had a password, and nothing else: never a
// reset or unlock link, never the link of anyone with a password (however
// it was sent), never a system administrator's.
func TestUserAdministratorDeliversInvitations(t *testing.T) {
	e := newAdminEnv(t)
	wantStatus(t, e.orgAdmin.post("/admin/users", newUserForm(e.orgAdmin, e.admin.OrgID, "jo.bloggs", "jo.bloggs@nhs.net")), 303)
	jo, _ := e.store.UserByUserID(t.Context(), "jo.bloggs")
	joInvite := e.latestEmailTo(jo)

	// A second, never-registered system administrator in the same organisation.
	newSys := e.addUserWithRole(e.admin.OrgID, "second.sys", "", cqrs.RoleSystemAdmin)
	sysPath := fmt.Sprintf("/admin/users/%d", newSys.ID)
	wantStatus(t, e.sys.post(sysPath+"/resend", url.Values{"csrf_token": {e.sys.csrf(sysPath)}}), 303)
	sysInvite := e.latestEmailTo(newSys)

	// A registered user's registration email, re-sent before they registered.
	kim := e.addUserWithRole(e.admin.OrgID, "kim.lee", "", cqrs.RoleUser)
	kimPath := fmt.Sprintf("/admin/users/%d", kim.ID)
	wantStatus(t, e.orgAdmin.post(kimPath+"/resend", url.Values{"csrf_token": {e.orgAdmin.csrf(kimPath)}}), 303)
	kimInvite := e.latestEmailTo(kim)
	hash, _ := e.hasher.Hash(t.Context(), "Harbour!2026x")
	if _, err := e.store.SetPasswordWithLink(t.Context(), secret.HashToken(kimInvite.Secret), cqrs.LinkRegister, hash, nil); err != nil {
		t.Fatal(err)
	}

	// A reset link for an account that has never registered.
	pat := e.addUserWithRole(e.admin.OrgID, "pat.ng", "", cqrs.RoleUser)
	patPath := fmt.Sprintf("/admin/users/%d", pat.ID)
	wantStatus(t, e.sys.post(patPath+"/reset", url.Values{"csrf_token": {e.sys.csrf(patPath)}}), 303)
	patReset := e.latestEmailTo(pat)
	if patReset.Kind != "reset" {
		t.Fatalf("pat.ng's newest email is %q, want the reset", patReset.Kind)
	}

	cases := []struct {
		name   string
		reader *client
		email  cqrs.Email
		link   bool
	}{
		{"a User Administrator opens the invitation of a user who never registered", e.orgAdmin, joInvite, true},
		{"not a system administrator's invitation", e.orgAdmin, sysInvite, false},
		{"not the invitation of someone who has registered since", e.orgAdmin, kimInvite, false},
		{"never a reset link, even for someone without a password", e.orgAdmin, patReset, false},
		{"the system administrator opens every link", e.sys, sysInvite, true},
		{"the system administrator opens a reset link", e.sys, patReset, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := tc.reader.get(fmt.Sprintf("/mailbox/%d", tc.email.ID))
			if tc.link {
				wantLink(t, r, tc.email)
			} else {
				wantNoLink(t, r, tc.email)
			}
		})
	}
	runScenarios(t, e.testEnv, e.roles(), []scenario{
		{Name: "another organisation's User Administrator does not see the invitation", URL: fmt.Sprintf("/mailbox/%d", joInvite.ID), Role: roleOtherOrgAdmin,
			ExpectedStatus: 404, NotExpectedContent: []string{joInvite.Secret}},
		{Name: "a user does not see the invitation", URL: fmt.Sprintf("/mailbox/%d", joInvite.ID), Role: roleUser,
			ExpectedStatus: 403, NotExpectedContent: []string{joInvite.Secret}},
		{Name: "the mailbox tells a User Administrator what they may pass on", URL: "/mailbox", Role: roleSameOrgAdmin,
			ExpectedStatus: 200, ExpectedContent: []string{"pass its link on to them, and only them", "Other links in emails to other people are hidden"}},
	})
}
