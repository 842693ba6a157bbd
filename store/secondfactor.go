package store

import (
	"bytes"
	"context"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/cqrs-local/cqrs-signin/cqrs"
)

// Second factors are kept apart from the user records, so nothing that
// reads a user (the administration pages, the session check) carries a
// sealed secret or a recovery code's hash.
var (
	bucketSecondFactors  = []byte("users.second-factor")
	bucketPendingSignIns = []byte("signins.pending")
)

// startPendingSignIn stores the pending sign-in a right password starts
// for an account the second-factor setting covers, purging the expired.
func startPendingSignIn(tx *bolt.Tx, hash []byte, u cqrs.User, replaced []byte, now time.Time) error {
	b := tx.Bucket(bucketPendingSignIns)
	if _, err := deleteWhere(b, func(_ []byte, p cqrs.PendingSignIn) bool { return !now.Before(p.Expires) }); err != nil {
		return err
	}
	return putJSON(b, hash, cqrs.PendingSignIn{UserID: u.ID, Account: u.UserID, Created: now, Expires: now.Add(cqrs.PendingSignInLifespan), ReplacedSession: replaced})
}

// pendingSignIn reads a live pending sign-in: cqrs.ErrExpired once its
// time is up (or it is unknown: the answer is the same).
func pendingSignIn(tx *bolt.Tx, hash []byte, now time.Time) (cqrs.PendingSignIn, error) {
	var p cqrs.PendingSignIn
	if err := getJSON(tx.Bucket(bucketPendingSignIns), hash, &p); err != nil || !now.Before(p.Expires) {
		return cqrs.PendingSignIn{}, cqrs.ErrExpired
	}
	return p, nil
}

func secondFactor(tx *bolt.Tx, userID uint64) (*cqrs.SecondFactor, error) {
	var f cqrs.SecondFactor
	switch err := getJSON(tx.Bucket(bucketSecondFactors), itob(userID), &f); err {
	case nil:
		return &f, nil
	case cqrs.ErrNotFound:
		return nil, nil
	default:
		return nil, err
	}
}

// PendingSignIn returns a pending sign-in and its account's second factor
// (nil when not enrolled); cqrs.ErrExpired when it is unknown or over.
func (s *Store) PendingSignIn(ctx context.Context, hash []byte) (cqrs.PendingSignIn, *cqrs.SecondFactor, error) {
	var (
		p cqrs.PendingSignIn
		f *cqrs.SecondFactor
	)
	err := s.db.View(func(tx *bolt.Tx) error {
		var err error
		if p, err = pendingSignIn(tx, hash, s.now()); err != nil {
			return err
		}
		f, err = secondFactor(tx, p.UserID)
		return err
	})
	if err != nil {
		return cqrs.PendingSignIn{}, nil, fmt.Errorf("store: pending sign-in: %w", err)
	}
	return p, f, nil
}

// OfferSecondFactor keeps sealed as the secret offered for enrolment to a
// pending sign-in that has none yet, and returns the pending sign-in with
// the secret it keeps (the first offered: a reload shows the same key).
func (s *Store) OfferSecondFactor(ctx context.Context, hash, sealed []byte) (cqrs.PendingSignIn, error) {
	var p cqrs.PendingSignIn
	err := s.db.Update(func(tx *bolt.Tx) error {
		var err error
		if p, err = pendingSignIn(tx, hash, s.now()); err != nil {
			return err
		}
		if len(p.Enrolling) > 0 {
			return nil
		}
		p.Enrolling = bytes.Clone(sealed)
		return putJSON(tx.Bucket(bucketPendingSignIns), hash, p)
	})
	if err != nil {
		return cqrs.PendingSignIn{}, fmt.Errorf("store: offer second factor: %w", err)
	}
	return p, nil
}

