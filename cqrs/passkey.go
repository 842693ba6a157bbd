package cqrs

import "time"

// Passkey audit events, written in the transaction of the change they
// record.
const (
	AuditPasskeyRegistered = "passkey-registered"
	AuditPasskeyUsed       = "passkey-used"
	AuditPasskeyFailed     = "passkey-failed"
	AuditPasskeyRenamed    = "passkey-renamed"
	AuditPasskeyRemoved    = "passkey-removed"
)

// PasskeyChallengeLifespan is how long a passkey ceremony may take, from
// the challenge given to the answer checked.
const PasskeyChallengeLifespan = 5 * time.Minute

// MaxPasskeys is how many passkeys one person may keep.
const MaxPasskeys = 10

// PasskeyNameMax is the longest name a passkey may have, in characters.
const PasskeyNameMax = 60

// Passkey is a WebAuthn credential a person registered as their second
// factor: its credential ID, its owner, the name they gave it, and the
// credential as the WebAuthn library keeps it (public key, signature
// count, flags), which the engines store without reading.
type Passkey struct {
	ID         []byte    `json:"id"`
	UserID     uint64    `json:"user_id"`
	Name       string    `json:"name"`
	Credential []byte    `json:"credential"`
	Added      time.Time `json:"added"`
	LastUsed   time.Time `json:"last_used,omitzero"`
}

// What a passkey challenge is for.
const (
	PasskeyRegister = "register" // adding a passkey from the account page
	PasskeyEnrol    = "enrol"    // a first passkey at the second step
	PasskeyAssert   = "assert"   // using a passkey at the second step
	PasskeyLogin    = "login"    // signing in with a passkey alone (no password)
)

// PasskeyChallenge is a ceremony begun and not yet answered: bound to the
// session or pending sign-in whose token hashes to Owner, for one Purpose
// (one at a time: a new one replaces it), used once and only before
// Expires. Session is the WebAuthn library's ceremony state, which holds
// the challenge itself.
type PasskeyChallenge struct {
	Owner   []byte    `json:"owner"`
	Purpose string    `json:"purpose"`
	UserID  uint64    `json:"user_id"`
	Session []byte    `json:"session"`
	Expires time.Time `json:"expires"`
}

// Kinds of passkey answer at the second step.
const (
	PasskeyKindEnrol = "passkey-enrol" // a first passkey, made at the second step
	PasskeyKindUse   = "passkey"       // a registered passkey's signature
	// PasskeyKindSignIn is a passkey alone, from the Login page: a
	// discoverable credential, verified by its owner (PIN, fingerprint),
	// for the account its user handle names.
	PasskeyKindSignIn = "passkey-sign-in"
)

// PasskeyAttempt is one passkey answer to the second step, checked by the
// app (Verified: the signature, challenge, origin and relying party were
// right), waiting for the decision.
type PasskeyAttempt struct {
	// PendingHash is the sign-in waiting for its second step; for
	// PasskeyKindSignIn there is none, and UserID names the account (and
	// ReplacedSession the browser's session it replaces).
	PendingHash     []byte
	UserID          uint64
	ReplacedSession []byte
	Kind            string
	Verified        bool
	// Passkey is the credential the answer came from: the new one to keep
	// (enrol), or the registered one with its signature count moved on.
	Passkey Passkey
	// CloneWarning: the library saw the signature count go backwards, a
	// sign that the authenticator was copied; the answer is refused.
	CloneWarning bool
	// RecoveryCodes are the new codes' hashes, given at a first passkey.
	RecoveryCodes [][]byte
	SessionHash   []byte
	LockAfter     int
	IP            string
	LockNotice    func(u User, expires time.Time) (email Email, linkHash []byte)
	LinkTTL       time.Duration
}

// PasskeyDecision is what the engine stores for a passkey answer: on
// success the passkey to put (new, or its count and last use moved on),
// the factor to create (a first passkey's recovery codes) and Events; on
// failure the counted failure exactly as a wrong password's.
type PasskeyDecision struct {
	SignIn  bool
	Passkey Passkey
	Factor  *SecondFactor
	Events  []AuditEvent
	Failure SignInDecision
}

// Decide applies the second step's rules to a passkey answer and what the
// deciding transaction read: the pending sign-in (expiry checked by the
// caller), its account u, u's factor f (nil when none), the passkey stored
// under the answer's credential ID (nil when none, whoever owns it) and
// how many passkeys u has. A first passkey is taken only from someone with
// no second factor at all, so a password alone never adds a factor beside
// one already set up.
func (a PasskeyAttempt) Decide(u User, f *SecondFactor, stored *Passkey, owned int, now time.Time) PasskeyDecision {
	// typ is one of the Audit constants (the callers below name them).
	ev := func(typ, detail string) AuditEvent {
		e := AuditEvent{Time: now, Actor: u.UserID, Subject: u.UserID, OrgID: u.OrgID, IP: a.IP, Method: "legacy", Detail: detail}
		e.Type = typ
		return e
	}
	var d PasskeyDecision
	usable := u.Status == StatusActive && u.LockedAt.IsZero() && a.Verified && !a.CloneWarning
	switch {
	case !usable:
	case a.Kind == PasskeyKindEnrol && f == nil && owned == 0 && stored == nil && len(a.Passkey.ID) > 0:
		d.SignIn = true
		d.Passkey = a.Passkey
		d.Passkey.UserID, d.Passkey.Added, d.Passkey.LastUsed = u.ID, now, now
		d.Factor = &SecondFactor{UserID: u.ID, Enrolled: now, RecoveryCodes: a.RecoveryCodes}
		d.Events = []AuditEvent{ev(AuditPasskeyRegistered, "passkey “"+d.Passkey.Name+"” at sign-in"), ev(AuditSecondFactorEnrolled, "passkey")}
	case a.Kind == PasskeyKindUse && stored != nil && stored.UserID == u.ID:
		d.SignIn = true
		d.Passkey = *stored
		d.Passkey.Credential, d.Passkey.LastUsed = a.Passkey.Credential, now
		d.Events = []AuditEvent{ev(AuditPasskeyUsed, "passkey “"+stored.Name+"”")}
	case a.Kind == PasskeyKindSignIn && stored != nil && stored.UserID == u.ID && f != nil:
		d.SignIn = true
		d.Passkey = *stored
		d.Passkey.Credential, d.Passkey.LastUsed = a.Passkey.Credential, now
		d.Events = []AuditEvent{ev(AuditPasskeyUsed, "passkey “"+stored.Name+"”, without the password")}
	}
	method := "legacy"
	if a.Kind == PasskeyKindSignIn {
		method = "passkey"
	}
	if d.SignIn {
		d.Events = append(d.Events, ev(AuditSignIn, ""))
		for i := range d.Events {
			d.Events[i].Method = method
		}
		return d
	}
	fail := SignInAttempt{UserID: u.UserID, LockAfter: a.LockAfter, IP: a.IP, Method: method, LockNotice: a.LockNotice, LinkTTL: a.LinkTTL}
	d.Failure = fail.Decide(&u, now)
	if d.Failure.Event.Type == AuditSignInFailed {
		detail := "passkey not accepted"
		if a.CloneWarning {
			detail = "passkey refused: its signature count went backwards (the authenticator may have been copied)"
		}
		d.Failure.Event.Type, d.Failure.Event.Detail = AuditPasskeyFailed, detail
	}
	return d
}
