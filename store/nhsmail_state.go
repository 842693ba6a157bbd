package store

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/cqrs-local/cqrs-signin/cqrs"
)

// The embedded NHSmail simulator's OpenID provider keeps what is in flight
// here — authorize requests that have signed in, codes, consent pages
// waiting for an answer, access tokens — so a restart in the middle of a
// sign-in loses nothing. The store does not know the records' shapes: the
// provider hands it JSON values under a kind (a nested bucket) and a key,
// each with an expiry the store enforces.

// bucketNHSmailState holds one nested bucket per kind. It is created on the
// first write, like the directory's email index, so Open's bucket list stays
// as it was; a View that finds it missing finds nothing.
var bucketNHSmailState = []byte("nhsmail.state")

// nhsmailStateRecord is the envelope of every value.
type nhsmailStateRecord struct {
	Expires time.Time       `json:"expires"`
	Value   json.RawMessage `json:"value"`
}

// nhsmailStateTx is cqrs.NHSmailStateTx inside one bbolt transaction.
type nhsmailStateTx struct {
	tx       *bolt.Tx
	now      time.Time
	writable bool
}

func (t nhsmailStateTx) bucket(kind string, create bool) (*bolt.Bucket, error) {
	root := t.tx.Bucket(bucketNHSmailState)
	if root == nil {
		if !create {
			return nil, nil
		}
		var err error
		if root, err = t.tx.CreateBucketIfNotExists(bucketNHSmailState); err != nil {
			return nil, err
		}
	}
	b := root.Bucket([]byte(kind))
	if b == nil && create {
		return root.CreateBucketIfNotExists([]byte(kind))
	}
	return b, nil
}

// Get decodes the value of kind/key into v. A missing or expired value is
// ErrNotFound: expired ones are as good as gone (a sweep deletes them).
func (t nhsmailStateTx) Get(kind string, key []byte, v any) error {
	b, err := t.bucket(kind, false)
	if err != nil {
		return err
	}
	if b == nil {
		return cqrs.ErrNotFound
	}
	raw := b.Get(key)
	if raw == nil {
		return cqrs.ErrNotFound
	}
	var rec nhsmailStateRecord
	if err := json.Unmarshal(raw, &rec); err != nil {
		return fmt.Errorf("store: NHSmail state %s: %w", kind, err)
	}
	if !t.now.Before(rec.Expires) {
		return cqrs.ErrNotFound
	}
	return json.Unmarshal(rec.Value, v)
}

// Put stores v under kind/key until expires.
func (t nhsmailStateTx) Put(kind string, key []byte, v any, expires time.Time) error {
	if !t.writable {
		return errors.New("store: NHSmail state written in a read-only transaction")
	}
	value, err := json.Marshal(v)
	if err != nil {
		return err
	}
	b, err := t.bucket(kind, true)
	if err != nil {
		return err
	}
	return putJSON(b, key, nhsmailStateRecord{Expires: expires, Value: value})
}

// Delete removes kind/key; a missing one is not an error.
func (t nhsmailStateTx) Delete(kind string, key []byte) error {
	b, err := t.bucket(kind, false)
	if err != nil || b == nil {
		return err
	}
	return b.Delete(key)
}

// Now is the store's clock, read once for the transaction.
func (t nhsmailStateTx) Now() time.Time { return t.now }

// UpdateNHSmailState runs fn in one write transaction.
func (s *Store) UpdateNHSmailState(ctx context.Context, fn func(cqrs.NHSmailStateTx) error) error {
	err := s.db.Update(func(tx *bolt.Tx) error {
		return fn(nhsmailStateTx{tx: tx, now: s.now(), writable: true})
	})
	if err != nil {
		return fmt.Errorf("store: NHSmail state: %w", err)
	}
	return nil
}

// ViewNHSmailState runs fn in one read transaction.
func (s *Store) ViewNHSmailState(ctx context.Context, fn func(cqrs.NHSmailStateTx) error) error {
	err := s.db.View(func(tx *bolt.Tx) error {
		return fn(nhsmailStateTx{tx: tx, now: s.now()})
	})
	if err != nil {
		return fmt.Errorf("store: NHSmail state: %w", err)
	}
	return nil
}

// DeleteExpiredNHSmailState removes every expired value; bbolt has no TTL,
// so the app sweeps now and then, as it does the simulator's sessions.
func (s *Store) DeleteExpiredNHSmailState(ctx context.Context) (int, error) {
	now := s.now()
	n := 0
	err := s.db.Update(func(tx *bolt.Tx) error {
		root := tx.Bucket(bucketNHSmailState)
		if root == nil {
			return nil
		}
		return root.ForEach(func(kind, v []byte) error {
			b := root.Bucket(kind)
			if v != nil || b == nil {
				return nil
			}
			var doomed [][]byte
			err := b.ForEach(func(k, raw []byte) error {
				var rec nhsmailStateRecord
				if json.Unmarshal(raw, &rec) != nil || !now.Before(rec.Expires) {
					doomed = append(doomed, bytes.Clone(k))
				}
				return nil
			})
			if err != nil {
				return err
			}
			for _, k := range doomed {
				if err := b.Delete(k); err != nil {
					return err
				}
			}
			n += len(doomed)
			return nil
		})
	})
	if err != nil {
		return 0, fmt.Errorf("store: delete expired NHSmail state: %w", err)
	}
	return n, nil
}

// NHSmailProviderKey returns 32 random bytes kept under name, made at the
// first call: the keys that must outlive a restart for sign-ins in flight
// to survive it (the sign-in form's CSRF key, the access tokens' key).
func (s *Store) NHSmailProviderKey(ctx context.Context, name string) ([]byte, error) {
	key, err := s.metaValue([]byte("provider-key."+name), func(v []byte) bool { return len(v) == 32 }, func() ([]byte, error) {
		key := make([]byte, 32)
		_, err := rand.Read(key)
		return key, err
	})
	if err != nil {
		return nil, fmt.Errorf("store: NHSmail provider key %s: %w", name, err)
	}
	return key, nil
}
