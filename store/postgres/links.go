package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/cqrs-local/cqrs-signin/cqrs"
)

// putLink stores a new link and withdraws the user's earlier unused links
// of the same purpose, so only the newest email's link works.
func putLink(ctx context.Context, tx pgx.Tx, hash []byte, l cqrs.Link) error {
	_, err := tx.Exec(ctx, `DELETE FROM links WHERE user_id = $1 AND purpose = $2 AND used = '0001-01-01 00:00:00+00' AND hash <> $3`,
		int64(l.UserID), string(l.Purpose), hash)
	if err != nil {
		return err
	}
	_, err = tx.Exec(ctx, `INSERT INTO links (hash, user_id, purpose, created, expires, used) VALUES ($1, $2, $3, $4, $5, $6)
		ON CONFLICT (hash) DO UPDATE SET user_id = $2, purpose = $3, created = $4, expires = $5, used = $6`,
		hash, int64(l.UserID), string(l.Purpose), l.Created, l.Expires, l.Used)
	return err
}

func getLink(ctx context.Context, q queryer, hash []byte, lock bool) (cqrs.Link, error) {
	sql := `SELECT user_id, purpose, created, expires, used FROM links WHERE hash = $1`
	if lock {
		sql += ` FOR UPDATE`
	}
	var l cqrs.Link
	var purpose string
	if err := q.QueryRow(ctx, sql, hash).Scan(&l.UserID, &purpose, &l.Created, &l.Expires, &l.Used); err != nil {
		return cqrs.Link{}, notFound(err)
	}
	l.Purpose = cqrs.LinkPurpose(purpose)
	utc(&l.Created, &l.Expires, &l.Used)
	return l, nil
}

// LinkUser returns a usable link and its user, without using it.
func (s *Store) LinkUser(ctx context.Context, hash []byte, purpose cqrs.LinkPurpose) (cqrs.Link, cqrs.User, error) {
	l, err := getLink(ctx, s.pool, hash, false)
	if err == nil && l.Purpose != purpose {
		err = cqrs.ErrNotFound
	}
	if err == nil {
		err = l.Usable(s.now())
	}
	if err != nil {
		return cqrs.Link{}, cqrs.User{}, fmt.Errorf("postgres: link: %w", err)
	}
	u, err := s.User(ctx, l.UserID)
	return l, u, err
}

// SetPasswordWithLink uses a link once: the link row is locked for the
// transaction, so of two instances using it at once one sets the password
// and the other finds it used.
func (s *Store) SetPasswordWithLink(ctx context.Context, linkHash []byte, purpose cqrs.LinkPurpose, newHash string, notify *cqrs.Email, events ...cqrs.AuditEvent) (cqrs.User, error) {
	var u cqrs.User
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		now := s.now()
		l, err := getLink(ctx, tx, linkHash, true)
		if err != nil {
			return err
		}
		if u, err = lockUser(ctx, tx, l.UserID); err != nil {
			return err
		}
		var previous string
		if l, u, previous, err = cqrs.UseLink(l, u, purpose, newHash, now); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `UPDATE links SET used = $2 WHERE hash = $1`, linkHash, l.Used); err != nil {
			return err
		}
		if err := keepInHistory(ctx, tx, u.ID, previous); err != nil {
			return err
		}
		if err := putUser(ctx, tx, u); err != nil {
			return err
		}
		if purpose.EndsSessions() {
			if err := deleteUserSessions(ctx, tx, u.ID, nil); err != nil {
				return err
			}
		}
		if err := notifyOwner(ctx, tx, u, notify, now); err != nil {
			return err
		}
		return recordEvents(ctx, tx, events, u, now)
	})
	if err != nil {
		return cqrs.User{}, fmt.Errorf("postgres: set password with link: %w", err)
	}
	return u, nil
}

// keepInHistory stores the user's history once previous has been
// replaced (cqrs.NextPasswordHistory); the caller holds the user's row.
func keepInHistory(ctx context.Context, tx pgx.Tx, userID uint64, previous string) error {
	if previous == "" {
		return nil
	}
	var history []string
	err := tx.QueryRow(ctx, `SELECT hashes FROM password_history WHERE user_id = $1`, int64(userID)).Scan(&history)
	if err != nil && !errors.Is(err, pgx.ErrNoRows) {
		return err
	}
	_, err = tx.Exec(ctx, `INSERT INTO password_history (user_id, hashes) VALUES ($1, $2)
		ON CONFLICT (user_id) DO UPDATE SET hashes = $2`, int64(userID), cqrs.NextPasswordHistory(history, previous))
	return err
}

// PasswordHistory returns the user's previous password hashes, newest first.
func (s *Store) PasswordHistory(ctx context.Context, userID uint64) ([]string, error) {
	var h []string
	err := s.pool.QueryRow(ctx, `SELECT hashes FROM password_history WHERE user_id = $1`, int64(userID)).Scan(&h)
	if err = notFound(err); err != nil && err != cqrs.ErrNotFound {
		return nil, fmt.Errorf("postgres: password history: %w", err)
	}
	return h, nil
}

func notifyOwner(ctx context.Context, tx pgx.Tx, u cqrs.User, e *cqrs.Email, now time.Time) error {
	if e == nil {
		return nil
	}
	e.UserID, e.OrgID, e.To, e.ToName = u.ID, u.OrgID, u.Email, u.FullName()
	return enqueueEmail(ctx, tx, e, now)
}
