package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/cqrs-local/cqrs-signin/cqrs"
)

const passkeyColumns = `credential_id, user_id, name, credential, added, last_used`

func scanPasskey(row pgx.Row) (cqrs.Passkey, error) {
	var (
		p        cqrs.Passkey
		userID   int64
		lastUsed *time.Time
	)
	if err := row.Scan(&p.ID, &userID, &p.Name, &p.Credential, &p.Added, &lastUsed); err != nil {
		return cqrs.Passkey{}, err
	}
	p.UserID = uint64(userID)
	if lastUsed != nil {
		p.LastUsed = *lastUsed
	}
	utc(&p.Added, &p.LastUsed)
	return p, nil
}

// rowsQueryer is a pool or a transaction.
type rowsQueryer interface {
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
}

func userPasskeys(ctx context.Context, q rowsQueryer, userID uint64) ([]cqrs.Passkey, error) {
	rows, err := q.Query(ctx, `SELECT `+passkeyColumns+` FROM passkeys WHERE user_id = $1 ORDER BY added, credential_id`, int64(userID))
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []cqrs.Passkey
	for rows.Next() {
		p, err := scanPasskey(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, p)
	}
	return out, rows.Err()
}

// storedPasskey is the passkey under id (locked for the transaction), or nil.
func storedPasskey(ctx context.Context, tx pgx.Tx, id []byte) (*cqrs.Passkey, error) {
	p, err := scanPasskey(tx.QueryRow(ctx, `SELECT `+passkeyColumns+` FROM passkeys WHERE credential_id = $1 FOR UPDATE`, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return &p, nil
}

func putPasskey(ctx context.Context, tx pgx.Tx, p cqrs.Passkey) error {
	var lastUsed *time.Time
	if !p.LastUsed.IsZero() {
		lastUsed = &p.LastUsed
	}
	_, err := tx.Exec(ctx, `INSERT INTO passkeys (`+passkeyColumns+`) VALUES ($1, $2, $3, $4, $5, $6)
		ON CONFLICT (credential_id) DO UPDATE SET name = $3, credential = $4, last_used = $6`,
		p.ID, int64(p.UserID), p.Name, p.Credential, p.Added, lastUsed)
	return notFound(err)
}

// SavePasskeyChallenge keeps a ceremony begun, replacing any other of the
// same owner and purpose, and purges the expired.
func (s *Store) SavePasskeyChallenge(ctx context.Context, ch cqrs.PasskeyChallenge) error {
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `DELETE FROM passkey_challenges WHERE expires <= $1`, s.now()); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `INSERT INTO passkey_challenges (owner, purpose, user_id, session, expires) VALUES ($1, $2, $3, $4, $5)
			ON CONFLICT (owner, purpose) DO UPDATE SET user_id = $3, session = $4, expires = $5`,
			ch.Owner, ch.Purpose, int64(ch.UserID), ch.Session, ch.Expires)
		return err
	})
	if err != nil {
		return fmt.Errorf("postgres: save passkey challenge: %w", err)
	}
	return nil
}

// TakePasskeyChallenge returns the ceremony of owner and purpose and
// forgets it in the same statement, so of two answers racing from any
// instances one gets it; cqrs.ErrExpired when there is none or its time
// is up.
func (s *Store) TakePasskeyChallenge(ctx context.Context, owner []byte, purpose string) (cqrs.PasskeyChallenge, error) {
	ch := cqrs.PasskeyChallenge{Owner: owner, Purpose: purpose}
	var userID int64
	err := s.pool.QueryRow(ctx, `DELETE FROM passkey_challenges WHERE owner = $1 AND purpose = $2 RETURNING user_id, session, expires`, owner, purpose).
		Scan(&userID, &ch.Session, &ch.Expires)
	if errors.Is(err, pgx.ErrNoRows) || (err == nil && !s.now().Before(ch.Expires)) {
		err = cqrs.ErrExpired
	}
	if err != nil {
		return cqrs.PasskeyChallenge{}, fmt.Errorf("postgres: take passkey challenge: %w", err)
	}
	ch.UserID = uint64(userID)
	utc(&ch.Expires)
	return ch, nil
}

// Passkeys are a person's passkeys, oldest first.
func (s *Store) Passkeys(ctx context.Context, userID uint64) ([]cqrs.Passkey, error) {
	out, err := userPasskeys(ctx, s.pool, userID)
	if err != nil {
		return nil, fmt.Errorf("postgres: passkeys: %w", err)
	}
	return out, nil
}

// AddPasskey keeps a passkey registered by its signed-in owner, who must
// have a second factor already (cqrs.ErrNotFound otherwise).
// cqrs.ErrConflict when the credential is registered already (to anyone)
// or the owner has cqrs.MaxPasskeys.
func (s *Store) AddPasskey(ctx context.Context, p cqrs.Passkey, events ...cqrs.AuditEvent) error {
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		u, err := lockUser(ctx, tx, p.UserID)
		if err != nil {
			return err
		}
		if f, err := secondFactor(ctx, tx, u.ID); err != nil || f == nil {
			return orRefuse(err, cqrs.ErrNotFound)
		}
		if old, err := storedPasskey(ctx, tx, p.ID); err != nil || old != nil {
			return orRefuse(err, cqrs.ErrConflict)
		}
		if owned, err := userPasskeys(ctx, tx, u.ID); err != nil || len(owned) >= cqrs.MaxPasskeys {
			return orRefuse(err, cqrs.ErrConflict)
		}
		p.Added = s.now()
		if err := putPasskey(ctx, tx, p); err != nil {
			return err
		}
		return recordEvents(ctx, tx, events, u, s.now())
	})
	if err != nil {
		return fmt.Errorf("postgres: add passkey: %w", err)
	}
	return nil
}

