package store

import (
	"context"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/cqrs-local/cqrs-signin/cqrs"
)

// LegacySignIn takes the decision for a checked attempt in one
// transaction: it re-reads the account, its failure count and its lock,
// applies the rules (cqrs.SignInAttempt.Decide) and stores what they
// decide: the session, or the failure (locking the account, with its
// unlock email, when the count reaches LockAfter). Since
// bbolt runs one write transaction at a time, a burst of attempts cannot
// outrun the lock: each sees every failure recorded before it. A locked
// account refuses every attempt, whatever the password, and the answer
// does not say so (the owner has been emailed). An unknown User ID costs
// the same write, the audit entry.
func (s *Store) LegacySignIn(ctx context.Context, a cqrs.SignInAttempt) (cqrs.SignInResult, error) {
	var res cqrs.SignInResult
	err := s.db.Update(func(tx *bolt.Tx) error {
		res = cqrs.SignInResult{}
		now := s.now()
		var account *cqrs.User
		if id := tx.Bucket(bucketUsersByID).Get(foldKey(a.UserID)); id != nil {
			u, err := getUser(tx, bytesToID(id))
			if err != nil {
				return err
			}
			account = &u
		}
		d := a.Decide(account, now)
		res.User, res.LockedNow = d.User, d.LockedNow
		if err := appendAudit(tx, &d.Event, now); err != nil {
			return err
		}
		if d.SecondFactorDue {
			res.SecondFactorDue = true
			return startPendingSignIn(tx, a.SessionHash, d.User, a.ReplacedSession, now)
		}
		if d.SignIn {
			res.SignedIn = true
			var err error
			res.User, err = signIn(tx, d.User, a.SessionHash, a.ReplacedSession, now)
			return err
		}
		return recordFailure(tx, d, a, now)
	})
	if err != nil {
		return cqrs.SignInResult{}, fmt.Errorf("store: legacy sign-in: %w", err)
	}
	return res, nil
}

// recordFailure writes what a refused attempt (a password or a second
// factor) decided: the counted failure, and at the lockout the lock's audit
// entry, the unlock link and the email that carries it.
func recordFailure(tx *bolt.Tx, d cqrs.SignInDecision, a cqrs.SignInAttempt, now time.Time) error {
	if !d.Counted {
		return nil
	}
	if err := putUser(tx, d.User); err != nil {
		return err
	}
	if !d.LockedNow {
		return nil
	}
	if err := appendAudit(tx, &d.Lock, now); err != nil {
		return err
	}
	if a.LockNotice == nil {
		return nil
	}
	email, linkHash, link := a.UnlockLink(d.User, now)
	if err := putLink(tx, linkHash, link); err != nil {
		return err
	}
	return notifyOwner(tx, d.User, &email, now)
}

// SignedIn records a successful sign-in for the user: the failure count is
// reset, the new session stored, and on the very first sign-in a welcome
// message is left in the message centre, all in one transaction.
func (s *Store) SignedIn(ctx context.Context, userID uint64, sessionHash, replacedSession []byte, events ...cqrs.AuditEvent) (cqrs.User, error) {
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
func (s *Store) ChangePassword(ctx context.Context, userID uint64, newHash string, keepSession []byte, notify *cqrs.Email, events ...cqrs.AuditEvent) (cqrs.User, error) {
	var u cqrs.User
	err := s.db.Update(func(tx *bolt.Tx) error {
		var err error
		if u, err = getUser(tx, userID); err != nil {
			return err
		}
		now := s.now()
		if err := keepInHistory(tx, u.ID, u.SetPassword(newHash, u.Clock(now))); err != nil {
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
