package cqrs

import (
	"strings"
	"time"
)

// NHSmailAccount is an account in the simulated NHSmail directory.
type NHSmailAccount struct {
	ID           uint64 `json:"id"`
	Email        string `json:"email"` // unique ignoring case
	FirstName    string `json:"first_name"`
	LastName     string `json:"last_name"`
	PasswordHash string `json:"password_hash,omitempty"`
	// Disabled accounts cannot sign in and are answered like a wrong password.
	Disabled bool `json:"disabled"`
	// Locked accounts are told to use "Unlock Account or Forgotten Password".
	Locked bool `json:"locked"`
	// ConsentRequired makes the provider ask before it signs the user in to
	// CQRS, as a tenant that has not pre-approved the app would.
	ConsentRequired bool `json:"consent_required"`
	// MFAMethod is the account's second step after the password: "" (none,
	// the documents' journey), MFAAuthenticator or MFAText.
	MFAMethod string `json:"mfa_method,omitempty"`
	// TenantID and ObjectID are Entra ID's tid and oid: the directory and
	// the account's stable subject, which never changes with the email.
	TenantID string    `json:"tenant_id"`
	ObjectID string    `json:"object_id"`
	Created  time.Time `json:"created"`
}

// The NHSmail simulator's multi-factor methods, as NHSmail offers them.
const (
	MFANone          = ""
	MFAAuthenticator = "authenticator" // Microsoft Authenticator push with number matching
	MFAText          = "text"          // a six-digit code by text message
)

// The trainer's controls of a learner's NHSmail second step: each makes
// the account's next sign-in with a password go one way, once, as NHSmail
// goes wrong for people today.
const (
	// MFADrillTimeout: the next prompt never reaches the phone, so it times out.
	MFADrillTimeout = "timeout"
	// MFADrillDeny: the next prompt is denied on the phone.
	MFADrillDeny = "deny"
	// MFADrillPhoneChanged: the account must set up Microsoft Authenticator
	// again ("More information required") before it can sign in.
	MFADrillPhoneChanged = "phone-changed"
)

// ValidMFADrill reports whether drill is one of the trainer's controls.
func ValidMFADrill(drill string) bool {
	return drill == MFADrillTimeout || drill == MFADrillDeny || drill == MFADrillPhoneChanged
}

// MFAMethodName is how a method is named on screen.
func MFAMethodName(method string) string {
	switch method {
	case MFAAuthenticator:
		return "Microsoft Authenticator"
	case MFAText:
		return "Text message"
	}
	return "None"
}

// ValidMFAMethod reports whether method is one the simulator offers.
func ValidMFAMethod(method string) bool {
	return method == MFANone || method == MFAAuthenticator || method == MFAText
}

// FullName is the account's display name.
func (a NHSmailAccount) FullName() string {
	return strings.TrimSpace(a.FirstName + " " + a.LastName)
}

// NHSmailApplication is a relying party the system administrator has
// registered with the NHSmail simulator, besides CQRS itself: a developer's
// own app that signs in against a local NHSmail.
type NHSmailApplication struct {
	ClientID string `json:"client_id"` // a GUID, as Entra ID's application IDs
	Name     string `json:"name"`
	// SecretHash is the SHA-256 of a confidential client's secret, which is
	// shown once and never stored; empty for a public client (PKCE only).
	SecretHash   []byte    `json:"secret_hash,omitempty"`
	RedirectURIs []string  `json:"redirect_uris"`
	Created      time.Time `json:"created"`
}

// Public reports whether the application has no secret.
func (a NHSmailApplication) Public() bool { return len(a.SecretHash) == 0 }

// NHSmailSessionOver says whether a browser's sign-in to the simulator,
// kept until expires, has ended at now: at its expiry it has.
func NHSmailSessionOver(expires, now time.Time) bool { return !now.Before(expires) }

// NHSmailStateTx reads and writes the NHSmail simulator's state (its
// authorisation requests, codes and tokens) inside one transaction, so
// that, for example, spending a code and revoking what an earlier use of
// it issued happen together.
type NHSmailStateTx interface {
	// Get decodes the value of kind/key into v. A missing or expired value
	// is ErrNotFound: expired ones are as good as gone.
	Get(kind string, key []byte, v any) error
	// Put stores v under kind/key until expires.
	Put(kind string, key []byte, v any, expires time.Time) error
	// Delete removes kind/key; a missing one is not an error.
	Delete(kind string, key []byte) error
	// Now is the store's clock, read once for the transaction.
	Now() time.Time
}

// NHSmailAccessTokens is the state kind the simulator keeps its access
// tokens under. Each value's JSON carries at least NHSmailTokenOwner's
// fields, so the store can delete a removed application's tokens, and an
// account's when its password changes or it is disabled, in the
// transaction of that change.
const NHSmailAccessTokens = "access-token"

// NHSmailTokenOwner is whom an access token was issued to.
type NHSmailTokenOwner struct {
	ClientID  string `json:"client_id"`
	AccountID uint64 `json:"account_id"`
}
