package handlers

import (
	"fmt"
	"testing"

	"github.com/cqrs-local/cqrs-signin/cqrs"
)

// TestDestructiveActionsAskFirst: disable, revoke, remove and delete lead
// to a page that says what will happen and changes nothing; its form posts
// the action, and Cancel goes back.
func TestDestructiveActionsAskFirst(t *testing.T) {
	e := newAdminEnv(t)
	sam, _ := e.store.UserByUserID(t.Context(), "sam.patel")
	jo := e.addUser(e.admin.OrgID, "jo.bloggs", "")
	samPage := fmt.Sprintf("/admin/users/%d", sam.ID)
	joPage := fmt.Sprintf("/admin/users/%d", jo.ID)

	t.Run("the user page's destructive buttons are links to the question, the others forms", func(t *testing.T) {
		d := e.orgAdmin.get(samPage).doc(t)
		if href := d.Find(`a[data-testid="action-Disable account"]`).AttrOr("href", ""); href != samPage+"/disable" {
			t.Errorf("Disable account leads to %q, want the question at %s/disable", href, samPage)
		}
		if d.Find(`form[action="`+samPage+`/disable"]`).Length() != 0 {
			t.Error("the user page still disables in one press")
		}
		if d.Find(`form[action="`+samPage+`/reset"]`).Length() != 1 {
			t.Error("Send password reset link is no longer a button of its own")
		}
		d = e.orgAdmin.get(joPage).doc(t)
		if href := d.Find(`a[data-testid="action-Revoke invitation"]`).AttrOr("href", ""); href != joPage+"/revoke" {
			t.Errorf("Revoke invitation leads to %q", href)
		}
	})
	confirmForm := func(action string) func(t *testing.T, c *client, r response) {
		return func(t *testing.T, c *client, r response) {
			d := r.doc(t)
			if got := d.Find(`form[data-testid="confirm-form"]`).AttrOr("action", ""); got != action {
				t.Errorf("the question's form posts to %q, want %q", got, action)
			}
			if d.Find(`form[data-testid="confirm-form"] input[name="csrf_token"]`).Length() != 1 {
				t.Error("the question's form has no CSRF token")
			}
			if d.Find(`[data-testid="confirm-cancel"]`).Length() != 1 {
				t.Error("the question has no way back")
			}
		}
	}
	runScenarios(t, e.testEnv, e.roles(), []scenario{
		{Name: "disable asks what will happen", URL: samPage + "/disable", Role: roleSameOrgAdmin, ExpectedStatus: 200, Unchanged: true,
			ExpectedContent: []string{"Disable the account of Sam Patel (sam.patel)?", "will no longer be able to sign in", "you can enable the account again"},
			After:           confirmForm(samPage + "/disable"),
			ExpectedChange: func(t *testing.T) {
				if u, _ := e.store.User(t.Context(), sam.ID); u.Status != cqrs.StatusActive {
					t.Fatal("asking disabled the account")
				}
			}},
		{Name: "revoke asks what will happen", URL: joPage + "/revoke", Role: roleSameOrgAdmin, ExpectedStatus: 200, Unchanged: true,
			ExpectedContent: []string{"Revoke the invitation of", "stops working"}, After: confirmForm(joPage + "/revoke")},
		{Name: "nothing to ask: a registered user has no invitation", URL: samPage + "/revoke", Role: roleSameOrgAdmin, ExpectedStatus: 303, ExpectedLocation: samPage, Unchanged: true},
		{Name: "another organisation's user is not found", URL: samPage + "/disable", Role: roleOtherOrgAdmin, ExpectedStatus: 404, Unchanged: true},
		{Name: "the system administrator is not disabled by themselves", URL: fmt.Sprintf("/admin/users/%d/disable", e.admin.ID), Role: roleSysAdmin,
			ExpectedStatus: 303, ExpectedLocation: fmt.Sprintf("/admin/users/%d", e.admin.ID), Unchanged: true},
		{Name: "the question's button does it", Method: "POST", URL: samPage + "/disable", Role: roleSameOrgAdmin, CSRFFrom: samPage + "/disable",
			ExpectedStatus: 303, ExpectedLocation: samPage + "?notice=disabled",
			ExpectedChange: func(t *testing.T) {
				if u, _ := e.store.User(t.Context(), sam.ID); u.Status != cqrs.StatusDisabled {
					t.Fatal("the account is not disabled")
				}
			}},
	})
	t.Run("deleting a message asks first", func(t *testing.T) {
		msgs, _, err := e.store.Messages(t.Context(), e.admin.ID)
		if err != nil || len(msgs) == 0 {
			t.Fatalf("the administrator has no message to delete: %v", err)
		}
		path := fmt.Sprintf("/messages/%d/delete", msgs[0].ID)
		r := e.sys.get(path)
		wantStatus(t, r, 200)
		wantText(t, r, "Delete the message", "removed from your Message Centre for good")
		confirmForm(path)(t, e.sys, r)
		if after, _, _ := e.store.Messages(t.Context(), e.admin.ID); len(after) != len(msgs) {
			t.Error("asking deleted the message")
		}
		wantStatus(t, e.orgAdmin.get(path), 404) // not theirs
	})
}
