package cqrs

import (
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
}

// SignInResult is what was decided.
type SignInResult struct {
	User      User // the account as decided; zero when the User ID is unknown
	SignedIn  bool // the session was created
	LockedNow bool // this failure locked the account and queued its owner's email
}

// WelcomeSubject is the first-sign-in message's subject.
const WelcomeSubject = "Welcome to CQRS"
