package storetest

import (
	"bytes"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/cqrs-local/cqrs-signin/cqrs"
)

// Passkeys: the ceremonies' challenges (once, in time, bound to their
// owner), a first passkey at the second step, passkeys added, renamed and
// removed by their owner only, the shared lockout, and reset.

func init() {
	register(
		Case{"a passkey challenge is taken once, by its owner, in time", []string{"SavePasskeyChallenge", "TakePasskeyChallenge"}, testPasskeyChallenges},
		Case{"a first passkey at the second step, then its use", []string{"PasskeySignIn", "Passkeys"}, testPasskeyEnrolAndUse},
		Case{"passkeys added, renamed and removed by their owner only", []string{"AddPasskey", "RenamePasskey", "RemovePasskey"}, testPasskeyOwnership},
		Case{"passkey failures share the lockout under concurrency", []string{"PasskeySignIn"}, testPasskeyLockout},
		Case{"a passkey alone signs its owner in, and its failures count", []string{"PasskeySignIn"}, testPasskeyAlone},
	)
}

func testPasskeyChallenges(t *testing.T, cfg Config) {
	v := newEnv(t, cfg)
	ctx := t.Context()
	save := func(owner, purpose, session string) {
		t.Helper()
		if err := v.e.SavePasskeyChallenge(ctx, cqrs.PasskeyChallenge{Owner: hash(owner), Purpose: purpose, UserID: 7, Session: []byte(session),
			Expires: v.clock.Now().Add(cqrs.PasskeyChallengeLifespan)}); err != nil {
			t.Fatal(err)
		}
	}
	save("session", cqrs.PasskeyRegister, "first")
	save("session", cqrs.PasskeyRegister, "second") // a new ceremony replaces the one before
	save("session", cqrs.PasskeyAssert, "other purpose")
	if _, err := v.e.TakePasskeyChallenge(ctx, hash("someone else"), cqrs.PasskeyRegister); !errors.Is(err, cqrs.ErrExpired) {
		t.Errorf("another owner's challenge: %v, want expired", err)
	}
	ch, err := v.e.TakePasskeyChallenge(ctx, hash("session"), cqrs.PasskeyRegister)
	if err != nil || string(ch.Session) != "second" || ch.UserID != 7 || ch.Purpose != cqrs.PasskeyRegister {
		t.Fatalf("take: %+v, %v; want the second", ch, err)
	}
	if _, err := v.e.TakePasskeyChallenge(ctx, hash("session"), cqrs.PasskeyRegister); !errors.Is(err, cqrs.ErrExpired) {
		t.Errorf("a challenge taken twice: %v, want expired", err)
	}
	if ch, err := v.e.TakePasskeyChallenge(ctx, hash("session"), cqrs.PasskeyAssert); err != nil || string(ch.Session) != "other purpose" {
		t.Errorf("the other purpose's challenge: %+v, %v", ch, err)
	}
	save("late", cqrs.PasskeyAssert, "late")
	v.clock.Advance(cqrs.PasskeyChallengeLifespan)
	if _, err := v.e.TakePasskeyChallenge(ctx, hash("late"), cqrs.PasskeyAssert); !errors.Is(err, cqrs.ErrExpired) {
		t.Errorf("a challenge past its time: %v, want expired", err)
	}
	// Racing answers to one challenge: exactly one gets it.
	save("race", cqrs.PasskeyAssert, "race")
	var wg sync.WaitGroup
	got := make([]bool, 8)
	for i := range got {
		wg.Go(func() {
			_, err := v.e.TakePasskeyChallenge(ctx, hash("race"), cqrs.PasskeyAssert)
			got[i] = err == nil
		})
	}
	wg.Wait()
	n := 0
	for _, ok := range got {
		if ok {
			n++
		}
	}
	if n != 1 {
		t.Errorf("a challenge taken by %d racing answers, want 1", n)
	}
}

