package handlers

import (
	"fmt"
	"net/url"
	"strings"
	"testing"

	"github.com/cqrs-local/cqrs-signin/cqrs"
)

func TestMessageCentre(t *testing.T) {
	e := newEnv(t)
	admin := e.registeredAdmin()
	e.addUser(admin.OrgID, "sam.patel", "Harbour!2026x")
	other, err := e.store.CreateOrganisation(t.Context(), cqrs.Organisation{Name: "Hillside Surgery", ODSCode: "B82001"})
	if err != nil {
		t.Fatal(err)
	}
	e.addUser(other.ID, "kim.lee", "Harbour!2026x")

	sam := e.client()
	wantStatus(t, sam.signIn("sam.patel", "Harbour!2026x", ""), 303)
	kim := e.client()
	wantStatus(t, kim.signIn("kim.lee", "Harbour!2026x", ""), 303)
	e.addUserWithRole(admin.OrgID, "org.admin", "Harbour!2026x", cqrs.RoleUserAdmin)
	adminC := e.client()
	wantStatus(t, adminC.signIn("org.admin", "Harbour!2026x", ""), 303)
	sysAdmin := e.client()
	wantStatus(t, sysAdmin.signIn("admin.jones", strongPassword, ""), 303)

	roles := map[string]*client{roleUser: sam, roleOtherOrgUser: kim, roleSameOrgAdmin: adminC, roleSysAdmin: sysAdmin}
	runScenarios(t, e, roles, []scenario{
		{Name: "a user cannot send to everyone", Method: "POST", URL: "/messages/send", Role: roleUser, CSRFFrom: "/messages",
			Form: url.Values{"subject": {"Hi"}, "body": {"x"}}, ExpectedStatus: 403, Unchanged: true},
	})

	samUser, _ := e.store.UserByUserID(t.Context(), "sam.patel")
	msgs, _, _ := e.store.Messages(t.Context(), samUser.ID)
	welcome := msgs[0]

	t.Run("open marks read", func(t *testing.T) {
		r := sam.get(fmt.Sprintf("/messages/%d", welcome.ID))
		wantStatus(t, r, 200)
		wantText(t, r, welcome.Body)
		if strings.Contains(r.body, `data-testid="unread-count"`) {
			t.Error("unread count still shown after opening the only message")
		}
		frag := sam.get(fmt.Sprintf("/messages/%d", welcome.ID), header("HX-Request", "true"))
		if strings.Contains(frag.body, "<html") || !strings.Contains(frag.body, `hx-swap-oob="true"`) {
			t.Errorf("htmx open: want a fragment with out-of-band updates, got:\n%s", excerpt(frag.body))
		}
	})
	t.Run("another user's message is not found", func(t *testing.T) {
		runScenarios(t, e, roles, []scenario{
			{Name: "open", URL: fmt.Sprintf("/messages/%d", welcome.ID), Role: roleOtherOrgUser, ExpectedStatus: 404},
			{Name: "delete", Method: "POST", URL: fmt.Sprintf("/messages/%d/delete", welcome.ID), Role: roleOtherOrgUser, CSRFFrom: "/messages",
				ExpectedStatus: 404, Unchanged: true,
				ExpectedChange: func(t *testing.T) {
					if _, _, err := e.store.Messages(t.Context(), samUser.ID); err != nil {
						t.Fatal(err)
					}
					if m, _, _ := e.store.Messages(t.Context(), samUser.ID); len(m) != 1 {
						t.Fatal("another user deleted the message")
					}
				}},
		})
	})
	t.Run("broadcast reaches the organisation only, newest first", func(t *testing.T) {
		r := adminC.post("/messages/send", url.Values{"subject": {"Quality return due"}, "body": {"Please submit by Friday."}, "csrf_token": {adminC.csrf("/messages")}})
		wantStatus(t, r, 303)
		if loc := r.Header.Get("Location"); loc != "/messages" {
			t.Fatalf("Send message redirects to %q, want /messages (POST-redirect-GET)", loc)
		}
		after := adminC.get("/messages")
		wantText(t, after, "Your message was sent to 3 users.", "Quality return due")
		if again := adminC.get("/messages"); strings.Contains(again.body, "Your message was sent to") {
			t.Error("the sent notice shows again on reloading")
		}
		page := sam.get("/messages")
		wantText(t, page, "Quality return due", "1 unread")
		d := page.doc(t)
		if first := d.Find(`[data-testid="message-list"] li`).First().Text(); !strings.Contains(first, "Quality return due") {
			t.Errorf("newest message is not first: %q", first)
		}
		if strings.Contains(kim.get("/messages").body, "Quality return due") {
			t.Error("a user of another organisation received the message")
		}
	})
	t.Run("the system administrator's broadcast reaches everyone", func(t *testing.T) {
		r := sysAdmin.post("/messages/send", url.Values{"subject": {"Service update"}, "body": {"CQRS will be down on Sunday."}, "csrf_token": {sysAdmin.csrf("/messages")}})
		wantStatus(t, r, 303)
		for _, c := range []*client{sam, kim, adminC} {
			page := c.get("/messages")
			wantText(t, page, "Service update", "(System administrator)")
			if c == kim && strings.Contains(page.body, "(User Administrator)") {
				t.Error("the system administrator's broadcast is signed User Administrator")
			}
		}
	})
	runScenarios(t, e, roles, []scenario{
		{Name: "broadcast validation", Method: "POST", URL: "/messages/send", Role: roleSameOrgAdmin, CSRFFrom: "/messages",
			Form:           url.Values{"subject": {""}, "body": {""}},
			ExpectedStatus: 422, ExpectedContent: []string{"Enter a subject.", "Enter the message."}, Unchanged: true},
	})
	t.Run("delete", func(t *testing.T) {
		r := sam.post(fmt.Sprintf("/messages/%d/delete", welcome.ID), url.Values{"csrf_token": {sam.csrf("/messages")}})
		wantStatus(t, r, 303)
		if strings.Contains(sam.get("/messages").body, cqrs.WelcomeSubject) {
			t.Error("deleted message still listed")
		}
	})
}
