package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/cqrs-local/cqrs-signin/cqrs"
)

// LegacySignIn takes the decision for a checked attempt in one
// transaction. The account's row is locked first, so attempts from every
// instance queue on it: each sees every failure recorded before it, and
// the account locks exactly once, at LockAfter.
func (s *Store) LegacySignIn(a cqrs.SignInAttempt) (cqrs.SignInResult, error) {
	var res cqrs.SignInResult
	err := s.inTx(func(tx pgx.Tx) error {
		res = cqrs.SignInResult{}
		now := s.now()
		event := cqrs.AuditEvent{Time: now, Type: cqrs.AuditSignInFailed, Subject: a.UserID, IP: a.IP, Method: a.Method,
			Detail: "User ID or password incorrect, or account not active"}
		u, err := getUser(tx, `lower(user_id) = lower($1) FOR UPDATE`, a.UserID)
		if err == cqrs.ErrNotFound {
			return appendAudit(tx, event)
		} else if err != nil {
			return err
		}
		res.User = u
		event.Subject, event.OrgID = u.UserID, u.OrgID
		switch {
		case u.Status == cqrs.StatusActive && !u.LockedAt.IsZero():
			event.Type, event.Detail = cqrs.AuditSignInLocked, "account locked: refused whatever the password"
			return appendAudit(tx, event)
		case a.PasswordOK && u.Status == cqrs.StatusActive && u.PasswordHash == a.CheckedHash && u.PasswordHash != "":
			res.SignedIn = true
			event.Type, event.Actor, event.Detail = cqrs.AuditSignIn, u.UserID, ""
			if err := appendAudit(tx, event); err != nil {
				return err
			}
			res.User, err = signIn(tx, u, a.SessionHash, a.ReplacedSession, now)
			return err
		}
		u.FailedSignIns++
		if a.LockAfter > 0 && u.FailedSignIns >= a.LockAfter && u.Status == cqrs.StatusActive {
			u.LockedAt = now
			res.LockedNow = true
		}
		if err := putUser(tx, u); err != nil {
			return err
		}
		res.User = u
		if err := appendAudit(tx, event); err != nil {
			return err
		}
		if !res.LockedNow {
			return nil
		}
		lock := cqrs.AuditEvent{Time: now, Type: cqrs.AuditLockout, Subject: u.UserID, OrgID: u.OrgID, IP: a.IP, Method: a.Method,
			Detail: fmt.Sprintf("locked after %d failed sign-ins", a.LockAfter)}
		if a.LockNotice == nil {
			return appendAudit(tx, lock)
		}
		lock.Detail += "; unlock email queued to the owner"
		if err := appendAudit(tx, lock); err != nil {
			return err
		}
		expires := now.Add(a.LinkTTL)
		email, linkHash := a.LockNotice(u, expires)
		if err := putLink(tx, linkHash, cqrs.Link{UserID: u.ID, Purpose: cqrs.LinkReset, Created: now, Expires: expires}); err != nil {
			return err
		}
		return notifyOwner(tx, u, &email, now)
	})
	if err != nil {
		return cqrs.SignInResult{}, fmt.Errorf("postgres: legacy sign-in: %w", err)
	}
	return res, nil
}

// SignedIn records a successful sign-in: the failure count is reset, the
// new session stored and, on the very first sign-in, a welcome message
// left in the message centre.
func (s *Store) SignedIn(userID uint64, sessionHash, replacedSession []byte, events ...cqrs.AuditEvent) (cqrs.User, error) {
	var u cqrs.User
	err := s.inTx(func(tx pgx.Tx) error {
		var err error
		if u, err = lockUser(tx, userID); err != nil {
			return err
		}
		now := s.now()
		if u, err = signIn(tx, u, sessionHash, replacedSession, now); err != nil {
			return err
		}
		return recordEvents(tx, events, u, now)
	})
	if err != nil {
		return cqrs.User{}, fmt.Errorf("postgres: signed in: %w", err)
	}
	return u, nil
}

func signIn(tx pgx.Tx, u cqrs.User, sessionHash, replacedSession []byte, now time.Time) (cqrs.User, error) {
	first := u.LastSignIn.IsZero()
	u.FailedSignIns, u.LastSignIn = 0, now
	if err := putUser(tx, u); err != nil {
		return cqrs.User{}, err
	}
	ctx := context.Background()
	if replacedSession != nil {
		if _, err := tx.Exec(ctx, `DELETE FROM sessions WHERE hash = $1`, replacedSession); err != nil {
			return cqrs.User{}, err
		}
	}
	if _, err := tx.Exec(ctx, `INSERT INTO sessions (hash, user_id, created, last_seen) VALUES ($1, $2, $3, $3)`, sessionHash, int64(u.ID), now); err != nil {
		return cqrs.User{}, notFound(err)
	}
	if first {
		_, err := tx.Exec(ctx, `INSERT INTO messages (user_id, sender, subject, body, sent, read) VALUES ($1, 'CQRS', $2, $3, $4, false)`,
			int64(u.ID), cqrs.WelcomeSubject, "Welcome, "+u.FirstName+". Your CQRS account is ready. This is your message centre: messages from CQRS and from your User Administrator appear here, newest first.", now)
		if err != nil {
			return cqrs.User{}, err
		}
	}
	return u, nil
}
