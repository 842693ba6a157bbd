package storetest

import (
	"bytes"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/cqrs-local/cqrs-signin/cqrs"
)

// The second factor (--second-factor): the pending sign-in a right
// password starts, enrolment, codes accepted once, recovery codes, the
// shared lockout under a burst, reset.

func init() {
	register(
		Case{"a right password starts a pending sign-in; the first code enrols", []string{"PendingSignIn", "OfferSecondFactor", "SecondFactorSignIn", "SecondFactorStatus"}, testSecondFactorEnrol},
		Case{"second-factor failures share the lockout under concurrency", []string{"SecondFactorSignIn"}, testSecondFactorLockout},
		Case{"recovery codes: each once, replaced, and reset", []string{"ReplaceRecoveryCodes", "ResetSecondFactor"}, testRecoveryCodesAndReset},
	)
}

// passwordStep is a right password for userID under the setting
// "everyone": the pending sign-in under hash(pending).
func (v *env) passwordStep(userID, pending string) cqrs.SignInResult {
	v.t.Helper()
	res, err := v.e.LegacySignIn(v.t.Context(), cqrs.SignInAttempt{UserID: userID, CheckedHash: "hash:" + userID, PasswordOK: true, LockAfter: 5,
		SessionHash: hash(pending), Method: "legacy", SecondFactor: cqrs.SecondFactorEveryone})
	if err != nil {
		v.t.Fatal(err)
	}
	if !res.SecondFactorDue || res.SignedIn {
		v.t.Fatalf("a right password under the setting: %+v, want a pending sign-in", res)
	}
	return res
}

// enrolled is an active user who has set up their authenticator, with
// the secret "sealed:"+userID, last step 100 and recovery codes hash("rc1"),
// hash("rc2").
func (v *env) enrolled(userID string) cqrs.User {
	v.t.Helper()
	u := v.active(userID)
	v.passwordStep(userID, "enrol:"+userID)
	ctx := v.t.Context()
	if _, err := v.e.OfferSecondFactor(ctx, hash("enrol:"+userID), []byte("sealed:"+userID)); err != nil {
		v.t.Fatal(err)
	}
	res, err := v.e.SecondFactorSignIn(ctx, cqrs.SecondFactorAttempt{PendingHash: hash("enrol:" + userID), Kind: cqrs.SecondFactorEnrol,
		CheckedSealed: []byte("sealed:" + userID), Step: 100, RecoveryCodes: [][]byte{hash("rc1"), hash("rc2")}, SessionHash: hash("session:" + userID), LockAfter: 5})
	if err != nil || !res.SignedIn {
		v.t.Fatalf("enrolment: %+v, %v", res, err)
	}
	return u
}