// passkeyEnrolled is an active user who set up a passkey "pk:"+userID at
// the second step, with recovery code hash("rc").
func (v *env) passkeyEnrolled(userID string) cqrs.User {
	v.t.Helper()
	u := v.active(userID)
	v.passwordStep(userID, "pk-enrol:"+userID)
	res, err := v.e.PasskeySignIn(v.t.Context(), cqrs.PasskeyAttempt{PendingHash: hash("pk-enrol:" + userID), Kind: cqrs.PasskeyKindEnrol, Verified: true,
		Passkey: cqrs.Passkey{ID: []byte("pk:" + userID), Name: "Laptop", Credential: []byte("credential 0")}, RecoveryCodes: [][]byte{hash("rc")},
		SessionHash: hash("pk-session:" + userID), LockAfter: 5})
	if err != nil || !res.SignedIn {
		v.t.Fatalf("a first passkey: %+v, %v", res, err)
	}
	return u
}

func testPasskeyEnrolAndUse(t *testing.T, cfg Config) {
	v := newEnv(t, cfg)
	ctx := t.Context()
	sam := v.passkeyEnrolled("sam.patel")
	keys, err := v.e.Passkeys(ctx, sam.ID)
	if err != nil || len(keys) != 1 || !bytes.Equal(keys[0].ID, []byte("pk:sam.patel")) || keys[0].Name != "Laptop" ||
		!keys[0].Added.Equal(v.clock.Now()) || keys[0].UserID != sam.ID || string(keys[0].Credential) != "credential 0" {
		t.Fatalf("passkeys after the first: %+v, %v", keys, err)
	}
	if _, u, err := v.e.Session(ctx, hash("pk-session:sam.patel"), time.Hour, 12*time.Hour); err != nil || u.ID != sam.ID {
		t.Errorf("the session after a first passkey: %v", err)
	}
	st, err := v.e.SecondFactorStatus(ctx, sam.ID)
	if err != nil || st.Enrolled.IsZero() || st.App || st.RecoveryCodesLeft != 1 {
		t.Errorf("status with a passkey only: %+v, %v; want enrolled, no app, 1 code", st, err)
	}
	// The next sign-in: the factor (no sealed secret) comes with it.
	v.clock.Advance(time.Minute)
	v.passwordStep("sam.patel", "use")
	if _, f, err := v.e.PendingSignIn(ctx, hash("use")); err != nil || f == nil || len(f.Sealed) != 0 {
		t.Fatalf("the factor of a passkey only: %+v, %v", f, err)
	}
	// A first passkey is refused from someone who has a factor.
	enrolAgain := cqrs.PasskeyAttempt{PendingHash: hash("use"), Kind: cqrs.PasskeyKindEnrol, Verified: true,
		Passkey: cqrs.Passkey{ID: []byte("pk:intruder"), Name: "Intruder"}, SessionHash: hash("s-intruder"), LockAfter: 5}
	if res, err := v.e.PasskeySignIn(ctx, enrolAgain); err != nil || res.SignedIn {
		t.Errorf("a second 'first' passkey with a password alone: %+v, %v", res, err)
	}
	// Unverified, or a clone warning: refused and counted.
	use := cqrs.PasskeyAttempt{PendingHash: hash("use"), Kind: cqrs.PasskeyKindUse, Passkey: cqrs.Passkey{ID: []byte("pk:sam.patel"), Credential: []byte("credential 1")},
		SessionHash: hash("s-use"), LockAfter: 5}
	if res, _ := v.e.PasskeySignIn(ctx, use); res.SignedIn {
		t.Error("an unverified answer signed in")
	}
	use.Verified, use.CloneWarning = true, true
	if res, _ := v.e.PasskeySignIn(ctx, use); res.SignedIn {
		t.Error("an answer with a clone warning signed in")
	}
	if u, _ := v.e.User(ctx, sam.ID); u.FailedSignIns != 3 {
		t.Errorf("failures = %d, want 3", u.FailedSignIns)
	}
	use.CloneWarning = false
	res, err := v.e.PasskeySignIn(ctx, use)
	if err != nil || !res.SignedIn || res.User.FailedSignIns != 0 {
		t.Fatalf("a verified answer: %+v, %v", res, err)
	}
	keys, _ = v.e.Passkeys(ctx, sam.ID)
	if len(keys) != 1 || string(keys[0].Credential) != "credential 1" || !keys[0].LastUsed.Equal(v.clock.Now()) || keys[0].Name != "Laptop" {
		t.Errorf("the passkey after use: %+v", keys)
	}
	if _, err := v.e.PasskeySignIn(ctx, use); !errors.Is(err, cqrs.ErrExpired) {
		t.Errorf("the pending sign-in used twice: %v, want expired", err)
	}
	// Another person's passkey does not answer for sam.
	lee := v.passkeyEnrolled("lee.wong")
	v.passwordStep("sam.patel", "borrowed")
	borrowed := cqrs.PasskeyAttempt{PendingHash: hash("borrowed"), Kind: cqrs.PasskeyKindUse, Verified: true,
		Passkey: cqrs.Passkey{ID: []byte("pk:lee.wong"), Credential: []byte("x")}, SessionHash: hash("s-borrowed"), LockAfter: 5}
	if res, _ := v.e.PasskeySignIn(ctx, borrowed); res.SignedIn {
		t.Error("another person's passkey signed sam in")
	}
	if keys, _ := v.e.Passkeys(ctx, lee.ID); len(keys) != 1 || string(keys[0].Credential) != "credential 0" {
		t.Errorf("lee's passkey changed by sam's attempt: %+v", keys)
	}
	for _, typ := range []string{cqrs.AuditPasskeyRegistered, cqrs.AuditSecondFactorEnrolled, cqrs.AuditPasskeyUsed, cqrs.AuditPasskeyFailed} {
		if v.count(cqrs.AuditFilter{Type: typ, Subject: "sam.patel"}) == 0 {
			t.Errorf("no %s entry", typ)
		}
	}
	// A reset forgets the passkeys too.
	if _, err := v.e.ResetSecondFactor(ctx, sam.ID, nil, cqrs.AuditEvent{Type: cqrs.AuditSecondFactorReset, Actor: "admin"}); err != nil {
		t.Fatal(err)
	}
	if keys, _ := v.e.Passkeys(ctx, sam.ID); len(keys) != 0 {
		t.Errorf("passkeys after a reset: %+v", keys)
	}
}