// orRefuse is err when there is one, otherwise the refusal.
func orRefuse(err, refusal error) error {
	if err != nil {
		return err
	}
	return refusal
}

// RenamePasskey names one of userID's passkeys; cqrs.ErrNotFound when it
// is not theirs.
func (s *Store) RenamePasskey(ctx context.Context, userID uint64, id []byte, name string, events ...cqrs.AuditEvent) error {
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		u, err := lockUser(ctx, tx, userID)
		if err != nil {
			return err
		}
		tag, err := tx.Exec(ctx, `UPDATE passkeys SET name = $3 WHERE credential_id = $1 AND user_id = $2`, id, int64(userID), name)
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			return cqrs.ErrNotFound
		}
		return recordEvents(ctx, tx, events, u, s.now())
	})
	if err != nil {
		return fmt.Errorf("postgres: rename passkey: %w", err)
	}
	return nil
}

// RemovePasskey forgets one of userID's passkeys (cqrs.ErrNotFound when it
// is not theirs) and returns how many they have left. Their last passkey
// gone with no authenticator app, their second factor goes too.
func (s *Store) RemovePasskey(ctx context.Context, userID uint64, id []byte, events ...cqrs.AuditEvent) (int, error) {
	left := 0
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		u, err := lockUser(ctx, tx, userID)
		if err != nil {
			return err
		}
		tag, err := tx.Exec(ctx, `DELETE FROM passkeys WHERE credential_id = $1 AND user_id = $2`, id, int64(userID))
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			return cqrs.ErrNotFound
		}
		if err := tx.QueryRow(ctx, `SELECT count(*) FROM passkeys WHERE user_id = $1`, int64(userID)).Scan(&left); err != nil {
			return err
		}
		if left == 0 {
			if _, err := tx.Exec(ctx, `DELETE FROM second_factors WHERE user_id = $1 AND (sealed IS NULL OR length(sealed) = 0)`, int64(userID)); err != nil {
				return err
			}
		}
		return recordEvents(ctx, tx, events, u, s.now())
	})
	if err != nil {
		return 0, fmt.Errorf("postgres: remove passkey: %w", err)
	}
	return left, nil
}

// PasskeySignIn takes the decision for a passkey answer to the second step
// in one transaction (cqrs.PasskeyAttempt.Decide). The pending sign-in's
// row and then the account's are locked first, as for codes, so answers
// from every instance queue on them and one lockout holds both.
func (s *Store) PasskeySignIn(ctx context.Context, a cqrs.PasskeyAttempt) (cqrs.SignInResult, error) {
	var res cqrs.SignInResult
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		res = cqrs.SignInResult{}
		now := s.now()
		p := cqrs.PendingSignIn{UserID: a.UserID, ReplacedSession: a.ReplacedSession}
		if a.Kind != cqrs.PasskeyKindSignIn {
			var err error
			if p, err = pendingSignIn(ctx, tx, a.PendingHash, now, true); err != nil {
				return err
			}
		}
		u, err := lockUser(ctx, tx, p.UserID)
		if err != nil {
			return err
		}
		f, err := secondFactor(ctx, tx, u.ID)
		if err != nil {
			return err
		}
		stored, err := storedPasskey(ctx, tx, a.Passkey.ID)
		if err != nil {
			return err
		}
		owned, err := userPasskeys(ctx, tx, u.ID)
		if err != nil {
			return err
		}
		d := a.Decide(u, f, stored, len(owned), now)
		if d.SignIn {
			res.SignedIn = true
			if d.Factor != nil {
				if err := putSecondFactor(ctx, tx, *d.Factor); err != nil {
					return err
				}
			}
			if err := putPasskey(ctx, tx, d.Passkey); err != nil {
				return err
			}
			if _, err := tx.Exec(ctx, `DELETE FROM pending_sign_ins WHERE hash = $1`, a.PendingHash); err != nil {
				return err
			}
			for _, e := range d.Events {
				if err := appendAudit(ctx, tx, e); err != nil {
					return err
				}
			}
			res.User, err = signIn(ctx, tx, u, a.SessionHash, p.ReplacedSession, now)
			return err
		}
		fd := d.Failure
		res.User, res.LockedNow = fd.User, fd.LockedNow
		if err := appendAudit(ctx, tx, fd.Event); err != nil {
			return err
		}
		return recordFailure(ctx, tx, fd, cqrs.SignInAttempt{LockNotice: a.LockNotice, LinkTTL: a.LinkTTL}, now)
	})
	if err != nil {
		return cqrs.SignInResult{}, fmt.Errorf("postgres: passkey sign-in: %w", err)
	}
	return res, nil
}
