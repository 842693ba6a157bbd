package storetest

import (
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/cqrs-local/cqrs-signin/cqrs"
)

// The administration and account journeys: password change and history,
// emailed links, invitations, unlock, organisations and the single sign-on
// link.

func init() {
	register(
		Case{"password change keeps the history and ends the other sessions", []string{"ChangePassword", "PasswordHistory"}, testChangePassword},
		Case{"a new link replaces the last; registration renews the invitation", []string{"SendLink", "RevokeInvitation"}, testSendLink},
		Case{"unlock", []string{"Unlock"}, testUnlock},
		Case{"organisations", []string{"Organisation", "Organisations", "UpdateOrganisation"}, testOrganisations},
		Case{"an NHSmail identity is linked to one account, once", []string{"LinkSSOSubject", "UnlinkSSOSubject", "UserBySSOSubject"}, testSSOLink},
	)
}

func testChangePassword(t *testing.T, cfg Config) {
	v := newEnv(t, cfg)
	sam := v.active("sam.patel")
	if h, err := v.e.PasswordHistory(t.Context(), sam.ID); err != nil || len(h) != 0 {
		t.Fatalf("history after registration: %q, %v; want none", h, err)
	}
	for _, s := range []string{"here", "elsewhere"} {
		if _, err := v.e.SignedIn(t.Context(), sam.ID, hash(s), nil); err != nil {
			t.Fatal(err)
		}
	}
	v.clock.Advance(10 * time.Minute)
	notice := &cqrs.Email{Kind: "password-changed", Subject: "Your CQRS password was changed", Text: "changed"}
	u, err := v.e.ChangePassword(t.Context(), sam.ID, "hash:2", hash("here"), notice, cqrs.AuditEvent{Type: "password-changed", Actor: sam.UserID})
	if err != nil {
		t.Fatal(err)
	}
	if u.PasswordHash != "hash:2" || !u.PasswordChanged.Equal(v.clock.Now()) {
		t.Errorf("changed: hash %q at %v; want hash:2 at %v", u.PasswordHash, u.PasswordChanged, v.clock.Now())
	}
	if got, _ := v.e.User(t.Context(), sam.ID); got.PasswordHash != "hash:2" || !got.PasswordChanged.Equal(v.clock.Now()) {
		t.Errorf("stored: %+v", got)
	}
	if _, _, err := v.e.Session(t.Context(), hash("here"), time.Hour, 12*time.Hour); err != nil {
		t.Errorf("the session that changed it was ended: %v", err)
	}
	if _, _, err := v.e.Session(t.Context(), hash("elsewhere"), time.Hour, 12*time.Hour); err == nil {
		t.Error("another session outlived the password change")
	}
	emails, _ := v.e.Emails(t.Context(), cqrs.EmailFilter{UserID: sam.ID})
	if len(emails) != 1 || emails[0].To != sam.Email || emails[0].ToName != sam.FullName() || emails[0].OrgID != v.org.ID || emails[0].Kind != "password-changed" {
		t.Errorf("the owner's notice: %+v", emails)
	}
	if n := v.count(cqrs.AuditFilter{Type: "password-changed", Subject: sam.UserID}); n != 1 {
		t.Errorf("%d password-changed entries about the user, want 1", n)
	}
	if h, _ := v.e.PasswordHistory(t.Context(), sam.ID); !slices.Equal(h, []string{"hash:sam.patel"}) {
		t.Errorf("history: %q, want the registration's hash", h)
	}

	// The history keeps the newest cqrs.HistoryDepth, newest first, whichever
	// way the password was set.
	for i := 3; i <= cqrs.HistoryDepth+3; i++ {
		if _, err := v.e.ChangePassword(t.Context(), sam.ID, fmt.Sprint("hash:", i), nil, nil); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := v.e.SendLink(t.Context(), sam.ID, cqrs.LinkReset, hash("reset"), time.Hour, cqrs.Email{Kind: "reset"}); err != nil {
		t.Fatal(err)
	}
	if _, err := v.e.SetPasswordWithLink(t.Context(), hash("reset"), cqrs.LinkReset, "hash:reset", nil); err != nil {
		t.Fatal(err)
	}
	var want []string
	for i := cqrs.HistoryDepth + 3; len(want) < cqrs.HistoryDepth; i-- {
		want = append(want, fmt.Sprint("hash:", i))
	}
	if h, _ := v.e.PasswordHistory(t.Context(), sam.ID); !slices.Equal(h, want) {
		t.Errorf("history: %q\nwant %q", h, want)
	}
	if _, err := v.e.ChangePassword(t.Context(), sam.ID+1000, "h", nil, nil); !errors.Is(err, cqrs.ErrNotFound) {
		t.Errorf("an unknown user: %v, want ErrNotFound", err)
	}
}

func testSendLink(t *testing.T, cfg Config) {
	v := newEnv(t, cfg)
	sam := v.active("sam.patel")
	reset := func(name string) cqrs.Email {
		return cqrs.Email{Kind: "reset", To: sam.Email, Subject: "Unlock or reset", Text: "link " + name}
	}
	if _, err := v.e.SendLink(t.Context(), sam.ID, cqrs.LinkReset, hash("reset-1"), time.Hour, reset("1"), cqrs.AuditEvent{Type: "reset-requested"}); err != nil {
		t.Fatal(err)
	}
	if _, err := v.e.SendLink(t.Context(), sam.ID, cqrs.LinkReset, hash("reset-2"), time.Hour, reset("2")); err != nil {
		t.Fatal(err)
	}
	if _, _, err := v.e.LinkUser(t.Context(), hash("reset-1"), cqrs.LinkReset); !errors.Is(err, cqrs.ErrNotFound) {
		t.Errorf("an earlier reset link still works: %v, want ErrNotFound (only the newest email's link works)", err)
	}
	if l, u, err := v.e.LinkUser(t.Context(), hash("reset-2"), cqrs.LinkReset); err != nil || u.ID != sam.ID || !l.Expires.Equal(v.clock.Now().Add(time.Hour)) {
		t.Errorf("the newest reset link: %+v for %d, %v", l, u.ID, err)
	}
	emails, _ := v.e.Emails(t.Context(), cqrs.EmailFilter{UserID: sam.ID})
	if len(emails) != 2 || emails[0].Text != "link 2" || emails[0].OrgID != v.org.ID || emails[0].Status != cqrs.EmailQueued {
		t.Errorf("queued with the links, newest first: %+v", emails)
	}
	if n := v.count(cqrs.AuditFilter{Type: "reset-requested", Subject: sam.UserID}); n != 1 {
		t.Errorf("%d reset-requested entries about the user, want 1", n)
	}
	if _, err := v.e.SendLink(t.Context(), sam.ID, cqrs.LinkRegister, hash("again"), time.Hour, reset("r")); !errors.Is(err, cqrs.ErrConflict) {
		t.Errorf("a registration link for a registered user: %v, want ErrConflict", err)
	}
	if _, err := v.e.RevokeInvitation(t.Context(), sam.ID); !errors.Is(err, cqrs.ErrConflict) {
		t.Errorf("revoking a registered user's invitation: %v, want ErrConflict", err)
	}

	// An invitation: revoked, its link stops working; sent again after
	// its expiry, it is renewed and only the new link works.
	jo := v.invite("jo.bloggs")
	u, err := v.e.RevokeInvitation(t.Context(), jo.ID, cqrs.AuditEvent{Type: "invitation-revoked"})
	if err != nil || !u.InviteRevoked {
		t.Fatalf("revoke: %+v, %v", u, err)
	}
	if _, _, err := v.e.LinkUser(t.Context(), hash("link:jo.bloggs"), cqrs.LinkRegister); !errors.Is(err, cqrs.ErrNotFound) {
		t.Errorf("a revoked invitation's link: %v, want ErrNotFound", err)
	}
	if n := v.count(cqrs.AuditFilter{Type: "invitation-revoked", Subject: jo.UserID}); n != 1 {
		t.Errorf("%d invitation-revoked entries, want 1", n)
	}
	v.clock.Advance(48 * time.Hour)
	u, err = v.e.SendLink(t.Context(), jo.ID, cqrs.LinkRegister, hash("link:jo.bloggs:2"), 24*time.Hour, cqrs.Email{Kind: "registration", To: jo.Email, Text: "again"})
	if err != nil || u.InviteRevoked || !u.InviteExpires.Equal(v.clock.Now().Add(24*time.Hour)) {
		t.Fatalf("sent again: %+v, %v", u, err)
	}
	if got, _ := v.e.User(t.Context(), jo.ID); got.InviteRevoked || !got.InviteExpires.Equal(u.InviteExpires) || got.State() != cqrs.StateInvited {
		t.Errorf("stored: %+v", got)
	}
	if _, err := v.e.SetPasswordWithLink(t.Context(), hash("link:jo.bloggs:2"), cqrs.LinkRegister, "hash:jo", nil); err != nil {
		t.Errorf("the renewed invitation's link: %v", err)
	}
	if _, err := v.e.SendLink(t.Context(), sam.ID+1000, cqrs.LinkReset, hash("x"), time.Hour, reset("x")); !errors.Is(err, cqrs.ErrNotFound) {
		t.Errorf("an unknown user: %v, want ErrNotFound", err)
	}
}

func testUnlock(t *testing.T, cfg Config) {
	v := newEnv(t, cfg)
	sam := v.active("sam.patel")
	for i := range 5 {
		if _, err := v.e.LegacySignIn(t.Context(), cqrs.SignInAttempt{UserID: sam.UserID, CheckedHash: sam.PasswordHash, LockAfter: 5, SessionHash: hash(fmt.Sprint(i))}); err != nil {
			t.Fatal(err)
		}
	}
	if u, _ := v.e.User(t.Context(), sam.ID); u.State() != cqrs.StateLocked {
		t.Fatalf("after five failures: %+v", u)
	}
	u, err := v.e.Unlock(t.Context(), sam.ID, cqrs.AuditEvent{Type: "unlocked", Actor: "admin.jones"})
	if err != nil || !u.LockedAt.IsZero() || u.FailedSignIns != 0 || u.State() != cqrs.StateActive {
		t.Fatalf("unlock: %+v, %v", u, err)
	}
	if got, _ := v.e.User(t.Context(), sam.ID); !got.LockedAt.IsZero() || got.FailedSignIns != 0 {
		t.Errorf("stored: %+v", got)
	}
	if n := v.count(cqrs.AuditFilter{Type: "unlocked", Subject: sam.UserID}); n != 1 {
		t.Errorf("%d unlocked entries about the user, want 1", n)
	}
	res, err := v.e.LegacySignIn(t.Context(), cqrs.SignInAttempt{UserID: sam.UserID, CheckedHash: sam.PasswordHash, PasswordOK: true, LockAfter: 5, SessionHash: hash("after")})
	if err != nil || !res.SignedIn {
		t.Errorf("the right password after unlock: %+v, %v", res, err)
	}
	if _, err := v.e.Unlock(t.Context(), sam.ID+1000); !errors.Is(err, cqrs.ErrNotFound) {
		t.Errorf("an unknown user: %v, want ErrNotFound", err)
	}
}

func testOrganisations(t *testing.T, cfg Config) {
	v := newEnv(t, cfg)
	hill, err := v.e.CreateOrganisation(t.Context(), cqrs.Organisation{Name: "hillside Surgery", ODSCode: "B82002"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := v.e.CreateOrganisation(t.Context(), cqrs.Organisation{Name: "Another", ODSCode: "b82002"}); !errors.Is(err, cqrs.ErrConflict) {
		t.Errorf("an ODS code taken in another case: %v, want ErrConflict", err)
	}
	orgs, err := v.e.Organisations(t.Context())
	if err != nil || len(orgs) != 2 || orgs[0] != hill || orgs[1] != v.org {
		t.Fatalf("by name, ignoring case: %+v, %v", orgs, err)
	}
	renamed := cqrs.Organisation{ID: hill.ID, Name: "Hillside Surgery", ODSCode: "B82003"}
	if got, err := v.e.UpdateOrganisation(t.Context(), renamed); err != nil || got != renamed {
		t.Fatalf("update: %+v, %v", got, err)
	}
	if got, err := v.e.Organisation(t.Context(), hill.ID); err != nil || got != renamed {
		t.Errorf("after update: %+v, %v", got, err)
	}
	if _, err := v.e.CreateOrganisation(t.Context(), cqrs.Organisation{Name: "Reuse", ODSCode: "B82002"}); err != nil {
		t.Errorf("the old ODS code is free again: %v", err)
	}
	if _, err := v.e.UpdateOrganisation(t.Context(), cqrs.Organisation{ID: hill.ID, Name: "Hillside", ODSCode: "a81001"}); !errors.Is(err, cqrs.ErrConflict) {
		t.Errorf("update to a taken ODS code: %v, want ErrConflict", err)
	}
	if got, _ := v.e.Organisation(t.Context(), hill.ID); got != renamed {
		t.Errorf("a refused update changed %+v", got)
	}
	if _, err := v.e.UpdateOrganisation(t.Context(), cqrs.Organisation{ID: hill.ID + 1000, Name: "Nowhere", ODSCode: "Z0"}); !errors.Is(err, cqrs.ErrNotFound) {
		t.Errorf("update of an unknown organisation: %v, want ErrNotFound", err)
	}
	if _, err := v.e.Organisation(t.Context(), hill.ID+1000); !errors.Is(err, cqrs.ErrNotFound) {
		t.Errorf("an unknown organisation: %v, want ErrNotFound", err)
	}
}

func testSSOLink(t *testing.T, cfg Config) {
	v := newEnv(t, cfg)
	sam, jo := v.active("sam.patel"), v.active("jo.bloggs")
	notice := func() *cqrs.Email {
		return &cqrs.Email{Kind: "sso-linked", Subject: "NHSmail linked to your CQRS account", Text: "linked"}
	}
	u, err := v.e.LinkSSOSubject(t.Context(), sam.ID, "oid-Sam", notice(), cqrs.AuditEvent{Type: "sso-linked"})
	if err != nil || u.SSOSubject != "oid-Sam" {
		t.Fatalf("link: %+v, %v", u, err)
	}
	if got, err := v.e.UserBySSOSubject(t.Context(), "oid-Sam"); err != nil || got.ID != sam.ID {
		t.Errorf("by subject: %+v, %v", got, err)
	}
	if _, err := v.e.UserBySSOSubject(t.Context(), "OID-SAM"); !errors.Is(err, cqrs.ErrNotFound) {
		t.Errorf("a subject in another case: %v, want ErrNotFound (subjects are case-sensitive)", err)
	}
	if _, err := v.e.LinkSSOSubject(t.Context(), sam.ID, "oid-Sam", notice()); err != nil {
		t.Errorf("linking the same identity again: %v", err)
	}
	if emails, _ := v.e.Emails(t.Context(), cqrs.EmailFilter{UserID: sam.ID}); len(emails) != 1 || emails[0].To != sam.Email {
		t.Errorf("the owner is told once: %+v", emails)
	}
	if n := v.count(cqrs.AuditFilter{Type: "sso-linked", Subject: sam.UserID}); n != 1 {
		t.Errorf("%d sso-linked entries, want 1", n)
	}
	if _, err := v.e.LinkSSOSubject(t.Context(), sam.ID, "oid-other", notice()); !errors.Is(err, cqrs.ErrConflict) {
		t.Errorf("a second identity for one account: %v, want ErrConflict", err)
	}
	if _, err := v.e.LinkSSOSubject(t.Context(), jo.ID, "oid-Sam", notice()); !errors.Is(err, cqrs.ErrConflict) {
		t.Errorf("one identity for a second account: %v, want ErrConflict", err)
	}
	if got, _ := v.e.User(t.Context(), jo.ID); got.SSOSubject != "" {
		t.Errorf("a refused link was kept: %+v", got)
	}
	if emails, _ := v.e.Emails(t.Context(), cqrs.EmailFilter{UserID: jo.ID}); len(emails) != 0 {
		t.Errorf("a refused link emailed: %+v", emails)
	}

	u, err = v.e.UnlinkSSOSubject(t.Context(), sam.ID, cqrs.AuditEvent{Type: "sso-unlinked"})
	if err != nil || u.SSOSubject != "" {
		t.Fatalf("unlink: %+v, %v", u, err)
	}
	if _, err := v.e.UserBySSOSubject(t.Context(), "oid-Sam"); !errors.Is(err, cqrs.ErrNotFound) {
		t.Errorf("an unlinked identity still finds the account: %v", err)
	}
	if n := v.count(cqrs.AuditFilter{Type: "sso-unlinked", Subject: sam.UserID}); n != 1 {
		t.Errorf("%d sso-unlinked entries, want 1", n)
	}

	// Two accounts claiming one identity at once (two instances): one wins.
	var (
		wg        sync.WaitGroup
		mu        sync.Mutex
		won, lost int
	)
	for _, id := range []uint64{sam.ID, jo.ID, sam.ID, jo.ID} {
		wg.Go(func() {
			_, err := v.e.LinkSSOSubject(t.Context(), id, "oid-shared", notice())
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err == nil:
				won++
			case errors.Is(err, cqrs.ErrConflict):
				lost++
			default:
				t.Errorf("link %d: %v", id, err)
			}
		})
	}
	wg.Wait()
	owner, err := v.e.UserBySSOSubject(t.Context(), "oid-shared")
	if err != nil {
		t.Fatal(err)
	}
	other := jo.ID
	if owner.ID == jo.ID {
		other = sam.ID
	}
	if got, _ := v.e.User(t.Context(), other); got.SSOSubject != "" || won != 2 || lost != 2 {
		t.Errorf("one identity, two accounts at once: %d linked, %d refused, the other account has %q; want 2 (the owner twice), 2, none", won, lost, got.SSOSubject)
	}
	if _, err := v.e.UnlinkSSOSubject(t.Context(), sam.ID+1000); !errors.Is(err, cqrs.ErrNotFound) {
		t.Errorf("an unknown user: %v, want ErrNotFound", err)
	}
}
