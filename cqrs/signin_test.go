package cqrs

import (
	"testing"
	"time"
)

func TestSignInDecision(t *testing.T) {
	now := time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)
	active := User{ID: 7, UserID: "sam.patel", OrgID: 3, Status: StatusActive, PasswordHash: "hash-1", FailedSignIns: 3}
	locked := active
	locked.LockedAt = now.Add(-time.Minute)
	invited := active
	invited.Status, invited.PasswordHash = StatusInvited, ""
	attempt := func(ok bool, checked string) SignInAttempt {
		return SignInAttempt{UserID: "SAM.PATEL", CheckedHash: checked, PasswordOK: ok, LockAfter: 5, IP: "192.0.2.1", Method: "password"}
	}
	for _, tc := range []struct {
		name      string
		a         SignInAttempt
		u         *User
		signIn    bool
		counted   bool
		lockedNow bool
		event     string
		failures  int
	}{
		{"unknown User ID", attempt(true, "hash-1"), nil, false, false, false, AuditSignInFailed, 0},
		{"right password", attempt(true, "hash-1"), &active, true, false, false, AuditSignIn, 3},
		{"wrong password", attempt(false, "hash-1"), &active, false, true, false, AuditSignInFailed, 4},
		{"right password checked against a hash changed since", attempt(true, "hash-0"), &active, false, true, false, AuditSignInFailed, 4},
		{"locked: the right password is refused and not counted", attempt(true, "hash-1"), &locked, false, false, false, AuditSignInLocked, 3},
		{"not registered", attempt(true, ""), &invited, false, true, false, AuditSignInFailed, 4},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := tc.a.Decide(tc.u, now)
			if d.SignIn != tc.signIn || d.Counted != tc.counted || d.LockedNow != tc.lockedNow {
				t.Errorf("sign in %v, counted %v, locked now %v; want %v, %v, %v", d.SignIn, d.Counted, d.LockedNow, tc.signIn, tc.counted, tc.lockedNow)
			}
			if d.Event.Type != tc.event || !d.Event.Time.Equal(now) {
				t.Errorf("audit entry %s at %v, want %s at %v", d.Event.Type, d.Event.Time, tc.event, now)
			}
			if d.User.FailedSignIns != tc.failures {
				t.Errorf("%d failures, want %d", d.User.FailedSignIns, tc.failures)
			}
		})
	}

	t.Run("the fifth failure in a row locks, on the owner's clock", func(t *testing.T) {
		u := active
		u.FailedSignIns, u.ClockOffset = 4, 72*time.Hour
		a := attempt(false, "hash-1")
		d := a.Decide(&u, now)
		if !d.LockedNow || !d.User.LockedAt.Equal(now.Add(72*time.Hour)) || d.Lock.Type != AuditLockout {
			t.Fatalf("locked now %v at %v, lock entry %q", d.LockedNow, d.User.LockedAt, d.Lock.Type)
		}
		if d.Lock.Detail != "locked after 5 failed sign-ins" {
			t.Errorf("lock entry %q without a lock notice", d.Lock.Detail)
		}
		a.LockNotice = func(User, time.Time) (Email, []byte) { return Email{}, nil }
		if d := a.Decide(&u, now); d.Lock.Detail != "locked after 5 failed sign-ins; unlock email queued to the owner" {
			t.Errorf("lock entry %q with a lock notice", d.Lock.Detail)
		}
		if u.FailedSignIns != 4 || !u.LockedAt.IsZero() {
			t.Error("Decide changed the account it was given")
		}
	})
	t.Run("a disabled account counts failures but never locks", func(t *testing.T) {
		u := active
		u.Status, u.FailedSignIns = StatusDisabled, 9
		if d := attempt(true, "hash-1").Decide(&u, now); d.SignIn || d.LockedNow || d.User.FailedSignIns != 10 {
			t.Errorf("sign in %v, locked now %v, %d failures", d.SignIn, d.LockedNow, d.User.FailedSignIns)
		}
	})
}
