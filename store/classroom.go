package store

import (
	"bytes"
	"context"
	"fmt"
	"github.com/cqrs-local/cqrs-signin/cqrs"
	"time"

	bolt "go.etcd.io/bbolt"
)

// The classroom: what the trainer does to one learner from the class
// board. Each change and its audit entry are one transaction.

// learnerByAccount finds the learner record of CQRS user accountID, with
// the key (the learner cookie's hash) it is stored under.
func learnerByAccount(tx *bolt.Tx, accountID uint64) ([]byte, cqrs.Learner, error) {
	b := tx.Bucket(bucketLearners)
	if b == nil {
		return nil, cqrs.Learner{}, cqrs.ErrNotFound
	}
	var (
		key   []byte
		found cqrs.Learner
	)
	err := b.ForEach(func(k, _ []byte) error {
		var l cqrs.Learner
		if err := getJSON(b, k, &l); err != nil {
			return err
		}
		if l.AccountID == accountID {
			key, found = bytes.Clone(k), l
		}
		return nil
	})
	if err != nil {
		return nil, cqrs.Learner{}, err
	}
	if key == nil {
		return nil, cqrs.Learner{}, cqrs.ErrNotFound
	}
	return key, found, nil
}

// learnerUpdate runs change on a learner's CQRS user inside one write
// transaction, saves the user and appends event.
func (s *Store) learnerUpdate(accountID uint64, event cqrs.AuditEvent, change func(tx *bolt.Tx, l *cqrs.Learner, u *cqrs.User, now time.Time) error) (cqrs.User, error) {
	var u cqrs.User
	err := s.db.Update(func(tx *bolt.Tx) error {
		key, l, err := learnerByAccount(tx, accountID)
		if err != nil {
			return err
		}
		if u, err = getUser(tx, accountID); err != nil {
			return err
		}
		now := s.now()
		before := l
		if err := change(tx, &l, &u, now); err != nil {
			return err
		}
		if err := putUser(tx, u); err != nil {
			return err
		}
		if l != before {
			if err := putJSON(tx.Bucket(bucketLearners), key, l); err != nil {
				return err
			}
		}
		event.Subject, event.OrgID = u.UserID, u.OrgID
		return appendAudit(tx, &event, now)
	})
	if err != nil {
		return cqrs.User{}, fmt.Errorf("store: learner %d: %w", accountID, err)
	}
	return u, nil
}

// MoveLearnerClock moves one learner's own clock forward by d, on top of
// the class's: their 72 hours, links and lock run ahead, nobody else's.
func (s *Store) MoveLearnerClock(ctx context.Context, accountID uint64, d time.Duration, event cqrs.AuditEvent) (cqrs.User, error) {
	return s.learnerUpdate(accountID, event, func(_ *bolt.Tx, _ *cqrs.Learner, u *cqrs.User, _ time.Time) error {
		u.ClockOffset += d
		return nil
	})
}

// LockLearner locks a learner's CQRS account as too many failed sign-ins
// would: the failure count at lockAfter, the lock, and the owner's email
// with an unlock link (notice composes it, as for a real lockout).
func (s *Store) LockLearner(ctx context.Context, accountID uint64, lockAfter int, linkTTL time.Duration, notice func(u cqrs.User, expires time.Time) (cqrs.Email, []byte), event cqrs.AuditEvent) (cqrs.User, error) {
	return s.learnerUpdate(accountID, event, func(tx *bolt.Tx, _ *cqrs.Learner, u *cqrs.User, now time.Time) error {
		if u.Status != cqrs.StatusActive || u.PasswordHash == "" || !u.LockedAt.IsZero() {
			return cqrs.ErrConflict // not registered yet, or locked already
		}
		own := u.Clock(now)
		u.FailedSignIns, u.LockedAt = max(lockAfter, 1), own
		if err := deleteUserSessions(tx, u.ID, nil); err != nil {
			return err
		}
		if notice == nil {
			return nil
		}
		email, linkHash := notice(*u, own.Add(linkTTL))
		if err := putLink(tx, linkHash, cqrs.Link{UserID: u.ID, Purpose: cqrs.LinkReset, Created: own, Expires: own.Add(linkTTL)}); err != nil {
			return err
		}
		return notifyOwner(tx, *u, &email, now)
	})
}