func testPasskeyOwnership(t *testing.T, cfg Config) {
	v := newEnv(t, cfg)
	ctx := t.Context()
	sam := v.enrolled("sam.patel") // an authenticator app first
	lee := v.passkeyEnrolled("lee.wong")
	kim := v.active("kim.lee")
	add := func(u cqrs.User, id string) error {
		return v.e.AddPasskey(ctx, cqrs.Passkey{ID: []byte(id), UserID: u.ID, Name: id, Credential: []byte("c")},
			cqrs.AuditEvent{Type: cqrs.AuditPasskeyRegistered, Actor: u.UserID, Detail: id})
	}
	if err := add(kim, "kim's"); !errors.Is(err, cqrs.ErrNotFound) {
		t.Errorf("a passkey for someone with no second factor yet: %v, want not found", err)
	}
	if err := add(sam, "pk:lee.wong"); !errors.Is(err, cqrs.ErrConflict) {
		t.Errorf("a credential registered to another: %v, want conflict", err)
	}
	if err := add(sam, "phone"); err != nil {
		t.Fatal(err)
	}
	v.clock.Advance(time.Second)
	if err := add(sam, "laptop"); err != nil {
		t.Fatal(err)
	}
	keys, _ := v.e.Passkeys(ctx, sam.ID)
	if len(keys) != 2 || string(keys[0].ID) != "phone" || string(keys[1].ID) != "laptop" {
		t.Fatalf("sam's passkeys, oldest first: %+v", keys)
	}
	for i := 2; i < cqrs.MaxPasskeys; i++ {
		if err := add(sam, "extra"+string(rune('a'+i))); err != nil {
			t.Fatal(err)
		}
	}
	if err := add(sam, "one too many"); !errors.Is(err, cqrs.ErrConflict) {
		t.Errorf("passkey %d: %v, want conflict", cqrs.MaxPasskeys+1, err)
	}
	// Nobody renames or removes another person's passkey.
	if err := v.e.RenamePasskey(ctx, sam.ID, []byte("pk:lee.wong"), "mine now"); !errors.Is(err, cqrs.ErrNotFound) {
		t.Errorf("renaming another's passkey: %v, want not found", err)
	}
	if _, err := v.e.RemovePasskey(ctx, sam.ID, []byte("pk:lee.wong")); !errors.Is(err, cqrs.ErrNotFound) {
		t.Errorf("removing another's passkey: %v, want not found", err)
	}
	if keys, _ := v.e.Passkeys(ctx, lee.ID); len(keys) != 1 || keys[0].Name != "Laptop" {
		t.Errorf("lee's passkey after sam's attempts: %+v", keys)
	}
	if err := v.e.RenamePasskey(ctx, sam.ID, []byte("phone"), "Work phone", cqrs.AuditEvent{Type: cqrs.AuditPasskeyRenamed, Actor: "sam.patel"}); err != nil {
		t.Fatal(err)
	}
	if keys, _ := v.e.Passkeys(ctx, sam.ID); keys[0].Name != "Work phone" {
		t.Errorf("renamed: %q", keys[0].Name)
	}
	left, err := v.e.RemovePasskey(ctx, sam.ID, []byte("phone"), cqrs.AuditEvent{Type: cqrs.AuditPasskeyRemoved, Actor: "sam.patel"})
	if err != nil || left != cqrs.MaxPasskeys-1 {
		t.Errorf("remove: %d left, %v", left, err)
	}
	// Sam's app stays whatever passkeys go; lee's last passkey takes her
	// factor (and recovery codes) with it: she sets one up again.
	if st, _ := v.e.SecondFactorStatus(ctx, sam.ID); !st.App {
		t.Error("sam's authenticator app went with a passkey")
	}
	if left, err := v.e.RemovePasskey(ctx, lee.ID, []byte("pk:lee.wong"), cqrs.AuditEvent{Type: cqrs.AuditPasskeyRemoved, Actor: "lee.wong"}); err != nil || left != 0 {
		t.Fatalf("lee's last passkey: %d, %v", left, err)
	}
	if st, _ := v.e.SecondFactorStatus(ctx, lee.ID); !st.Enrolled.IsZero() {
		t.Errorf("lee's factor after her last passkey went: %+v", st)
	}
	if n := v.count(cqrs.AuditFilter{Type: cqrs.AuditPasskeyRemoved}); n != 2 {
		t.Errorf("removed entries = %d, want 2", n)
	}
	if n := v.count(cqrs.AuditFilter{Type: cqrs.AuditPasskeyRenamed, Subject: "sam.patel"}); n != 1 {
		t.Errorf("renamed entries = %d, want 1", n)
	}
}

