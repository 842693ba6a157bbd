package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/cqrs-local/cqrs-signin/cqrs"
)

// startPendingSignIn stores the pending sign-in a right password starts
// for an account the second-factor setting covers, purging the expired.
func startPendingSignIn(ctx context.Context, tx pgx.Tx, hash []byte, u cqrs.User, replaced []byte, now time.Time) error {
	if _, err := tx.Exec(ctx, `DELETE FROM pending_sign_ins WHERE expires <= $1`, now); err != nil {
		return err
	}
	_, err := tx.Exec(ctx, `INSERT INTO pending_sign_ins (hash, user_id, account, created, expires, replaced_session) VALUES ($1, $2, $3, $4, $5, $6)`,
		hash, int64(u.ID), u.UserID, now, now.Add(cqrs.PendingSignInLifespan), replaced)
	return notFound(err)
}

// pendingSignIn reads a live pending sign-in (locked for the rest of the
// transaction when lock): cqrs.ErrExpired once its time is up, or unknown.
func pendingSignIn(ctx context.Context, q queryer, hash []byte, now time.Time, lock bool) (cqrs.PendingSignIn, error) {
	var p cqrs.PendingSignIn
	sql := `SELECT user_id, account, created, expires, replaced_session, enrolling FROM pending_sign_ins WHERE hash = $1`
	if lock {
		sql += ` FOR UPDATE`
	}
	err := q.QueryRow(ctx, sql, hash).Scan(&p.UserID, &p.Account, &p.Created, &p.Expires, &p.ReplacedSession, &p.Enrolling)
	if errors.Is(err, pgx.ErrNoRows) || (err == nil && !now.Before(p.Expires)) {
		return cqrs.PendingSignIn{}, cqrs.ErrExpired
	}
	utc(&p.Created, &p.Expires)
	return p, err
}

func secondFactor(ctx context.Context, q queryer, userID uint64) (*cqrs.SecondFactor, error) {
	f := cqrs.SecondFactor{UserID: userID}
	err := q.QueryRow(ctx, `SELECT sealed, enrolled, last_step, recovery_codes FROM second_factors WHERE user_id = $1`, int64(userID)).
		Scan(&f.Sealed, &f.Enrolled, &f.LastStep, &f.RecoveryCodes)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	utc(&f.Enrolled)
	return &f, nil
}

func putSecondFactor(ctx context.Context, tx pgx.Tx, f cqrs.SecondFactor) error {
	if f.RecoveryCodes == nil {
		f.RecoveryCodes = [][]byte{}
	}
	_, err := tx.Exec(ctx, `INSERT INTO second_factors (user_id, sealed, enrolled, last_step, recovery_codes) VALUES ($1, $2, $3, $4, $5)
		ON CONFLICT (user_id) DO UPDATE SET sealed = $2, enrolled = $3, last_step = $4, recovery_codes = $5`,
		int64(f.UserID), f.Sealed, f.Enrolled, f.LastStep, f.RecoveryCodes)
	return err
}

// PendingSignIn returns a pending sign-in and its account's second factor
// (nil when not enrolled); cqrs.ErrExpired when it is unknown or over.
func (s *Store) PendingSignIn(ctx context.Context, hash []byte) (cqrs.PendingSignIn, *cqrs.SecondFactor, error) {
	p, err := pendingSignIn(ctx, s.pool, hash, s.now(), false)
	if err != nil {
		return cqrs.PendingSignIn{}, nil, fmt.Errorf("postgres: pending sign-in: %w", err)
	}
	f, err := secondFactor(ctx, s.pool, p.UserID)
	if err != nil {
		return cqrs.PendingSignIn{}, nil, fmt.Errorf("postgres: pending sign-in: %w", err)
	}
	return p, f, nil
}

