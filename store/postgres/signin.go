package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/cqrs-local/cqrs-signin/cqrs"
)

// LegacySignIn takes the decision for a checked attempt in one
// transaction, by the rules of cqrs.SignInAttempt.Decide. The account's
// row is locked first, so attempts from every
// instance queue on it: each sees every failure recorded before it, and
// the account locks exactly once, at LockAfter.
func (s *Store) LegacySignIn(ctx context.Context, a cqrs.SignInAttempt) (cqrs.SignInResult, error) {
	var res cqrs.SignInResult
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		res = cqrs.SignInResult{}
		now := s.now()
		var account *cqrs.User
		u, err := getUser(ctx, tx, `lower(user_id) = lower($1) FOR UPDATE`, a.UserID)
		if err == nil {
			account = &u
		} else if err != cqrs.ErrNotFound {
			return err
		}
		d := a.Decide(account, now)
		res.User, res.LockedNow = d.User, d.LockedNow
		if err := appendAudit(ctx, tx, d.Event); err != nil {
			return err
		}
		if d.SecondFactorDue {
			res.SecondFactorDue = true
			return startPendingSignIn(ctx, tx, a.SessionHash, d.User, a.ReplacedSession, now)
		}
		if d.SignIn {
			res.SignedIn = true
			res.User, err = signIn(ctx, tx, d.User, a.SessionHash, a.ReplacedSession, now)
			return err
		}
		return recordFailure(ctx, tx, d, a, now)
	})
	if err != nil {
		return cqrs.SignInResult{}, fmt.Errorf("postgres: legacy sign-in: %w", err)
	}
	return res, nil
}

// recordFailure writes what a refused attempt (a password or a second
// factor) decided: the counted failure, and at the lockout the lock's audit
// entry, the unlock link and the email that carries it.
func recordFailure(ctx context.Context, tx pgx.Tx, d cqrs.SignInDecision, a cqrs.SignInAttempt, now time.Time) error {
	if !d.Counted {
		return nil
	}
	if err := putUser(ctx, tx, d.User); err != nil {
		return err
	}
	if !d.LockedNow {
		return nil
	}
	if err := appendAudit(ctx, tx, d.Lock); err != nil {
		return err
	}
	if a.LockNotice == nil {
		return nil
	}
	email, linkHash, link := a.UnlockLink(d.User, now)
	if err := putLink(ctx, tx, linkHash, link); err != nil {
		return err
	}
	return notifyOwner(ctx, tx, d.User, &email, now)
}

// SignedIn records a successful sign-in: the failure count is reset, the
// new session stored and, on the very first sign-in, a welcome message
// left in the message centre.
func (s *Store) SignedIn(ctx context.Context, userID uint64, sessionHash, replacedSession []byte, events ...cqrs.AuditEvent) (cqrs.User, error) {
	var u cqrs.User
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		var err error
		if u, err = lockUser(ctx, tx, userID); err != nil {
			return err
		}
		now := s.now()
		if u, err = signIn(ctx, tx, u, sessionHash, replacedSession, now); err != nil {
			return err
		}
		return recordEvents(ctx, tx, events, u, now)
	})
	if err != nil {
		return cqrs.User{}, fmt.Errorf("postgres: signed in: %w", err)
	}
	return u, nil
}

func signIn(ctx context.Context, tx pgx.Tx, u cqrs.User, sessionHash, replacedSession []byte, now time.Time) (cqrs.User, error) {
	first := u.LastSignIn.IsZero()
	u.FailedSignIns, u.LastSignIn = 0, now
	if err := putUser(ctx, tx, u); err != nil {
		return cqrs.User{}, err
	}
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
