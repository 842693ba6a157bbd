package cqrs

import "time"

// SystemAdminLink decides the one-time link that lets the first system
// administrator (the one the set-up page made, the oldest) choose a
// password, so a new installation can always be finished: a registration
// link while no system administrator has a password, and, when reset is
// true (the recovery command on the computer that holds the data), an
// Unlock Account or Forgotten Password link once one has. It is
// ErrNotFound when there is no system administrator (set-up not begun) and
// ErrConflict when a system administrator has a password and reset is
// false (set-up finished). users may hold anyone; only system
// administrators count. reinvited: a registration link renewed the
// administrator's invitation, and admin is to be kept.
func SystemAdminLink(users []User, now time.Time, registerTTL, resetTTL time.Duration, reset bool) (admin User, link Link, reinvited bool, err error) {
	var first User
	found, registered := false, false
	for _, u := range users {
		if u.Role != RoleSystemAdmin {
			continue
		}
		registered = registered || u.PasswordHash != ""
		if !found || u.ID < first.ID {
			first, found = u, true
		}
	}
	switch {
	case !found:
		return User{}, Link{}, false, ErrNotFound
	case registered && !reset:
		return User{}, Link{}, false, ErrConflict
	}
	purpose, ttl := LinkRegister, registerTTL
	if first.PasswordHash != "" {
		purpose, ttl = LinkReset, resetTTL
	}
	link, reinvited, err = first.NewLink(purpose, now, ttl)
	return first, link, reinvited, err
}
