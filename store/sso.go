package store

import (
	"context"
	"errors"
	"fmt"

	bolt "go.etcd.io/bbolt"

	"github.com/cqrs-local/cqrs-signin/cqrs"
)

// PutSSOPending records a sign-on request and drops ones that have expired.
func (s *Store) PutSSOPending(ctx context.Context, stateHash []byte, p cqrs.SSOPending) error {
	now := s.now()
	return s.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketSSOPending)
		if _, err := deleteWhere(b, func(_ []byte, old cqrs.SSOPending) bool { return !now.Before(old.Expires) }); err != nil {
			return err
		}
		return putJSON(b, stateHash, p)
	})
}

// TakeSSOPending returns and deletes the request: a replayed state finds
// nothing (ErrNotFound), an old one ErrExpired.
func (s *Store) TakeSSOPending(ctx context.Context, stateHash []byte) (cqrs.SSOPending, error) {
	var p cqrs.SSOPending
	err := s.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketSSOPending)
		if err := getJSON(b, stateHash, &p); err != nil {
			return err
		}
		if p.Used {
			return cqrs.ErrNotFound
		}
		return putJSON(b, stateHash, cqrs.SSOPending{Used: true, Expires: p.Expires})
	})
	if err != nil {
		return cqrs.SSOPending{}, fmt.Errorf("store: sso request: %w", err)
	}
	// Checked after the delete commits: an expired record is spent too.
	if !s.now().Before(p.Expires) {
		return cqrs.SSOPending{}, fmt.Errorf("store: sso request: %w", cqrs.ErrExpired)
	}
	return p, nil
}

// SSOStateUsed reports whether a sign-on request's answer has already been
// taken (and the request has not yet expired).
func (s *Store) SSOStateUsed(ctx context.Context, stateHash []byte) (bool, error) {
	var p cqrs.SSOPending
	err := s.db.View(func(tx *bolt.Tx) error {
		return getJSON(tx.Bucket(bucketSSOPending), stateHash, &p)
	})
	if errors.Is(err, cqrs.ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("store: sso request: %w", err)
	}
	return p.Used && s.now().Before(p.Expires), nil
}

// UserBySSOSubject finds the account linked to a provider's stable subject.
// Subjects are case-sensitive (OpenID Connect), unlike User IDs and
// emails, so the index is read as given.
func (s *Store) UserBySSOSubject(ctx context.Context, subject string) (cqrs.User, error) {
	return s.userByIndex(bucketUsersBySSO, []byte(subject))
}

// LinkSSOSubject links a provider subject to an account, once: a subject
// already linked to another account, or an account already linked to
// another subject, is ErrConflict. A new link queues notify (when not nil)
// to the owner in the same transaction, so an identity linked by someone
// else does not go unnoticed.
func (s *Store) LinkSSOSubject(ctx context.Context, userID uint64, subject string, notify *cqrs.Email, events ...cqrs.AuditEvent) (cqrs.User, error) {
	var u cqrs.User
	err := s.db.Update(func(tx *bolt.Tx) error {
		var err error
		if u, err = getUser(tx, userID); err != nil {
			return err
		}
		idx := tx.Bucket(bucketUsersBySSO)
		if existing := idx.Get([]byte(subject)); existing != nil && bytesToID(existing) != u.ID {
			return cqrs.ErrConflict
		}
		if u.SSOSubject != "" && u.SSOSubject != subject {
			return cqrs.ErrConflict
		}
		if u.SSOSubject == subject {
			return nil // already linked: nothing changes, nobody is told twice
		}
		u.SSOSubject = subject
		if err := idx.Put([]byte(subject), itob(u.ID)); err != nil {
			return err
		}
		if err := putUser(tx, u); err != nil {
			return err
		}
		if err := notifyOwner(tx, u, notify, s.now()); err != nil {
			return err
		}
		return recordEvents(tx, events, u, s.now())
	})
	if err != nil {
		return cqrs.User{}, fmt.Errorf("store: link sso: %w", err)
	}
	return u, nil
}

// UnlinkSSOSubject removes the account's provider link; the next NHSmail
// sign-in matches by email again.
func (s *Store) UnlinkSSOSubject(ctx context.Context, userID uint64, events ...cqrs.AuditEvent) (cqrs.User, error) {
	var u cqrs.User
	err := s.db.Update(func(tx *bolt.Tx) error {
		var err error
		if u, err = getUser(tx, userID); err != nil {
			return err
		}
		if u.SSOSubject != "" {
			if err := tx.Bucket(bucketUsersBySSO).Delete([]byte(u.SSOSubject)); err != nil {
				return err
			}
		}
		u.SSOSubject = ""
		if err := putUser(tx, u); err != nil {
			return err
		}
		return recordEvents(tx, events, u, s.now())
	})
	if err != nil {
		return cqrs.User{}, fmt.Errorf("store: unlink sso: %w", err)
	}
	return u, nil
}
