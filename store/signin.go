package store

import (
	"fmt"

	bolt "go.etcd.io/bbolt"
)

// RecordSignInFailure counts a failed sign-in against the account with that
// User ID, locking it when the count reaches lockAfter (0: never), and
// appends the audit event, in one transaction. It reports whether this
// failure locked the account. An unknown User ID costs the same write, so
// the time taken does not tell which IDs exist.
func (s *Store) RecordSignInFailure(userID string, lockAfter int, event AuditEvent) (lockedNow bool, err error) {
	err = s.db.Update(func(tx *bolt.Tx) error {
		now := s.now()
		if id := tx.Bucket(bucketUsersByID).Get(foldKey(userID)); id != nil {
			u, err := getUser(tx, bytesToID(id))
			if err != nil {
				return err
			}
			u.FailedSignIns++
			event.OrgID = u.OrgID
			if lockAfter > 0 && u.FailedSignIns >= lockAfter && u.LockedAt.IsZero() && u.Status == StatusActive {
				u.LockedAt = now
				lockedNow = true
			}
			if err := putUser(tx, u); err != nil {
				return err
			}
		}
		if err := appendAudit(tx, &event, now); err != nil {
			return err
		}
		if lockedNow {
			lock := AuditEvent{Type: "lockout", Subject: event.Subject, OrgID: event.OrgID, IP: event.IP,
				Detail: fmt.Sprintf("locked after %d failed sign-ins", lockAfter)}
			return appendAudit(tx, &lock, now)
		}
		return nil
	})
	if err != nil {
		return false, fmt.Errorf("store: record sign-in failure: %w", err)
	}
	return lockedNow, nil
}

// WelcomeSubject is the first-sign-in message's subject.
const WelcomeSubject = "Welcome to CQRS"

// SignedIn records a successful sign-in for the user: the failure count is
// reset, the new session stored, and on the very first sign-in a welcome
// message is left in the message centre, all in one transaction.
func (s *Store) SignedIn(userID uint64, sessionHash, replacedSession []byte) (User, error) {
	now := s.now()
	var u User
	err := s.db.Update(func(tx *bolt.Tx) error {
		var err error
		if u, err = getUser(tx, userID); err != nil {
			return err
		}
		first := u.LastSignIn.IsZero()
		u.FailedSignIns = 0
		u.LastSignIn = now
		if err := putUser(tx, u); err != nil {
			return err
		}
		sessions := tx.Bucket(bucketSessions)
		if replacedSession != nil {
			if err := sessions.Delete(replacedSession); err != nil {
				return err
			}
		}
		if err := putJSON(sessions, sessionHash, Session{UserID: u.ID, Created: now, LastSeen: now}); err != nil {
			return err
		}
		if first {
			return addMessage(tx, Message{UserID: u.ID, From: "CQRS", Subject: WelcomeSubject, Sent: now,
				Body: "Welcome, " + u.FirstName + ". Your CQRS account is ready. This is your message centre: messages from CQRS and from your User Administrator appear here, newest first."})
		}
		return nil
	})
	if err != nil {
		return User{}, fmt.Errorf("store: signed in: %w", err)
	}
	return u, nil
}

// ChangePassword stores a new hash for the user (moving the current one into
// the history) and ends their other sessions, keeping keepSession.
func (s *Store) ChangePassword(userID uint64, newHash string, keepSession []byte) (User, error) {
	var u User
	err := s.db.Update(func(tx *bolt.Tx) error {
		var err error
		if u, err = getUser(tx, userID); err != nil {
			return err
		}
		if err := setPassword(tx, &u, newHash, s.now()); err != nil {
			return err
		}
		if err := putUser(tx, u); err != nil {
			return err
		}
		return deleteUserSessions(tx, u.ID, keepSession)
	})
	if err != nil {
		return User{}, fmt.Errorf("store: change password: %w", err)
	}
	return u, nil
}