// testPasskeyLockout releases failed passkey answers together: they lock
// the account at LockAfter, exactly once, and nothing signs in after.
func testPasskeyLockout(t *testing.T, cfg Config) {
	v := newEnv(t, cfg)
	ctx := t.Context()
	sam := v.passkeyEnrolled("sam.patel")
	v.passwordStep("sam.patel", "burst")
	const lockAfter = 5
	var wg sync.WaitGroup
	results := make([]cqrs.SignInResult, 16)
	start := make(chan struct{})
	for i := range results {
		wg.Go(func() {
			<-start
			a := cqrs.PasskeyAttempt{PendingHash: hash("burst"), Kind: cqrs.PasskeyKindUse, Passkey: cqrs.Passkey{ID: []byte("pk:sam.patel")},
				SessionHash: hash("burst:" + string(rune('a'+i))), LockAfter: lockAfter,
				LockNotice: func(u cqrs.User, expires time.Time) (cqrs.Email, []byte) {
					return cqrs.Email{Kind: "lockout", Subject: "locked", Text: "locked"}, hash("unlock")
				}, LinkTTL: time.Hour}
			var err error
			if results[i], err = v.e.PasskeySignIn(ctx, a); err != nil {
				t.Error(err)
			}
		})
	}
	close(start)
	wg.Wait()
	locked := 0
	for _, r := range results {
		if r.SignedIn {
			t.Error("a failed passkey answer signed in")
		}
		if r.LockedNow {
			locked++
		}
	}
	u, _ := v.e.User(ctx, sam.ID)
	if locked != 1 || u.LockedAt.IsZero() || u.FailedSignIns != lockAfter {
		t.Errorf("locked by %d answers; account locked %v with %d failures; want once, at %d", locked, u.LockedAt, u.FailedSignIns, lockAfter)
	}
	if n := v.count(cqrs.AuditFilter{Type: cqrs.AuditPasskeyFailed, Subject: "sam.patel"}); n != lockAfter {
		t.Errorf("failed entries = %d, want %d", n, lockAfter)
	}
	right := cqrs.PasskeyAttempt{PendingHash: hash("burst"), Kind: cqrs.PasskeyKindUse, Verified: true, Passkey: cqrs.Passkey{ID: []byte("pk:sam.patel")},
		SessionHash: hash("after"), LockAfter: lockAfter}
	if res, err := v.e.PasskeySignIn(ctx, right); err != nil || res.SignedIn {
		t.Errorf("a verified passkey on a locked account: %+v, %v", res, err)
	}
}

