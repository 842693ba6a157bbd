// Package store keeps everything persistent in one bbolt file: organisations,
// users, single-use links, sessions and the application's own secrets.
package store

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/cqrs-local/cqrs-signin/cqrs"
)

// ErrLocked means another process holds the database file.
var ErrLocked = errors.New("store: database file is locked by another process")

// Bucket names. Unique indexes live in sibling buckets written in the same
// transaction as the record they point to.
var (
	bucketMeta         = []byte("meta")
	bucketOrgs         = []byte("orgs")
	bucketOrgsByODS    = []byte("orgs.ods")
	bucketUsers        = []byte("users")
	bucketUsersByID    = []byte("users.userid")
	bucketUsersByEmail = []byte("users.email")
	bucketLinks        = []byte("links")
	bucketSessions     = []byte("sessions")
	bucketMessages     = []byte("messages")
	bucketOutbox       = []byte("outbox")
	bucketAudit        = []byte("audit")
	bucketUsersBySSO   = []byte("users.sso")
	bucketUsersSummary = []byte("users.summary")
	// bucketPasswordHistory keeps each user's previous hashes apart from
	// the record read on every signed-in page.
	bucketPasswordHistory = []byte("users.history")
	bucketSSOPending      = []byte("sso.pending")
	// The embedded NHSmail simulator's directory and signing key.
	bucketNHSmailAccounts = []byte("nhsmail.accounts")
	bucketNHSmailMeta     = []byte("nhsmail.meta")
	bucketNHSmailSessions = []byte("nhsmail.sessions")

	keySchema   = []byte("schema")
	keyCSRF     = []byte("csrf-key")
	keyInstance = []byte("instance-id")
	keySetup    = []byte("setup")
	allBuckets  = [][]byte{bucketMeta, bucketOrgs, bucketOrgsByODS, bucketUsers, bucketUsersByID, bucketUsersByEmail, bucketLinks, bucketSessions, bucketMessages, bucketOutbox, bucketAudit, bucketUsersBySSO, bucketSSOPending, bucketUsersSummary, bucketPasswordHistory, bucketNHSmailAccounts, bucketNHSmailMeta, bucketNHSmailSessions, bucketSecondFactors, bucketPendingSignIns, bucketPasskeys, bucketPasskeyChallenges}
	errNoBucket = errors.New("store: bucket missing")
)

// migrations bring a database from version i to i+1. Append only: a file
// written by an older binary is upgraded in place at open.
var migrations = []func(tx *bolt.Tx) error{
	// 1: the initial buckets.
	func(tx *bolt.Tx) error {
		for _, name := range allBuckets {
			if _, err := tx.CreateBucketIfNotExists(name); err != nil {
				return err
			}
		}
		return nil
	},
	// 2: the administration list's summary index, built from the users.
	func(tx *bolt.Tx) error {
		if _, err := tx.CreateBucketIfNotExists(bucketUsersSummary); err != nil {
			return err
		}
		users := tx.Bucket(bucketUsers)
		return users.ForEach(func(k, v []byte) error {
			var u cqrs.User
			if err := getJSON(users, k, &u); err != nil {
				return err
			}
			return putUserSummary(tx, u)
		})
	},
	// 3: previous password hashes move out of the user records.
	func(tx *bolt.Tx) error {
		history, err := tx.CreateBucketIfNotExists(bucketPasswordHistory)
		if err != nil {
			return err
		}
		users := tx.Bucket(bucketUsers)
		var moved []cqrs.User
		err = users.ForEach(func(k, v []byte) error {
			var old struct {
				History []string `json:"password_history"`
			}
			if err := getJSON(users, k, &old); err != nil || len(old.History) == 0 {
				return err
			}
			if err := putJSON(history, k, old.History); err != nil {
				return err
			}
			var u cqrs.User
			if err := getJSON(users, k, &u); err != nil {
				return err
			}
			moved = append(moved, u)
			return nil
		})
		if err != nil {
			return err
		}
		for _, u := range moved { // rewritten without the old field
			if err := putUser(tx, u); err != nil {
				return err
			}
		}
		return nil
	},
}

