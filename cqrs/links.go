package cqrs

import (
	"time"
)

// LinkPurpose says what a single-use emailed link is for.
type LinkPurpose string

// Link purposes.
const (
	LinkRegister LinkPurpose = "register" // the registration email's link to Security Information
	LinkReset    LinkPurpose = "reset"    // unlock account or forgotten password
)

// Link is a single-use link, stored under the SHA-256 of its token so a
// copy of the database cannot be replayed as links.
type Link struct {
	UserID  uint64      `json:"user_id"`
	Purpose LinkPurpose `json:"purpose"`
	Created time.Time   `json:"created"`
	Expires time.Time   `json:"expires"`
	Used    time.Time   `json:"used"`
}

// Usable reports whether the link can still be used at now.
func (l Link) Usable(now time.Time) error {
	if !l.Used.IsZero() {
		return ErrNotFound
	}
	if !now.Before(l.Expires) {
		return ErrExpired
	}
	return nil
}

// EndsSessions says whether setting a password through a link of this
// purpose signs the user out everywhere: a reset does (whoever held a
// session may have known the old password); a registration has none.
func (p LinkPurpose) EndsSessions() bool { return p == LinkReset }

// NewLink is what sending u a new link for purpose decides: the link runs
// on the user's own clock (training moves it), as its use is checked, and
// lasts ttl; a registration link renews the invitation too (reinvited: u
// changed and is to be kept), which a registered user cannot have
// (ErrConflict).
func (u *User) NewLink(purpose LinkPurpose, now time.Time, ttl time.Duration) (link Link, reinvited bool, err error) {
	at := u.Clock(now)
	if purpose == LinkRegister {
		if err := u.Reinvite(at, ttl); err != nil {
			return Link{}, false, err
		}
		reinvited = true
	}
	return Link{UserID: u.ID, Purpose: purpose, Created: at, Expires: at.Add(ttl)}, reinvited, nil
}

// UseLink decides setting a password through an emailed link, for the
// engines to store: the link must be of purpose (ErrNotFound otherwise, as
// an unknown link) and usable at now, the user's own time; a disabled
// account is ErrConflict. It returns the link spent, and the user with the
// new password, active and unlocked; previous is the hash replaced, which
// joins the history.
func UseLink(l Link, u User, purpose LinkPurpose, newHash string, now time.Time) (spent Link, changed User, previous string, err error) {
	if l.Purpose != purpose {
		return Link{}, User{}, "", ErrNotFound
	}
	if err := l.Usable(now); err != nil {
		return Link{}, User{}, "", err
	}
	if u.Status == StatusDisabled {
		return Link{}, User{}, "", ErrConflict
	}
	l.Used = now
	previous = u.SetPassword(newHash, now)
	u.Status = StatusActive
	u.Unlock()
	return l, u, previous, nil
}