// OfferSecondFactor keeps sealed as the secret offered for enrolment to a
// pending sign-in that has none yet, and returns the pending sign-in with
// the secret it keeps (the first offered: a reload shows the same key).
func (s *Store) OfferSecondFactor(ctx context.Context, hash, sealed []byte) (cqrs.PendingSignIn, error) {
	var p cqrs.PendingSignIn
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		var err error
		if p, err = pendingSignIn(ctx, tx, hash, s.now(), true); err != nil || len(p.Enrolling) > 0 {
			return err
		}
		p.Enrolling = sealed
		_, err = tx.Exec(ctx, `UPDATE pending_sign_ins SET enrolling = $2 WHERE hash = $1`, hash, sealed)
		return err
	})
	if err != nil {
		return cqrs.PendingSignIn{}, fmt.Errorf("postgres: offer second factor: %w", err)
	}
	return p, nil
}

// SecondFactorSignIn takes the decision for an answer to the second step
// in one transaction (cqrs.SecondFactorAttempt.Decide). The pending
// sign-in's row and then the account's are locked first, so answers from
// every instance queue on them: each sees every failure and every step
// accepted before it.
func (s *Store) SecondFactorSignIn(ctx context.Context, a cqrs.SecondFactorAttempt) (cqrs.SignInResult, error) {
	var res cqrs.SignInResult
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		res = cqrs.SignInResult{}
		now := s.now()
		p, err := pendingSignIn(ctx, tx, a.PendingHash, now, true)
		if err != nil {
			return err
		}
		u, err := lockUser(ctx, tx, p.UserID)
		if err != nil {
			return err
		}
		f, err := secondFactor(ctx, tx, u.ID)
		if err != nil {
			return err
		}
		d := a.Decide(p, u, f, now)
		if d.SignIn {
			res.SignedIn = true
			if err := putSecondFactor(ctx, tx, d.Factor); err != nil {
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
		return cqrs.SignInResult{}, fmt.Errorf("postgres: second factor sign-in: %w", err)
	}
	return res, nil
}

// SecondFactorStatus says whether a user has enrolled and how many
// recovery codes they have left; never the secret or the codes.
func (s *Store) SecondFactorStatus(ctx context.Context, userID uint64) (cqrs.SecondFactorStatus, error) {
	f, err := secondFactor(ctx, s.pool, userID)
	if err != nil {
		return cqrs.SecondFactorStatus{}, fmt.Errorf("postgres: second factor status: %w", err)
	}
	if f == nil {
		return cqrs.SecondFactorStatus{}, nil
	}
	return f.Status(), nil
}

// ReplaceRecoveryCodes gives an enrolled user new recovery codes (their
// hashes), voiding every old one; cqrs.ErrNotFound when not enrolled.
func (s *Store) ReplaceRecoveryCodes(ctx context.Context, userID uint64, hashes [][]byte, events ...cqrs.AuditEvent) error {
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		u, err := lockUser(ctx, tx, userID)
		if err != nil {
			return err
		}
		if hashes == nil {
			hashes = [][]byte{}
		}
		tag, err := tx.Exec(ctx, `UPDATE second_factors SET recovery_codes = $2 WHERE user_id = $1`, int64(userID), hashes)
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			return cqrs.ErrNotFound
		}
		return recordEvents(ctx, tx, events, u, s.now())
	})
	if err != nil {
		return fmt.Errorf("postgres: replace recovery codes: %w", err)
	}
	return nil
}

// ResetSecondFactor forgets a user's second factor, their passkeys and
// their pending sign-ins, so they enrol again at their next sign-in, and queues notify
// (when not nil) to the owner, in one transaction.
func (s *Store) ResetSecondFactor(ctx context.Context, userID uint64, notify *cqrs.Email, events ...cqrs.AuditEvent) (cqrs.User, error) {
	var u cqrs.User
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		var err error
		if u, err = lockUser(ctx, tx, userID); err != nil {
			return err
		}
		now := s.now()
		for _, sql := range []string{`DELETE FROM second_factors WHERE user_id = $1`, `DELETE FROM pending_sign_ins WHERE user_id = $1`, `DELETE FROM passkeys WHERE user_id = $1`} {
			if _, err := tx.Exec(ctx, sql, int64(userID)); err != nil {
				return err
			}
		}
		if err := notifyOwner(ctx, tx, u, notify, now); err != nil {
			return err
		}
		return recordEvents(ctx, tx, events, u, now)
	})
	if err != nil {
		return cqrs.User{}, fmt.Errorf("postgres: reset second factor: %w", err)
	}
	return u, nil
}
