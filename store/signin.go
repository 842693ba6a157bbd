package store

import (
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"
)

// RecordSignInFailure counts a failed sign-in against the account with that
// User ID and returns the new count. An unknown User ID still costs a
// write transaction, so the time taken does not tell which IDs exist.
func (s *Store) RecordSignInFailure(userID string) (int, error) {
	count := 0
	err := s.db.Update(func(tx *bolt.Tx) error {
		id := tx.Bucket(bucketUsersByID).Get(foldKey(userID))
		if id == nil {
			return tx.Bucket(bucketMeta).Put([]byte("last-failure"), []byte(s.now().Format(time.RFC3339Nano)))
		}
		u, err := getUser(tx, bytesToID(id))
		if err != nil {
			return err
		}
		u.FailedSignIns++
		count = u.FailedSignIns
		return putUser(tx, u)
	})
	if err != nil {
		return 0, fmt.Errorf("store: record sign-in failure: %w", err)
	}
	return count, nil
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
		u.setPassword(newHash, s.now())
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
