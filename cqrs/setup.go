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
// administrators count.
func SystemAdminLink(users []User, now time.Time, registerTTL, resetTTL time.Duration, reset bool) (User, Link, error) {
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
		return User{}, Link{}, ErrNotFound
	case registered && !reset:
		return User{}, Link{}, ErrConflict
	}
	at := first.Clock(now)
	if first.PasswordHash != "" {
		return first, Link{UserID: first.ID, Purpose: LinkReset, Created: at, Expires: at.Add(resetTTL)}, nil
	}
	first.InviteExpires, first.InviteRevoked = at.Add(registerTTL), false
	return first, Link{UserID: first.ID, Purpose: LinkRegister, Created: at, Expires: at.Add(registerTTL)}, nil
}