// ExpireLearnerLink makes a learner's registration link out of date now,
// on their own clock, as if its 14 days had passed.
func (s *Store) ExpireLearnerLink(ctx context.Context, accountID uint64, event cqrs.AuditEvent) (cqrs.User, error) {
	return s.learnerUpdate(accountID, event, func(tx *bolt.Tx, _ *cqrs.Learner, u *cqrs.User, now time.Time) error {
		if u.PasswordHash != "" {
			return cqrs.ErrConflict // registered: the link is spent anyway
		}
		own := u.Clock(now)
		links := tx.Bucket(bucketLinks)
		var keys [][]byte
		err := links.ForEach(func(k, _ []byte) error {
			var l cqrs.Link
			if err := getJSON(links, k, &l); err != nil {
				return err
			}
			if l.UserID == u.ID && l.Purpose == cqrs.LinkRegister && l.Used.IsZero() {
				keys = append(keys, bytes.Clone(k))
			}
			return nil
		})
		if err != nil {
			return err
		}
		for _, k := range keys {
			var l cqrs.Link
			if err := getJSON(links, k, &l); err != nil {
				return err
			}
			l.Expires = own
			if err := putJSON(links, k, l); err != nil {
				return err
			}
		}
		u.InviteExpires = own
		return nil
	})
}

// GiveLearnerNoCQRS gives a learner a second NHSmail account, with the
// password of their own, whose email no CQRS account has: signing in with
// it ends on the "no CQRS account" page (step 5 of the user guide).
func (s *Store) GiveLearnerNoCQRS(ctx context.Context, accountID uint64, event cqrs.AuditEvent) (cqrs.Learner, error) {
	var out cqrs.Learner
	_, err := s.learnerUpdate(accountID, event, func(tx *bolt.Tx, l *cqrs.Learner, _ *cqrs.User, now time.Time) error {
		accounts := tx.Bucket(bucketNHSmailAccounts)
		var own cqrs.NHSmailAccount
		if err := getJSON(accounts, itob(l.NHSmailID), &own); err != nil {
			return err
		}
		if l.NoCQRSNHSmailID != 0 {
			var extra cqrs.NHSmailAccount
			if err := getJSON(accounts, itob(l.NoCQRSNHSmailID), &extra); err != nil {
				return err
			}
			extra.Disabled, extra.Locked, extra.PasswordHash = false, false, own.PasswordHash
			l.NoCQRSActive = true
			out = *l
			return putJSON(accounts, itob(extra.ID), extra)
		}
		extra, err := putNHSmailAccount(tx, cqrs.NHSmailAccount{Email: cqrs.NoCQRSEmail(*l), FirstName: own.FirstName,
			LastName: own.LastName, PasswordHash: own.PasswordHash}, now)
		if err != nil {
			return err
		}
		l.NoCQRSNHSmailID, l.NoCQRSActive = extra.ID, true
		out = *l
		return nil
	})
	return out, err
}

// LockLearnerNHSmail locks the learner's own NHSmail account.
func (s *Store) LockLearnerNHSmail(ctx context.Context, accountID uint64, event cqrs.AuditEvent) (cqrs.User, error) {
	return s.learnerUpdate(accountID, event, func(tx *bolt.Tx, l *cqrs.Learner, _ *cqrs.User, _ time.Time) error {
		return setNHSmailLocked(tx, l.NHSmailID, true)
	})
}

func setNHSmailLocked(tx *bolt.Tx, id uint64, locked bool) error {
	accounts := tx.Bucket(bucketNHSmailAccounts)
	var a cqrs.NHSmailAccount
	if err := getJSON(accounts, itob(id), &a); err != nil {
		return err
	}
	a.Locked = locked
	if err := putJSON(accounts, itob(id), a); err != nil {
		return err
	}
	if locked {
		return deleteNHSmailSessionsOf(tx, id)
	}
	return nil
}

