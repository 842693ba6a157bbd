package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/cqrs-local/cqrs-signin/cqrs"
)

// Session returns a live session, as it was before this call, and its
// user, and refreshes its idle timer. A session past its idle or
// absolute time, or of an account no longer active, is ended and
// cqrs.ErrExpired returned.
func (s *Store) Session(ctx context.Context, hash []byte, idle, absolute time.Duration) (cqrs.Session, cqrs.User, error) {
	now := s.now()
	var sess cqrs.Session
	err := s.pool.QueryRow(ctx, `SELECT user_id, created, last_seen FROM sessions WHERE hash = $1`, hash).
		Scan(&sess.UserID, &sess.Created, &sess.LastSeen)
	if err != nil {
		return cqrs.Session{}, cqrs.User{}, fmt.Errorf("postgres: session: %w", notFound(err))
	}
	utc(&sess.Created, &sess.LastSeen)
	u, err := s.User(ctx, sess.UserID)
	if err != nil {
		return cqrs.Session{}, cqrs.User{}, fmt.Errorf("postgres: session: %w", err)
	}
	if now.Sub(sess.LastSeen) >= idle || now.Sub(sess.Created) >= absolute || u.Status != cqrs.StatusActive || !u.LockedAt.IsZero() {
		s.DeleteSession(ctx, hash)
		return cqrs.Session{}, cqrs.User{}, fmt.Errorf("postgres: session: %w", cqrs.ErrExpired)
	}
	if now.Sub(sess.LastSeen) >= cqrs.SessionTouchEvery {
		tag, err := s.pool.Exec(ctx, `UPDATE sessions SET last_seen = $2 WHERE hash = $1`, hash, now)
		if err == nil && tag.RowsAffected() == 0 { // signed out meanwhile
			err = cqrs.ErrNotFound
		}
		if err != nil {
			return cqrs.Session{}, cqrs.User{}, fmt.Errorf("postgres: session: %w", err)
		}
	}
	return sess, u, nil
}

// DeleteSession ends a session (sign out).
func (s *Store) DeleteSession(ctx context.Context, hash []byte, events ...cqrs.AuditEvent) error {
	return s.inTx(ctx, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `DELETE FROM sessions WHERE hash = $1`, hash); err != nil {
			return err
		}
		return recordEvents(ctx, tx, events, cqrs.User{}, s.now())
	})
}

func deleteUserSessions(ctx context.Context, tx pgx.Tx, userID uint64, keep []byte) error {
	_, err := tx.Exec(ctx, `DELETE FROM sessions WHERE user_id = $1 AND ($2::bytea IS NULL OR hash <> $2)`, int64(userID), keep)
	return err
}

// DeleteExpiredSessions removes sessions past their idle or absolute time.
func (s *Store) DeleteExpiredSessions(ctx context.Context, idle, absolute time.Duration) (int, error) {
	now := s.now()
	tag, err := s.pool.Exec(ctx, `DELETE FROM sessions WHERE last_seen <= $1 OR created <= $2`, now.Add(-idle), now.Add(-absolute))
	if err != nil {
		return 0, fmt.Errorf("postgres: delete expired sessions: %w", err)
	}
	return int(tag.RowsAffected()), nil
}

// RotateSession gives a session a new ID, keeping when it started and was
// last seen.
func (s *Store) RotateSession(ctx context.Context, old, fresh []byte) error {
	tag, err := s.pool.Exec(ctx, `UPDATE sessions SET hash = $2 WHERE hash = $1`, old, fresh)
	if err == nil && tag.RowsAffected() == 0 {
		err = cqrs.ErrNotFound
	}
	if err != nil {
		return fmt.Errorf("postgres: rotate session: %w", err)
	}
	return nil
}
