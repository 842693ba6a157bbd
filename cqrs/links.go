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
