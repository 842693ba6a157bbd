package cqrs

import (
	"strings"
	"time"
)

// Role is what a user may do.
type Role string

// Roles, from most to least powerful.
const (
	RoleSystemAdmin Role = "system-admin" // the first-run account; manages everything
	RoleUserAdmin   Role = "user-admin"   // manages the users of their own organisation
	RoleUser        Role = "user"
)

// Status is where an account is in its life.
type Status string

// Account statuses.
const (
	StatusInvited  Status = "invited" // set up, password not chosen yet
	StatusActive   Status = "active"
	StatusDisabled Status = "disabled"
)

// Organisation is a practice or body whose users CQRS serves.
type Organisation struct {
	ID      uint64 `json:"id"`
	Name    string `json:"name"`
	ODSCode string `json:"ods_code"`
}

// User is a CQRS account. It holds no slices, maps or pointers: decoded
// copies are shared through the store's cache, so they must be plain values.
type User struct {
	ID        uint64 `json:"id"`
	UserID    string `json:"user_id"` // as the administrator typed it; unique ignoring case
	FirstName string `json:"first_name"`
	LastName  string `json:"last_name"`
	Email     string `json:"email"` // unique ignoring case
	WorkPhone string `json:"work_phone"`
	OrgID     uint64 `json:"org_id"`
	Role      Role   `json:"role"`
	Status    Status `json:"status"`

	PasswordHash string `json:"password_hash,omitempty"`
	// The previous hashes are kept apart (PasswordHistory), so the record
	// every signed-in page reads stays small.
	PasswordChanged time.Time `json:"password_changed"`
	FailedSignIns   int       `json:"failed_sign_ins"`
	LockedAt        time.Time `json:"locked_at"`
	LastSignIn      time.Time `json:"last_sign_in"`
	// InviteExpires is when the newest registration link stops working;
	// InviteRevoked is set when an administrator withdrew it.
	InviteExpires time.Time `json:"invite_expires"`
	InviteRevoked bool      `json:"invite_revoked"`
	// SSOSubject is the single sign-on provider's stable subject linked to
	// this account ("issuer|sub" or "issuer|tid:oid"), after its first use.
	SSOSubject string    `json:"sso_subject,omitempty"`
	Created    time.Time `json:"created"`
	// ClockOffset is a training learner's own clock, ahead of the class's:
	// the trainer moves one learner on (+72 hours) without moving the room.
	ClockOffset time.Duration `json:"clock_offset,omitempty"`
}

// Clock is the user's own time when the shared clock reads now. The
// 72-hour rule, link expiry and the lockout read it, and the times they
// compare (password changed, link expiry, locked at) are written in it.
func (u User) Clock(now time.Time) time.Time { return now.Add(u.ClockOffset) }

// SetStatus enables or disables the account. Enabling an account that
// never registered makes it invited again, not active. It says whether the
// change ends the account's sessions: disabling does, so nobody stays
// signed in to an account an administrator has shut.
func (u *User) SetStatus(status Status) (endSessions bool) {
	u.Status = status
	if status == StatusActive && u.PasswordHash == "" {
		u.Status = StatusInvited
	}
	return u.Status == StatusDisabled
}

// HistoryDepth is how many previous hashes are kept beside the current one.
const HistoryDepth = 8

// SetPassword makes newHash the password, changed at now (the user's own
// time), and returns the hash it replaces ("" at registration), for the
// history.
func (u *User) SetPassword(newHash string, now time.Time) (previous string) {
	previous = u.PasswordHash
	u.PasswordHash, u.PasswordChanged = newHash, now
	return previous
}

// NextPasswordHistory is history (newest first) once previous has been
// replaced: previous first, HistoryDepth at most. A registration replaces
// no password and leaves it as it is.
func NextPasswordHistory(history []string, previous string) []string {
	if previous == "" {
		return history
	}
	next := append([]string{previous}, history...)
	return next[:min(len(next), HistoryDepth)]
}

// Unlock clears a lockout and the count of failed sign-ins.
func (u *User) Unlock() { u.LockedAt, u.FailedSignIns = time.Time{}, 0 }

// Reinvite renews the invitation when its email is sent again: it lasts ttl
// from now and is no longer revoked. A registered user is ErrConflict: a
// reset link is what they need.
func (u *User) Reinvite(now time.Time, ttl time.Duration) error {
	if u.PasswordHash != "" {
		return ErrConflict
	}
	u.InviteExpires, u.InviteRevoked = now.Add(ttl), false
	return nil
}

// RevokeInvitation withdraws the invitation; its links are the engine's to
// delete. A registered user is ErrConflict.
func (u *User) RevokeInvitation() error {
	if u.PasswordHash != "" {
		return ErrConflict
	}
	u.InviteRevoked = true
	return nil
}

// Edited is what an edit obliges the store to do beyond keeping it.
type Edited struct {
	// EndSessions: the role or organisation changed, a change of privilege
	// that must not ride on a session from before it (OWASP).
	EndSessions bool
	// EmailChanged: the old address is told (when the caller asks).
	EmailChanged bool
}

// Edit takes from edited what an administrator may change: the names,
// the phone, the email, the role and the organisation; and says what the
// change obliges.
func (u *User) Edit(edited User) Edited {
	out := Edited{
		EndSessions:  u.Role != edited.Role || u.OrgID != edited.OrgID,
		EmailChanged: !strings.EqualFold(u.Email, edited.Email),
	}
	u.FirstName, u.LastName, u.WorkPhone, u.Email = edited.FirstName, edited.LastName, edited.WorkPhone, edited.Email
	u.Role, u.OrgID = edited.Role, edited.OrgID
	return out
}

// FullName is the user's first and last name.
func (u User) FullName() string { return strings.TrimSpace(u.FirstName + " " + u.LastName) }

// Display states an administrator filters by. Locked is a state of an
// active account, not a status of its own.
const (
	StateInvited  = "invited"
	StateActive   = "active"
	StateLocked   = "locked"
	StateDisabled = "disabled"
)

// State is the user's state as the administration list shows it.
func (u User) State() string {
	switch {
	case u.Status == StatusDisabled:
		return StateDisabled
	case !u.LockedAt.IsZero():
		return StateLocked
	case u.Status == StatusInvited:
		return StateInvited
	default:
		return StateActive
	}
}

// Invitation states.
const (
	InvitePending  = "pending"
	InviteAccepted = "accepted"
	InviteExpired  = "expired"
	InviteRevoked  = "revoked"
)

// Invitation is the state of the user's registration email's link at now.
func (u User) Invitation(now time.Time) string {
	switch {
	case u.PasswordHash != "":
		return InviteAccepted
	case u.InviteRevoked:
		return InviteRevoked
	case !now.Before(u.InviteExpires):
		return InviteExpired
	default:
		return InvitePending
	}
}

// UserFilter selects users for the administration list.
type UserFilter struct {
	OrgID  uint64 // 0: every organisation
	Query  string // matched, ignoring case, in User ID, name and email
	State  string // "" or one of the State* values
	Offset int
	Limit  int
}