func testSecondFactorEnrol(t *testing.T, cfg Config) {
	v := newEnv(t, cfg)
	ctx := t.Context()
	sam := v.active("sam.patel")
	if res, err := v.e.LegacySignIn(t.Context(), cqrs.SignInAttempt{UserID: "sam.patel", CheckedHash: "hash:sam.patel", PasswordOK: true, LockAfter: 5,
		SessionHash: hash("plain"), SecondFactor: cqrs.SecondFactorAdministrators}); err != nil || !res.SignedIn || res.SecondFactorDue {
		t.Fatalf("a user the setting does not cover: %+v, %v; want signed in", res, err)
	}
	// A wrong password first: the right one does not clear the count
	// until the second factor is given.
	if _, err := v.e.LegacySignIn(t.Context(), cqrs.SignInAttempt{UserID: "sam.patel", CheckedHash: "hash:sam.patel", LockAfter: 5, SessionHash: hash("x"),
		SecondFactor: cqrs.SecondFactorEveryone}); err != nil {
		t.Fatal(err)
	}
	v.passwordStep("sam.patel", "pending")
	if u, _ := v.e.User(t.Context(), sam.ID); u.FailedSignIns != 1 {
		t.Errorf("failures after a wrong password, then a right one waiting for its code: %d, want 1", u.FailedSignIns)
	}
	if _, _, err := v.e.Session(t.Context(), hash("pending"), time.Hour, 12*time.Hour); err == nil {
		t.Error("the pending sign-in's token is a session")
	}
	p, f, err := v.e.PendingSignIn(ctx, hash("pending"))
	if err != nil || p.UserID != sam.ID || p.Account != "sam.patel" || f != nil || len(p.Enrolling) != 0 {
		t.Fatalf("pending: %+v, %+v, %v", p, f, err)
	}
	if st, err := v.e.SecondFactorStatus(ctx, sam.ID); err != nil || !st.Enrolled.IsZero() {
		t.Errorf("status before enrolment: %+v, %v", st, err)
	}
	// The first secret offered is kept: a reload shows the same key.
	for _, offer := range []string{"first", "second"} {
		p, err := v.e.OfferSecondFactor(ctx, hash("pending"), []byte(offer))
		if err != nil || string(p.Enrolling) != "first" {
			t.Fatalf("offer %s: %q, %v; want first", offer, p.Enrolling, err)
		}
	}
	attempt := cqrs.SecondFactorAttempt{PendingHash: hash("pending"), Kind: cqrs.SecondFactorEnrol, CheckedSealed: []byte("first"),
		RecoveryCodes: [][]byte{hash("rc")}, SessionHash: hash("session"), LockAfter: 5}
	if res, err := v.e.SecondFactorSignIn(ctx, attempt); err != nil || res.SignedIn { // Step 0: the code matched nothing
		t.Fatalf("a wrong first code: %+v, %v", res, err)
	}
	attempt.Step = 1000
	res, err := v.e.SecondFactorSignIn(ctx, attempt)
	if err != nil || !res.SignedIn || res.User.FailedSignIns != 0 {
		t.Fatalf("the first code: %+v, %v", res, err)
	}
	if _, u, err := v.e.Session(t.Context(), hash("session"), time.Hour, 12*time.Hour); err != nil || u.ID != sam.ID {
		t.Errorf("the session after the first code: %v", err)
	}
	if _, _, err := v.e.PendingSignIn(ctx, hash("pending")); !errors.Is(err, cqrs.ErrExpired) {
		t.Errorf("the pending sign-in after use: %v, want expired", err)
	}
	if _, err := v.e.SecondFactorSignIn(ctx, attempt); !errors.Is(err, cqrs.ErrExpired) {
		t.Errorf("the pending sign-in used twice: %v, want expired", err)
	}
	st, err := v.e.SecondFactorStatus(ctx, sam.ID)
	if err != nil || !st.Enrolled.Equal(v.clock.Now()) || st.RecoveryCodesLeft != 1 {
		t.Errorf("status: %+v, %v", st, err)
	}
	// Next time: the factor comes with the pending sign-in; a step not
	// later than the last accepted is refused; an expired pending sign-in
	// is over.
	v.passwordStep("sam.patel", "again")
	_, f, err = v.e.PendingSignIn(ctx, hash("again"))
	if err != nil || f == nil || !bytes.Equal(f.Sealed, []byte("first")) || f.LastStep != 1000 {
		t.Fatalf("the factor: %+v, %v", f, err)
	}
	code := cqrs.SecondFactorAttempt{PendingHash: hash("again"), Kind: cqrs.SecondFactorCode, CheckedSealed: []byte("first"), Step: 1000,
		SessionHash: hash("session2"), LockAfter: 5}
	if res, _ := v.e.SecondFactorSignIn(ctx, code); res.SignedIn {
		t.Error("a code's step accepted twice")
	}
	code.Step, code.CheckedSealed = 1001, []byte("stale")
	if res, _ := v.e.SecondFactorSignIn(ctx, code); res.SignedIn {
		t.Error("a code checked against a secret no longer stored was accepted")
	}
	code.CheckedSealed = []byte("first")
	if res, err := v.e.SecondFactorSignIn(ctx, code); err != nil || !res.SignedIn {
		t.Errorf("the next step's code: %+v, %v", res, err)
	}
	v.passwordStep("sam.patel", "late")
	v.clock.Advance(cqrs.PendingSignInLifespan)
	if _, _, err := v.e.PendingSignIn(ctx, hash("late")); !errors.Is(err, cqrs.ErrExpired) {
		t.Errorf("a pending sign-in past its time: %v, want expired", err)
	}
	for _, typ := range []string{cqrs.AuditSecondFactorDue, cqrs.AuditSecondFactorEnrolled, cqrs.AuditSecondFactorUsed, cqrs.AuditSecondFactorFailed} {
		if v.count(cqrs.AuditFilter{Type: typ, Subject: "sam.patel"}) == 0 {
			t.Errorf("no %s entry", typ)
		}
	}
}