// ResetLearner puts a learner back at step 1: no password, history,
// sessions, single sign-on link or lock, their own clock at the class's,
// their NHSmail account unlocked (and the one without a CQRS account
// disabled), and a fresh registration link with its email; the old links
// stop working.
func (s *Store) ResetLearner(ctx context.Context, accountID uint64, linkHash []byte, linkTTL time.Duration, email cqrs.Email, event cqrs.AuditEvent) (cqrs.User, error) {
	return s.learnerUpdate(accountID, event, func(tx *bolt.Tx, l *cqrs.Learner, u *cqrs.User, now time.Time) error {
		if _, err := deleteWhere(tx.Bucket(bucketLinks), func(_ []byte, k cqrs.Link) bool { return k.UserID == u.ID }); err != nil {
			return err
		}
		if err := tx.Bucket(bucketPasswordHistory).Delete(itob(u.ID)); err != nil {
			return err
		}
		if err := deleteUserSessions(tx, u.ID, nil); err != nil {
			return err
		}
		if u.SSOSubject != "" {
			if err := tx.Bucket(bucketUsersBySSO).Delete([]byte(u.SSOSubject)); err != nil {
				return err
			}
		}
		if err := setNHSmailLocked(tx, l.NHSmailID, false); err != nil {
			return err
		}
		if l.NoCQRSNHSmailID != 0 {
			accounts := tx.Bucket(bucketNHSmailAccounts)
			var extra cqrs.NHSmailAccount
			if err := getJSON(accounts, itob(l.NoCQRSNHSmailID), &extra); err != nil {
				return err
			}
			extra.Disabled, l.NoCQRSActive = true, false
			if err := putJSON(accounts, itob(extra.ID), extra); err != nil {
				return err
			}
			if err := deleteNHSmailSessionsOf(tx, extra.ID); err != nil {
				return err
			}
		}
		u.PasswordHash, u.PasswordChanged, u.Status = "", time.Time{}, cqrs.StatusInvited
		u.FailedSignIns, u.LockedAt, u.LastSignIn, u.SSOSubject = 0, time.Time{}, time.Time{}, ""
		u.ClockOffset, u.InviteRevoked, u.InviteExpires = 0, false, now.Add(linkTTL)
		if err := putLink(tx, linkHash, cqrs.Link{UserID: u.ID, Purpose: cqrs.LinkRegister, Created: now, Expires: u.InviteExpires}); err != nil {
			return err
		}
		return notifyOwner(tx, *u, &email, now)
	})
}

// ClaimCohortLearner gives the next cohort account nobody has taken (and
// nobody has registered) to someone at the join page: the learner record
// moves under tokenHash, their new cookie, so the sheet's join address no
// longer works, and their NHSmail password becomes nhsmailHash, shown to
// them once. ErrNotFound when every cohort account is taken.
func (s *Store) ClaimCohortLearner(ctx context.Context, tokenHash []byte, nhsmailHash string, event cqrs.AuditEvent) (cqrs.Learner, error) {
	var out cqrs.Learner
	err := s.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketLearners)
		if b == nil {
			return cqrs.ErrNotFound
		}
		if b.Get(tokenHash) != nil {
			return cqrs.ErrConflict
		}
		var (
			key  []byte
			next cqrs.Learner
		)
		err := b.ForEach(func(k, _ []byte) error {
			var l cqrs.Learner
			if err := getJSON(b, k, &l); err != nil {
				return err
			}
			if !l.Cohort || l.Claimed || (key != nil && next.UserID < l.UserID) {
				return nil
			}
			if u, err := getUser(tx, l.AccountID); err != nil || u.PasswordHash != "" {
				return err
			}
			key, next = bytes.Clone(k), l
			return nil
		})
		if err != nil {
			return err
		}
		if key == nil {
			return cqrs.ErrNotFound
		}
		next.Claimed = true
		if err := b.Delete(key); err != nil {
			return err
		}
		if err := putJSON(b, tokenHash, next); err != nil {
			return err
		}
		accounts := tx.Bucket(bucketNHSmailAccounts)
		var acc cqrs.NHSmailAccount
		if err := getJSON(accounts, itob(next.NHSmailID), &acc); err != nil {
			return err
		}
		acc.PasswordHash = nhsmailHash
		if err := putJSON(accounts, itob(acc.ID), acc); err != nil {
			return err
		}
		out = next
		event.Subject = next.UserID
		return appendAudit(tx, &event, s.now())
	})
	if err != nil {
		return cqrs.Learner{}, fmt.Errorf("store: claim cohort learner: %w", err)
	}
	return out, nil
}
