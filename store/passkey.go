package store

import (
	"bytes"
	"context"
	"fmt"
	"slices"

	bolt "go.etcd.io/bbolt"

	"github.com/cqrs-local/cqrs-signin/cqrs"
)

// Passkeys are kept under their credential ID (unique across everyone:
// an authenticator's answer names only its credential), and the
// ceremonies begun under their owner's token hash and purpose.
var (
	bucketPasskeys          = []byte("users.passkeys")
	bucketPasskeyChallenges = []byte("passkeys.challenges")
)

func challengeKey(owner []byte, purpose string) []byte {
	return append(append(bytes.Clone(owner), 0), purpose...)
}

func userPasskeys(tx *bolt.Tx, userID uint64) ([]cqrs.Passkey, error) {
	var out []cqrs.Passkey
	b := tx.Bucket(bucketPasskeys)
	err := b.ForEach(func(k, _ []byte) error {
		var p cqrs.Passkey
		if err := getJSON(b, k, &p); err != nil {
			return err
		}
		if p.UserID == userID {
			out = append(out, p)
		}
		return nil
	})
	slices.SortStableFunc(out, func(x, y cqrs.Passkey) int { return x.Added.Compare(y.Added) })
	return out, err
}

// storedPasskey is the passkey under id, or nil.
func storedPasskey(tx *bolt.Tx, id []byte) (*cqrs.Passkey, error) {
	var p cqrs.Passkey
	switch err := getJSON(tx.Bucket(bucketPasskeys), id, &p); err {
	case nil:
		return &p, nil
	case cqrs.ErrNotFound:
		return nil, nil
	default:
		return nil, err
	}
}

// SavePasskeyChallenge keeps a ceremony begun, replacing any other of the
// same owner and purpose, and purges the expired.
func (s *Store) SavePasskeyChallenge(ctx context.Context, ch cqrs.PasskeyChallenge) error {
	err := s.db.Update(func(tx *bolt.Tx) error {
		now := s.now()
		b := tx.Bucket(bucketPasskeyChallenges)
		if _, err := deleteWhere(b, func(_ []byte, c cqrs.PasskeyChallenge) bool { return !now.Before(c.Expires) }); err != nil {
			return err
		}
		return putJSON(b, challengeKey(ch.Owner, ch.Purpose), ch)
	})
	if err != nil {
		return fmt.Errorf("store: save passkey challenge: %w", err)
	}
	return nil
}

// TakePasskeyChallenge returns the ceremony of owner and purpose and
// forgets it, so it is answered once; cqrs.ErrExpired when there is none
// or its time is up.
func (s *Store) TakePasskeyChallenge(ctx context.Context, owner []byte, purpose string) (cqrs.PasskeyChallenge, error) {
	var ch cqrs.PasskeyChallenge
	err := s.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketPasskeyChallenges)
		key := challengeKey(owner, purpose)
		if err := getJSON(b, key, &ch); err != nil {
			return cqrs.ErrExpired
		}
		if err := b.Delete(key); err != nil {
			return err
		}
		if !s.now().Before(ch.Expires) {
			return cqrs.ErrExpired
		}
		return nil
	})
	if err != nil {
		return cqrs.PasskeyChallenge{}, fmt.Errorf("store: take passkey challenge: %w", err)
	}
	return ch, nil
}