// testSecondFactorLockout releases wrong codes together with the right
// one: the failures lock the account at LockAfter, exactly once, with one
// email, and nothing signs in after the lock.
func testSecondFactorLockout(t *testing.T, cfg Config) {
	v := newEnv(t, cfg)
	ctx := t.Context()
	sam := v.enrolled("sam.patel")
	v.passwordStep("sam.patel", "burst")
	const lockAfter = 5
	var wg sync.WaitGroup
	results := make([]cqrs.SignInResult, 16)
	start := make(chan struct{})
	for i := range results {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			a := cqrs.SecondFactorAttempt{PendingHash: hash("burst"), Kind: cqrs.SecondFactorCode, CheckedSealed: []byte("sealed:sam.patel"),
				SessionHash: hash("burst-session:" + string(rune('a'+i))), LockAfter: lockAfter,
				LockNotice: func(u cqrs.User, expires time.Time) (cqrs.Email, []byte) {
					return cqrs.Email{Kind: "lockout", Subject: "locked", Text: "locked"}, hash("unlock")
				}, LinkTTL: time.Hour}
			var err error
			if results[i], err = v.e.SecondFactorSignIn(ctx, a); err != nil {
				t.Error(err)
			}
		}()
	}
	close(start)
	wg.Wait()
	locked := 0
	for _, r := range results {
		if r.SignedIn {
			t.Error("a wrong code signed in")
		}
		if r.LockedNow {
			locked++
		}
	}
	u, _ := v.e.User(t.Context(), sam.ID)
	if locked != 1 || u.LockedAt.IsZero() || u.FailedSignIns != lockAfter {
		t.Errorf("locked by %d answers; account locked %v with %d failures; want once, at %d", locked, u.LockedAt, u.FailedSignIns, lockAfter)
	}
	if n := v.count(cqrs.AuditFilter{Type: cqrs.AuditSecondFactorFailed, Subject: "sam.patel"}); n != lockAfter {
		t.Errorf("failed entries = %d, want %d (then refused as locked)", n, lockAfter)
	}
	if n := v.count(cqrs.AuditFilter{Type: cqrs.AuditSignInLocked, Subject: "sam.patel"}); n != len(results)-lockAfter {
		t.Errorf("refused-while-locked entries = %d, want %d", n, len(results)-lockAfter)
	}
	emails, _ := v.e.Emails(t.Context(), cqrs.EmailFilter{UserID: sam.ID})
	if len(emails) != 1 || emails[0].Kind != "lockout" {
		t.Errorf("emails: %+v, want the one lockout notice", emails)
	}
	right := cqrs.SecondFactorAttempt{PendingHash: hash("burst"), Kind: cqrs.SecondFactorCode, CheckedSealed: []byte("sealed:sam.patel"), Step: 200,
		SessionHash: hash("after"), LockAfter: lockAfter}
	if res, err := v.e.SecondFactorSignIn(ctx, right); err != nil || res.SignedIn {
		t.Errorf("the right code on a locked account: %+v, %v", res, err)
	}
}

