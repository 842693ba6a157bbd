package storetest

import (
	"errors"
	"testing"
	"time"

	"github.com/cqrs-local/cqrs-signin/cqrs"
)

// testPrivilegeChanges: a change of role or organisation ends the user's
// sessions but the one kept, in the edit's transaction; other edits keep
// them; a change of email queues the notice to the old address; a rotated
// session answers under its new ID only, with its start kept.
func testPrivilegeChanges(t *testing.T, cfg Config) {
	v := newEnv(t, cfg)
	pc := v.e
	sam := v.active("sam")
	for _, s := range []string{"one", "two", "three"} {
		if _, err := v.e.SignedIn(t.Context(), sam.ID, hash(s), nil); err != nil {
			t.Fatal(err)
		}
	}
	live := func(s string) bool {
		_, _, err := v.e.Session(t.Context(), hash(s), time.Hour, 12*time.Hour)
		if err != nil && !errors.Is(err, cqrs.ErrNotFound) && !errors.Is(err, cqrs.ErrExpired) {
			t.Fatal(err)
		}
		return err == nil
	}

	renamed := sam
	renamed.FirstName = "Samir"
	if _, err := pc.EditUser(t.Context(), renamed, nil, nil); err != nil {
		t.Fatal(err)
	}
	if !live("one") || !live("two") || !live("three") {
		t.Error("a change of name ended sessions")
	}

	raised := renamed
	raised.Role = cqrs.RoleUserAdmin
	if _, err := pc.EditUser(t.Context(), raised, hash("one"), nil); err != nil {
		t.Fatal(err)
	}
	if !live("one") || live("two") || live("three") {
		t.Errorf("after a role change: one %v (kept), two %v, three %v", live("one"), live("two"), live("three"))
	}

	v.clock.Advance(10 * time.Minute)
	before, _, err := v.e.Session(t.Context(), hash("one"), time.Hour, 12*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if err := pc.RotateSession(t.Context(), hash("one"), hash("four")); err != nil {
		t.Fatal(err)
	}
	if live("one") {
		t.Error("the old ID of a rotated session still answers")
	}
	after, u, err := v.e.Session(t.Context(), hash("four"), time.Hour, 12*time.Hour)
	if err != nil || u.ID != sam.ID || !after.Created.Equal(before.Created) {
		t.Errorf("rotated session: %+v of %d, %v; want started %v", after, u.ID, err, before.Created)
	}
	if err := pc.RotateSession(t.Context(), hash("one"), hash("five")); !errors.Is(err, cqrs.ErrNotFound) {
		t.Errorf("rotating a session that is gone: %v, want ErrNotFound", err)
	}

	moved := raised
	moved.Email = "samir@nhs.net"
	if _, err := pc.EditUser(t.Context(), moved, nil, &cqrs.Email{Kind: "email-changed", Subject: "changed", Text: "changed"}); err != nil {
		t.Fatal(err)
	}
	emails, err := v.e.Emails(t.Context(), cqrs.EmailFilter{UserID: sam.ID, Limit: 10})
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, e := range emails {
		if e.Kind == "email-changed" {
			found = true
			if e.To != "sam@nhs.net" {
				t.Errorf("the notice went to %q, want the old address", e.To)
			}
		}
	}
	if !found {
		t.Error("no notice queued for the change of email")
	}
	if !live("four") {
		t.Error("a change of email ended sessions")
	}
}
