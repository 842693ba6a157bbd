package cqrs

import (
	"bytes"
	"crypto/subtle"
	"fmt"
	"slices"
	"time"
)

// SecondFactorPolicy is the site's setting (--second-factor): who must
// give a second factor after the password at a legacy sign-in.
type SecondFactorPolicy string

// The settings. Off keeps the job aid's journey as the documents show it.
const (
	SecondFactorOff            SecondFactorPolicy = "off"
	SecondFactorAdministrators SecondFactorPolicy = "administrators"
	SecondFactorEveryone       SecondFactorPolicy = "everyone"
)

// ParseSecondFactorPolicy reads the setting; empty is off.
func ParseSecondFactorPolicy(s string) (SecondFactorPolicy, error) {
	switch p := SecondFactorPolicy(s); p {
	case "":
		return SecondFactorOff, nil
	case SecondFactorOff, SecondFactorAdministrators, SecondFactorEveryone:
		return p, nil
	}
	return "", fmt.Errorf("%q is not a second-factor setting: use off, administrators or everyone", s)
}

// Covers reports whether u must give a second factor at a legacy sign-in.
func (p SecondFactorPolicy) Covers(u User) bool {
	switch p {
	case SecondFactorEveryone:
		return true
	case SecondFactorAdministrators:
		return u.Role == RoleSystemAdmin || u.Role == RoleUserAdmin
	}
	return false
}

// Second-factor audit events, written in the transaction of the step they
// record.
const (
	AuditSecondFactorDue      = "second-factor-due"
	AuditSecondFactorEnrolled = "second-factor-enrolled"
	AuditSecondFactorUsed     = "second-factor-used"
	AuditSecondFactorFailed   = "second-factor-failed"
	AuditRecoveryCodeUsed     = "recovery-code-used"
	AuditRecoveryCodesNew     = "recovery-codes-replaced"
	AuditSecondFactorReset    = "second-factor-reset"
)

// PendingSignInLifespan is how long the second step waits after a right
// password; then the person starts again from the Login page.
const PendingSignInLifespan = 10 * time.Minute

// RecoveryCodeCount is how many recovery codes a person is given at a time;
// RecoveryCodesLow or fewer left and the account page warns.
const (
	RecoveryCodeCount = 10
	RecoveryCodesLow  = 3
)

// SecondFactor is a person's enrolled authenticator: the TOTP secret as the
// app sealed it (the engines never see it in clear; empty for someone who
// set up passkeys only), the last time step
// accepted (so a code is accepted once), and the SHA-256 hashes of the
// recovery codes not yet used.
type SecondFactor struct {
	UserID        uint64    `json:"user_id"`
	Sealed        []byte    `json:"sealed"`
	Enrolled      time.Time `json:"enrolled"`
	LastStep      int64     `json:"last_step"`
	RecoveryCodes [][]byte  `json:"recovery_codes"`
}

// PendingSignIn is a legacy sign-in whose password was right, waiting for
// its second factor, stored under the SHA-256 of its cookie's token.
// Enrolling is the sealed secret offered to a person not yet enrolled,
// kept so that a reload shows the same key.
type PendingSignIn struct {
	UserID          uint64    `json:"user_id"`
	Account         string    `json:"account"` // the User ID, which the authenticator app shows
	Created         time.Time `json:"created"`
	Expires         time.Time `json:"expires"`
	ReplacedSession []byte    `json:"replaced_session,omitempty"`
	Enrolling       []byte    `json:"enrolling,omitempty"`
}

// Kinds of second-factor answer.
const (
	SecondFactorEnrol    = "enrol"    // the first code from a new authenticator
	SecondFactorCode     = "code"     // a code from the enrolled authenticator
	SecondFactorRecovery = "recovery" // one of the recovery codes
)

// SecondFactorAttempt is one answer to the second step, checked by the app
// (which alone can open the secret), waiting for the decision.
type SecondFactorAttempt struct {
	PendingHash []byte
	Kind        string
	// CheckedSealed is the sealed secret the code was checked against and
	// Step the time step it matched (0: it matched none). A secret changed
	// meanwhile (a reset, another enrolment) makes the check stale.
	CheckedSealed []byte
	Step          int64
	// RecoveryHash is the SHA-256 of the recovery code given.
	RecoveryHash []byte
	// RecoveryCodes are the new codes' hashes, given at enrolment.
	RecoveryCodes [][]byte
	// SessionHash is the session to start on success.
	SessionHash []byte
	// As in SignInAttempt: failures count towards the same lockout.
	LockAfter  int
	IP         string
	LockNotice func(u User, expires time.Time) (email Email, linkHash []byte)
	LinkTTL    time.Duration
}