func testRecoveryCodesAndReset(t *testing.T, cfg Config) {
	v := newEnv(t, cfg)
	ctx := t.Context()
	sam := v.enrolled("sam.patel")
	use := func(pending, code string) bool {
		t.Helper()
		v.passwordStep("sam.patel", pending)
		res, err := v.e.SecondFactorSignIn(ctx, cqrs.SecondFactorAttempt{PendingHash: hash(pending), Kind: cqrs.SecondFactorRecovery,
			RecoveryHash: hash(code), SessionHash: hash("s:" + pending), LockAfter: 5})
		if err != nil {
			t.Fatal(err)
		}
		return res.SignedIn
	}
	if !use("p1", "rc1") || use("p2", "rc1") {
		t.Error("a recovery code must work exactly once")
	}
	if st, _ := v.e.SecondFactorStatus(ctx, sam.ID); st.RecoveryCodesLeft != 1 {
		t.Errorf("codes left: %d, want 1", st.RecoveryCodesLeft)
	}
	if err := v.e.ReplaceRecoveryCodes(ctx, sam.ID, [][]byte{hash("new1"), hash("new2"), hash("new3")},
		cqrs.AuditEvent{Type: cqrs.AuditRecoveryCodesNew, Actor: "sam.patel"}); err != nil {
		t.Fatal(err)
	}
	if use("p3", "rc2") {
		t.Error("an old code works after new ones were made")
	}
	if !use("p4", "new2") {
		t.Error("a new code does not work")
	}
	if st, _ := v.e.SecondFactorStatus(ctx, sam.ID); st.RecoveryCodesLeft != 2 {
		t.Errorf("codes left: %d, want 2", st.RecoveryCodesLeft)
	}
	if n := v.count(cqrs.AuditFilter{Type: cqrs.AuditRecoveryCodesNew, Subject: "sam.patel"}); n != 1 {
		t.Errorf("replaced entries = %d, want 1", n)
	}
	lee := v.active("lee.wong")
	if err := v.e.ReplaceRecoveryCodes(ctx, lee.ID, [][]byte{hash("x")}); !errors.Is(err, cqrs.ErrNotFound) {
		t.Errorf("codes for someone not enrolled: %v, want not found", err)
	}

	// Reset: the factor and the pending sign-ins go, the owner is told.
	v.passwordStep("sam.patel", "waiting")
	notice := &cqrs.Email{Kind: "second-factor-reset", Subject: "reset", Text: "reset"}
	if _, err := v.e.ResetSecondFactor(ctx, sam.ID, notice, cqrs.AuditEvent{Type: cqrs.AuditSecondFactorReset, Actor: "admin"}); err != nil {
		t.Fatal(err)
	}
	if st, _ := v.e.SecondFactorStatus(ctx, sam.ID); !st.Enrolled.IsZero() {
		t.Error("still enrolled after a reset")
	}
	if _, _, err := v.e.PendingSignIn(ctx, hash("waiting")); !errors.Is(err, cqrs.ErrExpired) {
		t.Errorf("a pending sign-in outlived the reset: %v", err)
	}
	if use("p5", "new3") {
		t.Error("a recovery code works after a reset")
	}
	emails, _ := v.e.Emails(t.Context(), cqrs.EmailFilter{UserID: sam.ID})
	if len(emails) != 1 || emails[0].Kind != "second-factor-reset" || emails[0].To != sam.Email {
		t.Errorf("the owner's notice: %+v", emails)
	}
	if n := v.count(cqrs.AuditFilter{Type: cqrs.AuditSecondFactorReset, Subject: "sam.patel"}); n != 1 {
		t.Errorf("reset entries = %d, want 1", n)
	}
	if _, err := v.e.ResetSecondFactor(ctx, 999999, nil); !errors.Is(err, cqrs.ErrNotFound) {
		t.Errorf("resetting nobody: %v, want not found", err)
	}
}