// SchemaVersion is the version this binary writes.
var SchemaVersion = uint64(len(migrations))

// Options tune Open.
type Options struct {
	// LockTimeout bounds the wait for bbolt's file lock; without it a second
	// process would hang forever on a file the first one holds.
	LockTimeout time.Duration
	// Now is the clock; tests inject their own.
	Now func() time.Time
}

// Store is the application's database.
type Store struct {
	db       *bolt.DB
	now      func() time.Time
	users    decodeCache[uint64, cqrs.User]
	orgs     decodeCache[uint64, cqrs.Organisation]
	sessions decodeCache[[32]byte, cqrs.Session] // keyed by the token's SHA-256
	messages decodeCache[[16]byte, cqrs.Message] // bounded by Open: bodies can be long
}

// Open opens (creating when missing) the database at path, creates its
// buckets and runs pending migrations. An existing file that is not a whole
// bbolt database (empty, zeroed, truncated, something else) is refused with
// ErrCorrupt and left exactly as it was: bbolt would otherwise initialise an
// empty file as a new database, or fault reading pages past a truncated end.
func Open(path string, opts Options) (*Store, error) {
	if opts.LockTimeout <= 0 {
		opts.LockTimeout = time.Second
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if err := createIfMissing(path); err != nil {
		return nil, err
	}
	if err := checkFile(path); err != nil {
		// A writer in another process may have been between its two meta
		// pages; look once more before calling the file damaged.
		time.Sleep(20 * time.Millisecond)
		if err = checkFile(path); err != nil {
			return nil, corrupt(path, err)
		}
	}
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: opts.LockTimeout})
	if errors.Is(err, bolt.ErrTimeout) {
		return nil, fmt.Errorf("%w: %s", ErrLocked, path)
	}
	if errors.Is(err, bolt.ErrInvalid) || errors.Is(err, bolt.ErrChecksum) || errors.Is(err, bolt.ErrVersionMismatch) {
		return nil, corrupt(path, err)
	}
	if err != nil {
		return nil, fmt.Errorf("store: open %s: %w", path, err)
	}
	s := &Store{db: db, now: opts.Now, messages: decodeCache[[16]byte, cqrs.Message]{max: maxDecodedMessages}}
	if err := s.migrate(); err != nil {
		db.Close()
		return nil, err
	}
	return s, nil
}

func (s *Store) migrate() error {
	// A file this binary has opened before needs nothing: seen in a read
	// transaction, the start makes no write (two waits for the disk).
	current := false
	if err := s.db.View(func(tx *bolt.Tx) error { current = upToDate(tx); return nil }); err != nil || current {
		return err
	}
	return s.db.Update(func(tx *bolt.Tx) error {
		meta, err := tx.CreateBucketIfNotExists(bucketMeta)
		if err != nil {
			return fmt.Errorf("store: migrate: %w", err)
		}
		var version uint64
		if v := meta.Get(keySchema); len(v) == 8 {
			version = binary.BigEndian.Uint64(v)
		}
		if version > SchemaVersion {
			return fmt.Errorf("store: database schema %d is newer than this binary's %d", version, SchemaVersion)
		}
		for ; version < SchemaVersion; version++ {
			if err := migrations[version](tx); err != nil {
				return fmt.Errorf("store: migrate to %d: %w", version+1, err)
			}
		}
		// Every bucket exists after open, whichever version made the file.
		for _, name := range allBuckets {
			if _, err := tx.CreateBucketIfNotExists(name); err != nil {
				return fmt.Errorf("store: create bucket %s: %w", name, err)
			}
		}
		if err := meta.Put(keySchema, itob(version)); err != nil {
			return err
		}
		if meta.Get(keyCSRF) == nil {
			key := make([]byte, 32)
			if _, err := rand.Read(key); err != nil {
				return err
			}
			if err := meta.Put(keyCSRF, key); err != nil {
				return err
			}
		}
		if meta.Get(keyInstance) == nil {
			id := make([]byte, 5)
			if _, err := rand.Read(id); err != nil {
				return err
			}
			return meta.Put(keyInstance, []byte(hex.EncodeToString(id)))
		}
		return nil
	})
}

