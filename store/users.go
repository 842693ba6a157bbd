package store

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/cqrs-local/cqrs-signin/cqrs"
)

func foldKey(s string) []byte { return []byte(strings.ToLower(s)) }

// putNewUser writes a new user and its unique indexes inside tx.
func putNewUser(tx *bolt.Tx, u *cqrs.User) error {
	byID, byEmail := tx.Bucket(bucketUsersByID), tx.Bucket(bucketUsersByEmail)
	if byID.Get(foldKey(u.UserID)) != nil || byEmail.Get(foldKey(u.Email)) != nil {
		return cqrs.ErrConflict
	}
	if tx.Bucket(bucketOrgs).Get(itob(u.OrgID)) == nil {
		return fmt.Errorf("organisation %d: %w", u.OrgID, cqrs.ErrNotFound)
	}
	users := tx.Bucket(bucketUsers)
	seq, err := users.NextSequence()
	if err != nil {
		return err
	}
	u.ID = seq
	if err := putUser(tx, *u); err != nil {
		return err
	}
	if err := byID.Put(foldKey(u.UserID), itob(u.ID)); err != nil {
		return err
	}
	return byEmail.Put(foldKey(u.Email), itob(u.ID))
}

func putNewOrg(tx *bolt.Tx, o *cqrs.Organisation) error {
	byODS := tx.Bucket(bucketOrgsByODS)
	key := foldKey(o.ODSCode)
	if byODS.Get(key) != nil {
		return cqrs.ErrConflict
	}
	orgs := tx.Bucket(bucketOrgs)
	seq, err := orgs.NextSequence()
	if err != nil {
		return err
	}
	o.ID = seq
	if err := putJSON(orgs, itob(o.ID), o); err != nil {
		return err
	}
	return byODS.Put(key, itob(o.ID))
}

func getUser(tx *bolt.Tx, id uint64) (cqrs.User, error) {
	var u cqrs.User
	err := getJSON(tx.Bucket(bucketUsers), itob(id), &u)
	return u, err
}

// putUser writes the record and its line in the summary index together, so
// the two never disagree.
func putUser(tx *bolt.Tx, u cqrs.User) error {
	if err := putJSON(tx.Bucket(bucketUsers), itob(u.ID), u); err != nil {
		return err
	}
	return putUserSummary(tx, u)
}

// User returns the user with the given record ID.
func (s *Store) User(ctx context.Context, id uint64) (cqrs.User, error) {
	var u cqrs.User
	err := s.db.View(func(tx *bolt.Tx) (err error) {
		u, err = getUser(tx, id)
		return err
	})
	if err != nil {
		return cqrs.User{}, fmt.Errorf("store: user %d: %w", id, err)
	}
	return u, nil
}

// UserByUserID finds a user by User ID, ignoring case.
func (s *Store) UserByUserID(ctx context.Context, userID string) (cqrs.User, error) {
	return s.userByIndex(bucketUsersByID, foldKey(userID))
}

// UserByEmail finds a user by email address, ignoring case.
func (s *Store) UserByEmail(ctx context.Context, email string) (cqrs.User, error) {
	return s.userByIndex(bucketUsersByEmail, foldKey(email))
}

// userByIndex finds a user through a unique index by its key as stored
// (folded for User IDs and emails, exact for single sign-on subjects).
func (s *Store) userByIndex(index, key []byte) (cqrs.User, error) {
	var u cqrs.User
	err := s.db.View(func(tx *bolt.Tx) error {
		id := tx.Bucket(index).Get(key)
		if id == nil {
			return cqrs.ErrNotFound
		}
		var err error
		u, err = getUser(tx, bytesToID(id))
		return err
	})
	return u, err
}

// Organisation returns the organisation with the given ID.
func (s *Store) Organisation(ctx context.Context, id uint64) (cqrs.Organisation, error) {
	var o cqrs.Organisation
	err := s.db.View(func(tx *bolt.Tx) error {
		raw := tx.Bucket(bucketOrgs).Get(itob(id))
		if raw == nil {
			return cqrs.ErrNotFound
		}
		var err error
		o, err = s.orgs.get(id, raw)
		return err
	})
	if err != nil {
		return cqrs.Organisation{}, fmt.Errorf("store: organisation %d: %w", id, err)
	}
	return o, nil
}

// HasUsers reports whether any account exists, without walking them.
func (s *Store) HasUsers(ctx context.Context) (bool, error) {
	var hasUsers bool
	err := s.db.View(func(tx *bolt.Tx) error {
		hasUsers = hasAny(tx.Bucket(bucketUsers))
		return nil
	})
	return hasUsers, err
}

// CountUsers returns how many accounts exist.
func (s *Store) CountUsers(ctx context.Context) (int, error) {
	var n int
	err := s.db.View(func(tx *bolt.Tx) error {
		n = tx.Bucket(bucketUsers).Stats().KeyN
		return nil
	})
	return n, err
}

func bytesToID(b []byte) uint64 {
	var v uint64
	for _, c := range bytes.Clone(b) {
		v = v<<8 | uint64(c)
	}
	return v
}

// CreateOrganisation adds an organisation; its ODS code is unique ignoring case.
func (s *Store) CreateOrganisation(ctx context.Context, o cqrs.Organisation) (cqrs.Organisation, error) {
	err := s.db.Update(func(tx *bolt.Tx) error { return putNewOrg(tx, &o) })
	if err != nil {
		return cqrs.Organisation{}, fmt.Errorf("store: create organisation: %w", err)
	}
	return o, nil
}

// CreateUser adds an invited user, their registration link and (when
// email is not nil) the registration email in one transaction: the account
// never exists without its way in, and the email is never lost.
func (s *Store) CreateUser(ctx context.Context, u cqrs.User, linkHash []byte, linkTTL time.Duration, email *cqrs.Email, events ...cqrs.AuditEvent) (cqrs.User, error) {
	err := s.db.Update(func(tx *bolt.Tx) error {
		now := s.now()
		u.Status = cqrs.StatusInvited
		u.Created = now
		if err := putNewUser(tx, &u); err != nil {
			return err
		}
		if err := putLink(tx, linkHash, cqrs.Link{UserID: u.ID, Purpose: cqrs.LinkRegister, Created: now, Expires: now.Add(linkTTL)}); err != nil {
			return err
		}
		u.InviteExpires = now.Add(linkTTL)
		if err := putUser(tx, u); err != nil {
			return err
		}
		if email != nil {
			email.UserID, email.OrgID = u.ID, u.OrgID
			if err := enqueueEmail(tx, email, now); err != nil {
				return err
			}
		}
		return recordEvents(tx, events, u, now)
	})
	if err != nil {
		return cqrs.User{}, fmt.Errorf("store: create user: %w", err)
	}
	return u, nil
}

// SetStatus enables or disables an account; disabling ends its sessions.
func (s *Store) SetStatus(ctx context.Context, id uint64, status cqrs.Status, events ...cqrs.AuditEvent) (cqrs.User, error) {
	var u cqrs.User
	err := s.db.Update(func(tx *bolt.Tx) error {
		var err error
		if u, err = getUser(tx, id); err != nil {
			return err
		}
		endSessions := u.SetStatus(status)
		if err := putUser(tx, u); err != nil {
			return err
		}
		if endSessions {
			if err := deleteUserSessions(tx, u.ID, nil); err != nil {
				return err
			}
		}
		return recordEvents(tx, events, u, s.now())
	})
	if err != nil {
		return cqrs.User{}, fmt.Errorf("store: set status: %w", err)
	}
	return u, nil
}
