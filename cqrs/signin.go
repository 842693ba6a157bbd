package cqrs

import (
	"fmt"
	"time"
)

// SignInAttempt is one legacy sign-in whose password has been checked,
// waiting for the decision.
type SignInAttempt struct {
	UserID string // as typed
	// CheckedHash is the stored hash the password was checked against and
	// PasswordOK the result. A hash changed meanwhile (a reset) makes the
	// check stale, and the attempt fails.
	CheckedHash string
	PasswordOK  bool
	// LockAfter consecutive failures lock the account (0: never).
	LockAfter int
	// SessionHash is the new session's token hash; ReplacedSession the
	// browser's old session, ended when this one starts.
	SessionHash, ReplacedSession []byte
	// IP and Method are recorded on the audit entries.
	IP, Method string
	// LockNotice composes the email that tells the owner their account is
	// locked, carrying an unlock link that expires at expires; its token's
	// hash is returned beside it. It is called inside the transaction, and
	// only by the failure that locks the account.
	LockNotice func(u User, expires time.Time) (email Email, linkHash []byte)
	LinkTTL    time.Duration
	// SecondFactor is the site's setting: a right password for an account
	// it covers starts a pending sign-in under SessionHash instead of the
	// session, and the failure count stands until the second factor.
	SecondFactor SecondFactorPolicy
}

// SignInResult is what was decided.
type SignInResult struct {
	User      User // the account as decided; zero when the User ID is unknown
	SignedIn  bool // the session was created
	LockedNow bool // this failure locked the account and queued its owner's email
	// SecondFactorDue: the password was right, and a pending sign-in waits
	// for the second factor (no session yet).
	SecondFactorDue bool
}

// SignInDecision is the sign-in rules applied to a checked attempt and the
// account as the deciding transaction read it. The engine stores it: the
// attempt's audit entry always; then the session (SignIn), or the counted
// failure (Counted) with, when LockedNow, the lockout's entry and the
// owner's unlock email (UnlockLink).
type SignInDecision struct {
	Event     AuditEvent // the attempt's audit entry
	SignIn    bool       // the password is right for an active, unlocked account
	Counted   bool       // a failure was counted on User
	User      User       // the account, with the failure counted and the lock set; zero when unknown
	LockedNow bool       // this failure locked the account
	Lock      AuditEvent // the lockout's audit entry, when LockedNow
	// SecondFactorDue: SignIn, but what starts is a pending sign-in.
	SecondFactorDue bool
}

// Decide applies the sign-in rules; u is the account, nil when the User ID
// is unknown, and now the app's time. A locked account refuses every
// attempt, whatever the password. The password counts only if it was
// checked against the hash stored now (a reset meanwhile makes the check
// stale). Any other attempt on an account counts a failure, and the
// LockAfter-th in a row locks an active account.
func (a SignInAttempt) Decide(u *User, now time.Time) SignInDecision {
	d := SignInDecision{Event: AuditEvent{Time: now, Type: AuditSignInFailed, Subject: a.UserID, IP: a.IP, Method: a.Method,
		Detail: "User ID or password incorrect, or account not active"}}
	if u == nil {
		return d
	}
	d.User = *u
	d.Event.Subject, d.Event.OrgID = u.UserID, u.OrgID
	switch {
	case u.Status == StatusActive && !u.LockedAt.IsZero():
		d.Event.Type, d.Event.Detail = AuditSignInLocked, "account locked: refused whatever the password"
		return d
	case a.PasswordOK && u.Status == StatusActive && u.PasswordHash == a.CheckedHash && u.PasswordHash != "":
		d.SignIn = true
		d.Event.Type, d.Event.Actor, d.Event.Detail = AuditSignIn, u.UserID, ""
		if a.SecondFactor.Covers(*u) {
			d.SecondFactorDue = true
			d.Event.Type, d.Event.Detail = AuditSecondFactorDue, "password accepted; second factor asked"
		}
		return d
	}
	d.Counted = true
	d.User.FailedSignIns++
	if a.LockAfter > 0 && d.User.FailedSignIns >= a.LockAfter && u.Status == StatusActive {
		d.User.LockedAt = u.Clock(now)
		d.LockedNow = true
		d.Lock = AuditEvent{Time: now, Type: AuditLockout, Subject: u.UserID, OrgID: u.OrgID, IP: a.IP, Method: a.Method,
			Detail: fmt.Sprintf("locked after %d failed sign-ins", a.LockAfter)}
		if a.LockNotice != nil {
			d.Lock.Detail += "; unlock email queued to the owner"
		}
	}
	return d
}

// UnlockLink is the lock notice for u: its email, its link's token hash
// and the link, which runs on the owner's own clock, as its use is checked.
// Only for a decision that LockedNow, with a LockNotice.
func (a SignInAttempt) UnlockLink(u User, now time.Time) (Email, []byte, Link) {
	expires := u.Clock(now).Add(a.LinkTTL)
	email, linkHash := a.LockNotice(u, expires)
	return email, linkHash, Link{UserID: u.ID, Purpose: LinkReset, Created: u.Clock(now), Expires: expires}
}

// WelcomeSubject is the first-sign-in message's subject.
const WelcomeSubject = "Welcome to CQRS"
