package handlers

import (
	"context"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/cqrs-local/cqrs-signin/cqrs"
	"github.com/cqrs-local/cqrs-signin/secret"
	"github.com/cqrs-local/cqrs-signin/views"
)

// saveUserEdit stores an administrator's edit of u. A change of role or
// organisation is a change of privilege: the store ends u's sessions in
// the same transaction, so every browser of theirs starts a new session
// (a new ID) under the new role, and an administrator editing their own
// account keeps this browser's session under a new ID. A change of email
// is told to the old address, in the same transaction, as a password
// change is told to the owner.
func (a *app) saveUserEdit(c *fiber.Ctx, admin, u, edited cqrs.User, events []cqrs.AuditEvent) error {
	own := u.ID == admin.ID
	var keep []byte
	if own {
		keep = currentSession(c)
	}
	var notifyOld *cqrs.Email
	if !strings.EqualFold(edited.Email, u.Email) {
		e := a.emailChangedEmail(c.UserContext(), u, admin, a.cfg.Now())
		notifyOld = &e
	}
	if _, err := a.userAdmin.EditUser(c.UserContext(), edited, keep, notifyOld, events...); err != nil {
		return err
	}
	if notifyOld != nil {
		a.wakeMailer()
	}
	if own && keep != nil && (edited.Role != u.Role || edited.OrgID != u.OrgID) {
		return a.rotateSession(c, keep)
	}
	return nil
}

// rotateSession gives this browser's session a new ID, keeping its start
// (the absolute timeout) and sign-in.
func (a *app) rotateSession(c *fiber.Ctx, old []byte) error {
	token := secret.NewToken()
	fresh := secret.HashToken(token)
	if err := a.sessions.RotateSession(c.UserContext(), old, fresh); err != nil {
		return err
	}
	a.activity.active(fresh, time.Time{}, a.cfg.Now(), a.cfg.SessionIdle)
	a.setSessionCookie(c, token)
	return nil
}

// emailChangedEmail tells a person, at the address they had, that an
// administrator changed their CQRS email address. It does not name the
// new address: the old mailbox may no longer be theirs alone.
func (a *app) emailChangedEmail(ctx context.Context, to, by cqrs.User, at time.Time) cqrs.Email {
	return a.composeEmail(ctx, "email-changed", to, "Your CQRS email address was changed", views.EmailModel{Before: []string{
		"The email address of your CQRS account (User ID " + to.UserID + ") was changed by " + by.FullName() + ", a CQRS User Administrator, on " + at.Format(timeFormat) + ". CQRS emails, including password reset links, now go to the new address.",
		notYou,
	}}, "")
}
