package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/cqrs-local/cqrs-signin/cqrs"
)

type setupRecord struct {
	Hash    []byte    `json:"hash"`
	Created time.Time `json:"created"`
}

// putLink stores a new link for u and revokes the user's earlier unused
// links of the same purpose, so only the newest email works.
func putLink(tx *bolt.Tx, hash []byte, l cqrs.Link) error {
	links := tx.Bucket(bucketLinks)
	_, err := deleteWhere(links, func(_ []byte, old cqrs.Link) bool {
		return old.UserID == l.UserID && old.Purpose == l.Purpose && old.Used.IsZero()
	})
	if err != nil {
		return err
	}
	return putJSON(links, hash, l)
}

// LinkUser returns a usable link and its user. Unknown and used links are
// ErrNotFound, out-of-date ones ErrExpired.
func (s *Store) LinkUser(ctx context.Context, hash []byte, purpose cqrs.LinkPurpose) (cqrs.Link, cqrs.User, error) {
	var (
		l cqrs.Link
		u cqrs.User
	)
	err := s.db.View(func(tx *bolt.Tx) error {
		if err := getJSON(tx.Bucket(bucketLinks), hash, &l); err != nil {
			return err
		}
		if l.Purpose != purpose {
			return cqrs.ErrNotFound
		}
		var err error
		if u, err = getUser(tx, l.UserID); err != nil {
			return err
		}
		return l.Usable(u.Clock(s.now()))
	})
	if err != nil {
		return cqrs.Link{}, cqrs.User{}, fmt.Errorf("store: link: %w", err)
	}
	return l, u, nil
}

// SetPasswordWithLink consumes the link, moves the current hash into the
// history, stores the new hash, activates and unlocks the account, and
// queues notify (when not nil), all in one transaction: either the link is
// spent and the password set, or neither. A reset also ends every session
// of the user.
func (s *Store) SetPasswordWithLink(ctx context.Context, linkHash []byte, purpose cqrs.LinkPurpose, newHash string, notify *cqrs.Email, events ...cqrs.AuditEvent) (cqrs.User, error) {
	var u cqrs.User
	err := s.db.Update(func(tx *bolt.Tx) error {
		links := tx.Bucket(bucketLinks)
		var l cqrs.Link
		if err := getJSON(links, linkHash, &l); err != nil {
			return err
		}
		var err error
		if u, err = getUser(tx, l.UserID); err != nil {
			return err
		}
		// The link and the password change are in the user's own time; the
		// email is queued in the shared time the outbox runs on.
		classNow := s.now()
		var previous string
		if l, u, previous, err = cqrs.UseLink(l, u, purpose, newHash, u.Clock(classNow)); err != nil {
			return err
		}
		if err := putJSON(links, linkHash, l); err != nil {
			return err
		}
		if err := keepInHistory(tx, u.ID, previous); err != nil {
			return err
		}
		if err := putUser(tx, u); err != nil {
			return err
		}
		if purpose.EndsSessions() {
			if err := deleteUserSessions(tx, u.ID, nil); err != nil {
				return err
			}
		}
		if err := notifyOwner(tx, u, notify, classNow); err != nil {
			return err
		}
		return recordEvents(tx, events, u, classNow)
	})
	if err != nil {
		return cqrs.User{}, fmt.Errorf("store: set password with link: %w", err)
	}
	return u, nil
}

// keepInHistory stores the user's history once previous has been
// replaced (cqrs.NextPasswordHistory).
func keepInHistory(tx *bolt.Tx, userID uint64, previous string) error {
	if previous == "" {
		return nil
	}
	history, err := passwordHistory(tx, userID)
	if err != nil {
		return err
	}
	return putJSON(tx.Bucket(bucketPasswordHistory), itob(userID), cqrs.NextPasswordHistory(history, previous))
}

func passwordHistory(tx *bolt.Tx, userID uint64) ([]string, error) {
	var history []string
	err := getJSON(tx.Bucket(bucketPasswordHistory), itob(userID), &history)
	if errors.Is(err, cqrs.ErrNotFound) {
		return nil, nil
	}
	return history, err
}

// PasswordHistory returns the user's previous password hashes, newest
// first, for the "previous 8 passwords" rule.
func (s *Store) PasswordHistory(ctx context.Context, userID uint64) ([]string, error) {
	var history []string
	err := s.db.View(func(tx *bolt.Tx) (err error) {
		history, err = passwordHistory(tx, userID)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("store: password history: %w", err)
	}
	return history, nil
}

// SetSetupToken records the hash of the one-time set-up token printed at
// first start. It refuses with ErrConflict once any account exists.
func (s *Store) SetSetupToken(ctx context.Context, hash []byte) error {
	return s.db.Update(func(tx *bolt.Tx) error {
		if hasAny(tx.Bucket(bucketUsers)) {
			return cqrs.ErrConflict
		}
		return putJSON(tx.Bucket(bucketMeta), keySetup, setupRecord{Hash: hash, Created: s.now()})
	})
}

// SetupPending reports whether hash is the current set-up token's hash.
func (s *Store) SetupPending(ctx context.Context, hash []byte) bool {
	var ok bool
	s.db.View(func(tx *bolt.Tx) error {
		var rec setupRecord
		if getJSON(tx.Bucket(bucketMeta), keySetup, &rec) == nil {
			ok = constantTimeEqual(rec.Hash, hash)
		}
		return nil
	})
	return ok
}

// CompleteSetup creates the first organisation, the system administrator and
// their registration link, and spends the set-up token, in one transaction.
func (s *Store) CompleteSetup(ctx context.Context, setupHash []byte, org cqrs.Organisation, admin cqrs.User, linkHash []byte, linkTTL time.Duration, events ...cqrs.AuditEvent) (cqrs.User, error) {
	err := s.db.Update(func(tx *bolt.Tx) error {
		meta := tx.Bucket(bucketMeta)
		var rec setupRecord
		if err := getJSON(meta, keySetup, &rec); err != nil || !constantTimeEqual(rec.Hash, setupHash) {
			return cqrs.ErrNotFound
		}
		if hasAny(tx.Bucket(bucketUsers)) {
			return cqrs.ErrConflict
		}
		now := s.now()
		if err := putNewOrg(tx, &org); err != nil {
			return err
		}
		admin.OrgID = org.ID
		admin.Role = cqrs.RoleSystemAdmin
		admin.Status = cqrs.StatusInvited
		admin.Created = now
		admin.InviteExpires = now.Add(linkTTL)
		if err := putNewUser(tx, &admin); err != nil {
			return err
		}
		if err := putLink(tx, linkHash, cqrs.Link{UserID: admin.ID, Purpose: cqrs.LinkRegister, Created: now, Expires: now.Add(linkTTL)}); err != nil {
			return err
		}
		if err := meta.Delete(keySetup); err != nil {
			return err
		}
		return recordEvents(tx, events, admin, now)
	})
	if err != nil {
		return cqrs.User{}, fmt.Errorf("store: complete set-up: %w", err)
	}
	return admin, nil
}