// upToDate reports whether migrate would change nothing: the schema is
// this binary's, every bucket exists and the keys made at first open are
// there.
func upToDate(tx *bolt.Tx) bool {
	meta := tx.Bucket(bucketMeta)
	if meta == nil {
		return false
	}
	if v := meta.Get(keySchema); len(v) != 8 || binary.BigEndian.Uint64(v) != SchemaVersion {
		return false
	}
	for _, name := range allBuckets {
		if tx.Bucket(name) == nil {
			return false
		}
	}
	return meta.Get(keyCSRF) != nil && meta.Get(keyInstance) != nil
}

// Close closes the database file.
func (s *Store) Close() error { return s.db.Close() }

// Path is the database file's path.
func (s *Store) Path() string { return s.db.Path() }

// Schema returns the stored schema version.
func (s *Store) Schema(ctx context.Context) (uint64, error) {
	var v uint64
	err := s.db.View(func(tx *bolt.Tx) error {
		v = binary.BigEndian.Uint64(tx.Bucket(bucketMeta).Get(keySchema))
		return nil
	})
	return v, err
}

// CSRFKey returns the secret that signs CSRF tokens, made at first open so
// tokens survive restarts.
func (s *Store) CSRFKey(ctx context.Context) ([]byte, error) {
	var key []byte
	err := s.db.View(func(tx *bolt.Tx) error {
		key = bytes.Clone(tx.Bucket(bucketMeta).Get(keyCSRF))
		return nil
	})
	return key, err
}

// InstanceID is a short random name for this database, made at first open
// and kept: the app names its cookies with it, because browsers do not tell
// cookies apart by port and two instances on one computer would otherwise
// overwrite each other's.
func (s *Store) InstanceID(ctx context.Context) (string, error) {
	var id string
	err := s.db.View(func(tx *bolt.Tx) error {
		id = string(tx.Bucket(bucketMeta).Get(keyInstance))
		return nil
	})
	return id, err
}

// Check runs bbolt's consistency check; tests call it before closing.
func (s *Store) Check(ctx context.Context) error {
	return s.db.View(func(tx *bolt.Tx) error {
		var first error
		for err := range tx.Check() { // drain: the checker goroutine sends every error
			if first == nil {
				first = err
			}
		}
		return first
	})
}

func itob(v uint64) []byte {
	b := make([]byte, 8)
	binary.BigEndian.PutUint64(b, v)
	return b
}

func getJSON(b *bolt.Bucket, key []byte, v any) error {
	if b == nil {
		return errNoBucket
	}
	data := b.Get(key)
	if data == nil {
		return cqrs.ErrNotFound
	}
	// json.Unmarshal copies what it keeps, so the mmap'd bytes never escape
	// the transaction.
	return json.Unmarshal(data, v)
}

func putJSON(b *bolt.Bucket, key []byte, v any) error {
	data, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return b.Put(key, data)
}

// deleteWhere deletes the entries of b whose decoded value matches, and
// returns how many. Keys are collected first: bbolt forbids deleting while
// iterating.
func deleteWhere[T any](b *bolt.Bucket, match func(k []byte, v T) bool) (int, error) {
	var doomed [][]byte
	err := b.ForEach(func(k, raw []byte) error {
		var v T
		if err := getJSON(b, k, &v); err != nil {
			return err
		}
		if match(k, v) {
			doomed = append(doomed, bytes.Clone(k))
		}
		return nil
	})
	if err != nil {
		return 0, err
	}
	for _, k := range doomed {
		if err := b.Delete(k); err != nil {
			return 0, err
		}
	}
	return len(doomed), nil
}