// Passkeys are a person's passkeys, oldest first.
func (s *Store) Passkeys(ctx context.Context, userID uint64) ([]cqrs.Passkey, error) {
	var out []cqrs.Passkey
	err := s.db.View(func(tx *bolt.Tx) error {
		var err error
		out, err = userPasskeys(tx, userID)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("store: passkeys: %w", err)
	}
	return out, nil
}

// AddPasskey keeps a passkey registered by its signed-in owner, who must
// have a second factor already (cqrs.ErrNotFound otherwise): the first
// one is set up at sign-in, where recovery codes are given.
// cqrs.ErrConflict when the credential is registered already (to anyone)
// or the owner has cqrs.MaxPasskeys.
func (s *Store) AddPasskey(ctx context.Context, p cqrs.Passkey, events ...cqrs.AuditEvent) error {
	err := s.db.Update(func(tx *bolt.Tx) error {
		u, err := getUser(tx, p.UserID)
		if err != nil {
			return err
		}
		if f, err := secondFactor(tx, u.ID); err != nil || f == nil {
			return orRefuse(err, cqrs.ErrNotFound)
		}
		if old, err := storedPasskey(tx, p.ID); err != nil || old != nil {
			return orRefuse(err, cqrs.ErrConflict)
		}
		if owned, err := userPasskeys(tx, u.ID); err != nil || len(owned) >= cqrs.MaxPasskeys {
			return orRefuse(err, cqrs.ErrConflict)
		}
		p.Added = s.now()
		if err := putJSON(tx.Bucket(bucketPasskeys), p.ID, p); err != nil {
			return err
		}
		return recordEvents(tx, events, u, s.now())
	})
	if err != nil {
		return fmt.Errorf("store: add passkey: %w", err)
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

// ownPasskey is userID's passkey under id; cqrs.ErrNotFound when there is
// none or it is someone else's (the answer is the same).
func ownPasskey(tx *bolt.Tx, userID uint64, id []byte) (cqrs.Passkey, error) {
	p, err := storedPasskey(tx, id)
	if err != nil {
		return cqrs.Passkey{}, err
	}
	if p == nil || p.UserID != userID {
		return cqrs.Passkey{}, cqrs.ErrNotFound
	}
	return *p, nil
}

// RenamePasskey names one of userID's passkeys; cqrs.ErrNotFound when it
// is not theirs.
func (s *Store) RenamePasskey(ctx context.Context, userID uint64, id []byte, name string, events ...cqrs.AuditEvent) error {
	err := s.db.Update(func(tx *bolt.Tx) error {
		u, err := getUser(tx, userID)
		if err != nil {
			return err
		}
		p, err := ownPasskey(tx, userID, id)
		if err != nil {
			return err
		}
		p.Name = name
		if err := putJSON(tx.Bucket(bucketPasskeys), id, p); err != nil {
			return err
		}
		return recordEvents(tx, events, u, s.now())
	})
	if err != nil {
		return fmt.Errorf("store: rename passkey: %w", err)
	}
	return nil
}

// RemovePasskey forgets one of userID's passkeys (cqrs.ErrNotFound when it
// is not theirs) and returns how many they have left. Their last passkey
// gone with no authenticator app, their second factor goes too (recovery
// codes with it), so they set one up again at their next sign-in.
func (s *Store) RemovePasskey(ctx context.Context, userID uint64, id []byte, events ...cqrs.AuditEvent) (int, error) {
	left := 0
	err := s.db.Update(func(tx *bolt.Tx) error {
		u, err := getUser(tx, userID)
		if err != nil {
			return err
		}
		if _, err := ownPasskey(tx, userID, id); err != nil {
			return err
		}
		if err := tx.Bucket(bucketPasskeys).Delete(id); err != nil {
			return err
		}
		owned, err := userPasskeys(tx, userID)
		if err != nil {
			return err
		}
		left = len(owned)
		if f, err := secondFactor(tx, userID); err != nil {
			return err
		} else if left == 0 && f != nil && len(f.Sealed) == 0 {
			if err := tx.Bucket(bucketSecondFactors).Delete(itob(userID)); err != nil {
				return err
			}
		}
		return recordEvents(tx, events, u, s.now())
	})
	if err != nil {
		return 0, fmt.Errorf("store: remove passkey: %w", err)
	}
	return left, nil
}

// PasskeySignIn takes the decision for a passkey answer to the second step
// in one transaction (cqrs.PasskeyAttempt.Decide), after re-reading the
// account, its failure count, its lock, its factor and the passkey, as
// SecondFactorSignIn does for codes: one lockout holds both.
func (s *Store) PasskeySignIn(ctx context.Context, a cqrs.PasskeyAttempt) (cqrs.SignInResult, error) {
	var res cqrs.SignInResult
	err := s.db.Update(func(tx *bolt.Tx) error {
		res = cqrs.SignInResult{}
		now := s.now()
		p := cqrs.PendingSignIn{UserID: a.UserID, ReplacedSession: a.ReplacedSession}
		if a.Kind != cqrs.PasskeyKindSignIn {
			var err error
			if p, err = pendingSignIn(tx, a.PendingHash, now); err != nil {
				return err
			}
		}
		u, err := getUser(tx, p.UserID)
		if err != nil {
			return err
		}
		f, err := secondFactor(tx, u.ID)
		if err != nil {
			return err
		}
		stored, err := storedPasskey(tx, a.Passkey.ID)
		if err != nil {
			return err
		}
		owned, err := userPasskeys(tx, u.ID)
		if err != nil {
			return err
		}
		d := a.Decide(u, f, stored, len(owned), now)
		if d.SignIn {
			res.SignedIn = true
			if err := putJSON(tx.Bucket(bucketPasskeys), d.Passkey.ID, d.Passkey); err != nil {
				return err
			}
			if d.Factor != nil {
				if err := putJSON(tx.Bucket(bucketSecondFactors), itob(u.ID), d.Factor); err != nil {
					return err
				}
			}
			if a.PendingHash != nil {
				if err := tx.Bucket(bucketPendingSignIns).Delete(a.PendingHash); err != nil {
					return err
				}
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
		return cqrs.SignInResult{}, fmt.Errorf("store: passkey sign-in: %w", err)
	}
	return res, nil
}