// SecondFactorDecision is what the engine stores for an attempt: on
// success the factor (new, or its step or codes moved on), the session and
// Events; on failure the counted failure exactly as a wrong password's
// (Failure), so one lockout holds both.
type SecondFactorDecision struct {
	SignIn  bool
	Factor  SecondFactor
	Events  []AuditEvent
	Failure SignInDecision
}

// Decide applies the second step's rules to an attempt and what the
// deciding transaction read: the pending sign-in p (whose expiry the
// caller has checked), its account u and u's factor f (nil when not
// enrolled). A code counts once: its step must be later than the last
// accepted. A locked or no longer active account refuses every answer.
func (a SecondFactorAttempt) Decide(p PendingSignIn, u User, f *SecondFactor, now time.Time) SecondFactorDecision {
	// typ is one of the Audit constants above (the callers below name them).
	ev := func(typ, detail string) AuditEvent {
		e := AuditEvent{Time: now, Actor: u.UserID, Subject: u.UserID, OrgID: u.OrgID, IP: a.IP, Method: "legacy", Detail: detail}
		e.Type = typ
		return e
	}
	var d SecondFactorDecision
	usable := u.Status == StatusActive && u.LockedAt.IsZero()
	switch {
	case !usable:
	case a.Kind == SecondFactorEnrol && f == nil && a.Step > 0 && len(p.Enrolling) > 0 && bytes.Equal(p.Enrolling, a.CheckedSealed):
		d.SignIn = true
		d.Factor = SecondFactor{UserID: u.ID, Sealed: p.Enrolling, Enrolled: now, LastStep: a.Step, RecoveryCodes: a.RecoveryCodes}
		d.Events = []AuditEvent{ev(AuditSecondFactorEnrolled, "authenticator app")}
	case a.Kind == SecondFactorCode && f != nil && len(f.Sealed) > 0 && a.Step > f.LastStep && bytes.Equal(f.Sealed, a.CheckedSealed):
		d.SignIn = true
		d.Factor = *f
		d.Factor.LastStep = a.Step
		d.Events = []AuditEvent{ev(AuditSecondFactorUsed, "authenticator app")}
	case a.Kind == SecondFactorRecovery && f != nil && len(a.RecoveryHash) == 32:
		i := slices.IndexFunc(f.RecoveryCodes, func(h []byte) bool { return subtle.ConstantTimeCompare(h, a.RecoveryHash) == 1 })
		if i < 0 {
			break
		}
		d.SignIn = true
		d.Factor = *f
		d.Factor.RecoveryCodes = slices.Delete(slices.Clone(f.RecoveryCodes), i, i+1)
		d.Events = []AuditEvent{ev(AuditRecoveryCodeUsed, fmt.Sprintf("%d recovery codes left", len(d.Factor.RecoveryCodes)))}
	}
	if d.SignIn {
		d.Events = append(d.Events, ev(AuditSignIn, ""))
		return d
	}
	// A wrong answer is a failed sign-in: the password rules count it,
	// lock at the same count and send the same email.
	fail := SignInAttempt{UserID: u.UserID, LockAfter: a.LockAfter, IP: a.IP, Method: "legacy", LockNotice: a.LockNotice, LinkTTL: a.LinkTTL}
	d.Failure = fail.Decide(&u, now)
	if d.Failure.Event.Type == AuditSignInFailed {
		d.Failure.Event.Type, d.Failure.Event.Detail = AuditSecondFactorFailed, "second factor ("+a.Kind+") not accepted"
	}
	return d
}

// SecondFactorStatus is what may be shown about a person's second factor:
// whether and when they enrolled, and how many recovery codes are left.
type SecondFactorStatus struct {
	Enrolled          time.Time
	RecoveryCodesLeft int
	// App: an authenticator app is set up (a person may have passkeys
	// only, see Passkey).
	App bool
}

// Status is f as it may be shown.
func (f SecondFactor) Status() SecondFactorStatus {
	return SecondFactorStatus{Enrolled: f.Enrolled, RecoveryCodesLeft: len(f.RecoveryCodes), App: len(f.Sealed) > 0}
}
