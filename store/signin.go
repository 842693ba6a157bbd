package store

import (
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/cqrs-local/cqrs-signin/cqrs"
)

// LegacySignIn takes the decision for a checked attempt in one
// transaction: it re-reads the account, its failure count and its lock,
// and then either creates the session or records the failure (locking the
// account, with its unlock email, when the count reaches LockAfter). Since
// bbolt runs one write transaction at a time, a burst of attempts cannot
// outrun the lock: each sees every failure recorded before it. A locked
// account refuses every attempt, whatever the password, and the answer
// does not say so (the owner has been emailed). An unknown User ID costs
// the same write, the audit entry.
func (s *Store) LegacySignIn(a cqrs.SignInAttempt) (cqrs.SignInResult, error) {
	var res cqrs.SignInResult
	err := s.db.Update(func(tx *bolt.Tx) error {
		res = cqrs.SignInResult{}
		now := s.now()
		event := cqrs.AuditEvent{Type: cqrs.AuditSignInFailed, Subject: a.UserID, IP: a.IP, Method: a.Method,
			Detail: "User ID or password incorrect, or account not active"}
		id := tx.Bucket(bucketUsersByID).Get(foldKey(a.UserID))
		if id == nil {
			return appendAudit(tx, &event, now)
		}
		u, err := getUser(tx, bytesToID(id))
		if err != nil {
			return err
		}
		res.User = u
		event.Subject, event.OrgID = u.UserID, u.OrgID
		switch {
		case u.Status == cqrs.StatusActive && !u.LockedAt.IsZero():
			event.Type, event.Detail = cqrs.AuditSignInLocked, "account locked: refused whatever the password"
			return appendAudit(tx, &event, now)
		case a.PasswordOK && u.Status == cqrs.StatusActive && u.PasswordHash == a.CheckedHash && u.PasswordHash != "":
			res.SignedIn = true
			event.Type, event.Actor, event.Detail = cqrs.AuditSignIn, u.UserID, ""
			if err := appendAudit(tx, &event, now); err != nil {
				return err
			}
			res.User, err = signIn(tx, u, a.SessionHash, a.ReplacedSession, now)
			return err
		}
		u.FailedSignIns++
		if a.LockAfter > 0 && u.FailedSignIns >= a.LockAfter && u.Status == cqrs.StatusActive {
			u.LockedAt = u.Clock(now)
			res.LockedNow = true
		}
		if err := putUser(tx, u); err != nil {
			return err
		}
		res.User = u
		if err := appendAudit(tx, &event, now); err != nil {
			return err
		}
		if !res.LockedNow {
			return nil
		}
		lock := cqrs.AuditEvent{Type: cqrs.AuditLockout, Subject: u.UserID, OrgID: u.OrgID, IP: a.IP, Method: a.Method,
			Detail: fmt.Sprintf("locked after %d failed sign-ins", a.LockAfter)}
		if a.LockNotice == nil {
			return appendAudit(tx, &lock, now)
		}
		lock.Detail += "; unlock email queued to the owner"
		if err := appendAudit(tx, &lock, now); err != nil {
			return err
		}
		// The unlock link runs on the owner's own clock, as its use is checked.
		expires := u.Clock(now).Add(a.LinkTTL)
		email, linkHash := a.LockNotice(u, expires)
		if err := putLink(tx, linkHash, cqrs.Link{UserID: u.ID, Purpose: cqrs.LinkReset, Created: u.Clock(now), Expires: expires}); err != nil {
			return err
		}
		return notifyOwner(tx, u, &email, now)
	})
	if err != nil {
		return cqrs.SignInResult{}, fmt.Errorf("store: legacy sign-in: %w", err)
	}
	return res, nil
}

// SignedIn records a successful sign-in for the user: the failure count is
// reset, the new session stored, and on the very first sign-in a welcome
// message is left in the message centre, all in one transaction.
func (s *Store) SignedIn(userID uint64, sessionHash, replacedSession []byte, events ...cqrs.AuditEvent) (cqrs.User, error) {
	var u cqrs.User
	err := s.db.Update(func(tx *bolt.Tx) error {
		var err error
		if u, err = getUser(tx, userID); err != nil {
			return err
		}
		now := s.now()
		if u, err = signIn(tx, u, sessionHash, replacedSession, now); err != nil {
			return err
		}
		return recordEvents(tx, events, u, now)
	})
	if err != nil {
		return cqrs.User{}, fmt.Errorf("store: signed in: %w", err)
	}
	return u, nil
}

// signIn resets u's failure count, stores the new session (ending the one
// it replaces) and welcomes a first sign-in, inside tx.
func signIn(tx *bolt.Tx, u cqrs.User, sessionHash, replacedSession []byte, now time.Time) (cqrs.User, error) {
	first := u.LastSignIn.IsZero()
	u.FailedSignIns = 0
	u.LastSignIn = now
	if err := putUser(tx, u); err != nil {
		return cqrs.User{}, err
	}
	sessions := tx.Bucket(bucketSessions)
	if replacedSession != nil {
		if err := sessions.Delete(replacedSession); err != nil {
			return cqrs.User{}, err
		}
	}
	if err := putJSON(sessions, sessionHash, cqrs.Session{UserID: u.ID, Created: now, LastSeen: now}); err != nil {
		return cqrs.User{}, err
	}
	if first {
		err := addMessage(tx, cqrs.Message{UserID: u.ID, From: "CQRS", Subject: cqrs.WelcomeSubject, Sent: now,
			Body: "Welcome, " + u.FirstName + ". Your CQRS account is ready. This is your message centre: messages from CQRS and from your User Administrator appear here, newest first."})
		if err != nil {
			return cqrs.User{}, err
		}
	}
	return u, nil
}

// ChangePassword stores a new hash for the user (moving the current one into
// the history), ends their other sessions, keeping keepSession, and queues
// notify (when not nil) to the owner, in one transaction.
func (s *Store) ChangePassword(userID uint64, newHash string, keepSession []byte, notify *cqrs.Email, events ...cqrs.AuditEvent) (cqrs.User, error) {
	var u cqrs.User
	err := s.db.Update(func(tx *bolt.Tx) error {
		var err error
		if u, err = getUser(tx, userID); err != nil {
			return err
		}
		now := s.now()
		if err := setPassword(tx, &u, newHash, u.Clock(now)); err != nil {
			return err
		}
		if err := putUser(tx, u); err != nil {
			return err
		}
		if err := deleteUserSessions(tx, u.ID, keepSession); err != nil {
			return err
		}
		if err := notifyOwner(tx, u, notify, now); err != nil {
			return err
		}
		return recordEvents(tx, events, u, now)
	})
	if err != nil {
		return cqrs.User{}, fmt.Errorf("store: change password: %w", err)
	}
	return u, nil
}

// notifyOwner queues e (when not nil) to u's own address inside tx, so the
// change it reports and the email commit together.
func notifyOwner(tx *bolt.Tx, u cqrs.User, e *cqrs.Email, now time.Time) error {
	if e == nil {
		return nil
	}
	e.UserID, e.OrgID, e.To, e.ToName = u.ID, u.OrgID, u.Email, u.FullName()
	return enqueueEmail(tx, e, now)
}
