package store

import (
	"errors"
	"testing"
	"time"

	"github.com/cqrs-local/cqrs-signin/cqrs"
)

// twoLearners resets the training data and adds learner01 and learner02,
// each invited with a 14-day registration link (hashOf(101), hashOf(102)).
func twoLearners(t *testing.T, s *Store) (cqrs.User, cqrs.User) {
	t.Helper()
	if err := s.ResetTraining(t.Context(), trainingSet(""), nil, cqrs.AuditEvent{Type: "training-reset"}); err != nil {
		t.Fatal(err)
	}
	org, _ := s.Organisation(t.Context(), 1)
	nl := func(id string, token byte) cqrs.NewLearner {
		return cqrs.NewLearner{TokenHash: hashOf(token), User: cqrs.TrainingUser{User: cqrs.User{UserID: id, Email: id + "@nhs.net", OrgID: org.ID, Role: cqrs.RoleUser},
			LinkHash: hashOf(token + 100), LinkTTL: 14 * 24 * time.Hour, Email: &cqrs.Email{Subject: "x"}}, NHSmail: cqrs.NHSmailAccount{Email: id + "@nhs.net", PasswordHash: "nh"}}
	}
	if _, err := s.CreateLearners(t.Context(), []cqrs.NewLearner{nl("learner01", 1), nl("learner02", 2)}); err != nil {
		t.Fatal(err)
	}
	a, _ := s.UserByUserID(t.Context(), "learner01")
	b, _ := s.UserByUserID(t.Context(), "learner02")
	return a, b
}

// TestLearnerClockExpiresOnlyTheirLink: +14 days on one learner's own
// clock expires their registration link and nobody else's; the class
// clock does not move.
func TestLearnerClockExpiresOnlyTheirLink(t *testing.T) {
	s, _ := openTest(t)
	a, b := twoLearners(t, s)
	if _, err := s.MoveLearnerClock(t.Context(), a.ID, 14*24*time.Hour, cqrs.AuditEvent{Type: "training-learner-action"}); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.LinkUser(t.Context(), hashOf(101), cqrs.LinkRegister); !errors.Is(err, cqrs.ErrExpired) {
		t.Errorf("learner01's link after +14 days on their clock: %v, want expired", err)
	}
	if _, _, err := s.LinkUser(t.Context(), hashOf(102), cqrs.LinkRegister); err != nil {
		t.Errorf("learner02's link: %v", err)
	}
	if off, _ := s.ClockOffset(t.Context()); off != 0 {
		t.Errorf("the class clock moved %v", off)
	}
	// A link sent afterwards runs on the learner's clock, so it works.
	if _, err := s.SendLink(t.Context(), a.ID, cqrs.LinkRegister, hashOf(120), 14*24*time.Hour, cqrs.Email{Subject: "again"}); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.LinkUser(t.Context(), hashOf(120), cqrs.LinkRegister); err != nil {
		t.Errorf("a link sent on the learner's clock: %v", err)
	}
	_ = b
}

// TestLearnerLockAndResetRunOnTheirClock: a lock set from the board is
// stamped in the learner's own time, carries an unlock link that works on
// their clock, and a reset puts everything back to step 1.
func TestLearnerLockAndResetRunOnTheirClock(t *testing.T) {
	s, _ := openTest(t)
	a, _ := twoLearners(t, s)
	if _, err := s.LockLearner(t.Context(), a.ID, 5, time.Hour, nil, cqrs.AuditEvent{Type: "x"}); !errors.Is(err, cqrs.ErrConflict) {
		t.Fatalf("locking an unregistered learner: %v, want conflict", err)
	}
	if _, err := s.SetPasswordWithLink(t.Context(), hashOf(101), cqrs.LinkRegister, "pw1", nil); err != nil {
		t.Fatal(err)
	}
	if _, err := s.MoveLearnerClock(t.Context(), a.ID, 72*time.Hour, cqrs.AuditEvent{Type: "x"}); err != nil {
		t.Fatal(err)
	}
	notice := func(u cqrs.User, expires time.Time) (cqrs.Email, []byte) {
		return cqrs.Email{Kind: "lockout", Subject: "locked"}, hashOf(130)
	}
	u, err := s.LockLearner(t.Context(), a.ID, 5, time.Hour, notice, cqrs.AuditEvent{Type: "x"})
	if err != nil {
		t.Fatal(err)
	}
	if u.FailedSignIns != 5 || u.LockedAt.Sub(s.now()) < 71*time.Hour {
		t.Errorf("locked = %+v, want 5 failures at the learner's own time", u)
	}
	if _, _, err := s.LinkUser(t.Context(), hashOf(130), cqrs.LinkReset); err != nil {
		t.Errorf("the unlock link on the learner's clock: %v", err)
	}
	if _, err := s.GiveLearnerNoCQRS(t.Context(), a.ID, cqrs.AuditEvent{Type: "x"}); err != nil {
		t.Fatal(err)
	}
	extra, err := s.NHSmailAccountByEmail(t.Context(), "learner01.nocqrs@nhs.net")
	if err != nil || extra.PasswordHash != "nh" || extra.Disabled {
		t.Fatalf("NHSmail account without CQRS = %+v, %v", extra, err)
	}
	if _, err := s.UserByEmail(t.Context(), extra.Email); !errors.Is(err, cqrs.ErrNotFound) {
		t.Errorf("a CQRS account has the address: %v", err)
	}
	if _, err := s.LockLearnerNHSmail(t.Context(), a.ID, cqrs.AuditEvent{Type: "x"}); err != nil {
		t.Fatal(err)
	}
	if own, _ := s.NHSmailAccountByEmail(t.Context(), "learner01@nhs.net"); !own.Locked {
		t.Error("the learner's NHSmail account is not locked")
	}
	u, err = s.ResetLearner(t.Context(), a.ID, hashOf(140), 14*24*time.Hour, cqrs.Email{Kind: "registration", Subject: "again"}, cqrs.AuditEvent{Type: "x"})
	if err != nil {
		t.Fatal(err)
	}
	if u.PasswordHash != "" || u.Status != cqrs.StatusInvited || !u.LockedAt.IsZero() || u.ClockOffset != 0 || u.FailedSignIns != 0 {
		t.Errorf("after reset = %+v", u)
	}
	if _, _, err := s.LinkUser(t.Context(), hashOf(130), cqrs.LinkReset); err == nil {
		t.Error("the old unlock link still works after a reset")
	}
	if _, _, err := s.LinkUser(t.Context(), hashOf(140), cqrs.LinkRegister); err != nil {
		t.Errorf("the new registration link: %v", err)
	}
	if own, _ := s.NHSmailAccountByEmail(t.Context(), "learner01@nhs.net"); own.Locked {
		t.Error("the learner's NHSmail account is still locked after a reset")
	}
	if extra, _ := s.NHSmailAccountByEmail(t.Context(), "learner01.nocqrs@nhs.net"); !extra.Disabled {
		t.Error("the account without CQRS still works after a reset")
	}
	if _, err := s.MoveLearnerClock(t.Context(), 999, time.Hour, cqrs.AuditEvent{Type: "x"}); !errors.Is(err, cqrs.ErrNotFound) {
		t.Errorf("a user who is not a learner: %v", err)
	}
}
