package store

import (
	"bytes"
	"context"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/cqrs-local/cqrs-signin/cqrs"
)

// CreateSession stores a new session for userID.
func (s *Store) CreateSession(ctx context.Context, hash []byte, userID uint64) error {
	now := s.now()
	return s.db.Update(func(tx *bolt.Tx) error {
		return putJSON(tx.Bucket(bucketSessions), hash, cqrs.Session{UserID: userID, Created: now, LastSeen: now})
	})
}

// Session returns a live session, as it was before this call, and its
// user, and refreshes its idle timer. A session past its idle or absolute limit, or whose user may no
// longer sign in, is deleted and reported as ErrExpired.
func (s *Store) Session(ctx context.Context, hash []byte, idle, absolute time.Duration) (cqrs.Session, cqrs.User, error) {
	now := s.now()
	var (
		sess  cqrs.Session
		u     cqrs.User
		touch bool
	)
	err := s.db.View(func(tx *bolt.Tx) error {
		var err error
		if len(hash) == 32 {
			raw := tx.Bucket(bucketSessions).Get(hash)
			if raw == nil {
				return cqrs.ErrNotFound
			}
			sess, err = s.sessions.get([32]byte(hash), raw)
		} else {
			err = getJSON(tx.Bucket(bucketSessions), hash, &sess)
		}
		if err != nil {
			return err
		}
		raw := tx.Bucket(bucketUsers).Get(itob(sess.UserID))
		if raw == nil {
			return cqrs.ErrNotFound
		}
		u, err = s.users.get(sess.UserID, raw)
		return err
	})
	if err != nil {
		return cqrs.Session{}, cqrs.User{}, fmt.Errorf("store: session: %w", err)
	}
	if now.Sub(sess.LastSeen) >= idle || now.Sub(sess.Created) >= absolute || u.Status != cqrs.StatusActive || !u.LockedAt.IsZero() {
		s.DeleteSession(ctx, hash)
		return cqrs.Session{}, cqrs.User{}, fmt.Errorf("store: session: %w", cqrs.ErrExpired)
	}
	touch = now.Sub(sess.LastSeen) >= cqrs.SessionTouchEvery
	if touch {
		touched := sess
		touched.LastSeen = now
		err = s.db.Update(func(tx *bolt.Tx) error {
			b := tx.Bucket(bucketSessions)
			if b.Get(hash) == nil { // signed out meanwhile
				return cqrs.ErrNotFound
			}
			return putJSON(b, hash, touched)
		})
		if err != nil {
			return cqrs.Session{}, cqrs.User{}, fmt.Errorf("store: session: %w", err)
		}
	}
	return sess, u, nil
}

// DeleteSession ends a session (sign out).
func (s *Store) DeleteSession(ctx context.Context, hash []byte, events ...cqrs.AuditEvent) error {
	return s.db.Update(func(tx *bolt.Tx) error {
		if err := tx.Bucket(bucketSessions).Delete(hash); err != nil {
			return err
		}
		return recordEvents(tx, events, cqrs.User{}, s.now())
	})
}

// deleteUserSessions ends every session of userID except keep (nil for all).
func deleteUserSessions(tx *bolt.Tx, userID uint64, keep []byte) error {
	_, err := deleteWhere(tx.Bucket(bucketSessions), func(k []byte, sess cqrs.Session) bool {
		return sess.UserID == userID && !bytes.Equal(k, keep)
	})
	return err
}

// DeleteExpiredSessions removes sessions past either limit; bbolt has no
// TTL, so the app sweeps now and then.
func (s *Store) DeleteExpiredSessions(ctx context.Context, idle, absolute time.Duration) (int, error) {
	now := s.now()
	n := 0
	err := s.db.Update(func(tx *bolt.Tx) error {
		var err error
		n, err = deleteWhere(tx.Bucket(bucketSessions), func(_ []byte, sess cqrs.Session) bool {
			return now.Sub(sess.LastSeen) >= idle || now.Sub(sess.Created) >= absolute
		})
		return err
	})
	return n, err
}

// RotateSession gives a session a new ID (its hash moves from old to
// fresh), keeping when it started and was last seen: after a privilege
// change the browser gets a new session ID without signing in again.
func (s *Store) RotateSession(ctx context.Context, old, fresh []byte) error {
	err := s.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketSessions)
		raw := b.Get(old)
		if raw == nil {
			return cqrs.ErrNotFound
		}
		if err := b.Put(fresh, bytes.Clone(raw)); err != nil {
			return err
		}
		return b.Delete(old)
	})
	if err != nil {
		return fmt.Errorf("store: rotate session: %w", err)
	}
	return nil
}