// testPasskeyAlone: a passkey without the password (the Login page's
// "Sign in with a passkey") signs its owner in, replacing the browser's
// session; another person's passkey, an unverified answer or a locked
// account do not, and failures count as wrong passwords do.
func testPasskeyAlone(t *testing.T, cfg Config) {
	v := newEnv(t, cfg)
	ctx := t.Context()
	sam := v.passkeyEnrolled("sam.patel")
	lee := v.passkeyEnrolled("lee.wong")
	kim := v.active("kim.lee")
	alone := func(u cqrs.User, id string, verified bool, session string) cqrs.SignInResult {
		t.Helper()
		res, err := v.e.PasskeySignIn(ctx, cqrs.PasskeyAttempt{Kind: cqrs.PasskeyKindSignIn, UserID: u.ID, Verified: verified,
			Passkey: cqrs.Passkey{ID: []byte(id), Credential: []byte("moved on")}, SessionHash: hash(session), ReplacedSession: hash("pk-session:" + u.UserID), LockAfter: 3})
		if err != nil {
			t.Fatal(err)
		}
		return res
	}
	if res := alone(sam, "pk:sam.patel", true, "alone"); !res.SignedIn {
		t.Fatalf("sam's passkey alone: %+v", res)
	}
	if _, u, err := v.e.Session(ctx, hash("alone"), time.Hour, 12*time.Hour); err != nil || u.ID != sam.ID {
		t.Errorf("the session: %v", err)
	}
	if _, _, err := v.e.Session(ctx, hash("pk-session:sam.patel"), time.Hour, 12*time.Hour); err == nil {
		t.Error("the replaced session still works")
	}
	if keys, _ := v.e.Passkeys(ctx, sam.ID); string(keys[0].Credential) != "moved on" {
		t.Errorf("the passkey after use: %+v", keys[0])
	}
	if res := alone(sam, "pk:lee.wong", true, "x1"); res.SignedIn {
		t.Error("lee's passkey signed sam in")
	}
	if res := alone(kim, "pk:sam.patel", true, "x2"); res.SignedIn {
		t.Error("sam's passkey signed kim in")
	}
	if res := alone(sam, "pk:sam.patel", false, "x3"); res.SignedIn {
		t.Error("an unverified answer signed in")
	}
	res := alone(sam, "pk:sam.patel", false, "x4")
	if !res.LockedNow {
		t.Errorf("the third failure in a row: %+v, want locked", res)
	}
	if res := alone(sam, "pk:sam.patel", true, "x5"); res.SignedIn {
		t.Error("a locked account signed in with its passkey")
	}
	if keys, _ := v.e.Passkeys(ctx, lee.ID); string(keys[0].Credential) != "credential 0" {
		t.Errorf("lee's passkey changed: %+v", keys[0])
	}
	if n := v.count(cqrs.AuditFilter{Type: cqrs.AuditPasskeyFailed, Subject: "sam.patel"}); n != 3 {
		t.Errorf("sam's failed entries = %d, want 3", n)
	}
	if _, err := v.e.PasskeySignIn(ctx, cqrs.PasskeyAttempt{Kind: cqrs.PasskeyKindSignIn, UserID: 999999, Verified: true}); !errors.Is(err, cqrs.ErrNotFound) {
		t.Errorf("nobody's passkey: %v, want not found", err)
	}
}