// SecondFactorSignIn takes the decision for an answer to the second step
// in one transaction (cqrs.SecondFactorAttempt.Decide), after re-reading
// the account, its failure count, its lock and its factor: the session
// with the factor moved on, or the failure counted as a wrong password's.
// bbolt's one writer at a time keeps a burst of codes from outrunning the
// lock or using a code twice.
func (s *Store) SecondFactorSignIn(ctx context.Context, a cqrs.SecondFactorAttempt) (cqrs.SignInResult, error) {
	var res cqrs.SignInResult
	err := s.db.Update(func(tx *bolt.Tx) error {
		res = cqrs.SignInResult{}
		now := s.now()
		p, err := pendingSignIn(tx, a.PendingHash, now)
		if err != nil {
			return err
		}
		u, err := getUser(tx, p.UserID)
		if err != nil {
			return err
		}
		f, err := secondFactor(tx, u.ID)
		if err != nil {
			return err
		}
		d := a.Decide(p, u, f, now)
		if d.SignIn {
			res.SignedIn = true
			if err := putJSON(tx.Bucket(bucketSecondFactors), itob(u.ID), d.Factor); err != nil {
				return err
			}
			if err := tx.Bucket(bucketPendingSignIns).Delete(a.PendingHash); err != nil {
				return err
			}
			for i := range d.Events {
				if err := appendAudit(tx, &d.Events[i], now); err != nil {
					return err
				}
			}
			res.User, err = signIn(tx, u, a.SessionHash, p.ReplacedSession, now)
			return err
		}
		fd := d.Failure
		res.User, res.LockedNow = fd.User, fd.LockedNow
		if err := appendAudit(tx, &fd.Event, now); err != nil {
			return err
		}
		return recordFailure(tx, fd, cqrs.SignInAttempt{LockNotice: a.LockNotice, LinkTTL: a.LinkTTL}, now)
	})
	if err != nil {
		return cqrs.SignInResult{}, fmt.Errorf("store: second factor sign-in: %w", err)
	}
	return res, nil
}

// SecondFactorStatus says whether a user has enrolled and how many
// recovery codes they have left; never the secret or the codes.
func (s *Store) SecondFactorStatus(ctx context.Context, userID uint64) (cqrs.SecondFactorStatus, error) {
	var st cqrs.SecondFactorStatus
	err := s.db.View(func(tx *bolt.Tx) error {
		f, err := secondFactor(tx, userID)
		if f != nil {
			st = f.Status()
		}
		return err
	})
	if err != nil {
		return cqrs.SecondFactorStatus{}, fmt.Errorf("store: second factor status: %w", err)
	}
	return st, nil
}

// ReplaceRecoveryCodes gives an enrolled user new recovery codes (their
// hashes), voiding every old one; cqrs.ErrNotFound when not enrolled.
func (s *Store) ReplaceRecoveryCodes(ctx context.Context, userID uint64, hashes [][]byte, events ...cqrs.AuditEvent) error {
	err := s.db.Update(func(tx *bolt.Tx) error {
		u, err := getUser(tx, userID)
		if err != nil {
			return err
		}
		f, err := secondFactor(tx, userID)
		if err != nil {
			return err
		}
		if f == nil {
			return cqrs.ErrNotFound
		}
		f.RecoveryCodes = hashes
		if err := putJSON(tx.Bucket(bucketSecondFactors), itob(userID), f); err != nil {
			return err
		}
		return recordEvents(tx, events, u, s.now())
	})
	if err != nil {
		return fmt.Errorf("store: replace recovery codes: %w", err)
	}
	return nil
}

// ResetSecondFactor forgets a user's second factor, their passkeys and
// their pending sign-ins, so they enrol again at their next sign-in, and queues notify
// (when not nil) to the owner, in one transaction. Resetting a user with
// none is not an error: the result is the same.
func (s *Store) ResetSecondFactor(ctx context.Context, userID uint64, notify *cqrs.Email, events ...cqrs.AuditEvent) (cqrs.User, error) {
	var u cqrs.User
	err := s.db.Update(func(tx *bolt.Tx) error {
		var err error
		if u, err = getUser(tx, userID); err != nil {
			return err
		}
		now := s.now()
		if err := tx.Bucket(bucketSecondFactors).Delete(itob(userID)); err != nil {
			return err
		}
		if _, err := deleteWhere(tx.Bucket(bucketPendingSignIns), func(_ []byte, p cqrs.PendingSignIn) bool { return p.UserID == userID }); err != nil {
			return err
		}
		if _, err := deleteWhere(tx.Bucket(bucketPasskeys), func(_ []byte, p cqrs.Passkey) bool { return p.UserID == userID }); err != nil {
			return err
		}
		if err := notifyOwner(tx, u, notify, now); err != nil {
			return err
		}
		return recordEvents(tx, events, u, now)
	})
	if err != nil {
		return cqrs.User{}, fmt.Errorf("store: reset second factor: %w", err)
	}
	return u, nil
}
