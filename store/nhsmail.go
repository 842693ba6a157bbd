package store

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/cqrs-local/cqrs-signin/cqrs"
	bolt "go.etcd.io/bbolt"
)

// The embedded NHSmail simulator keeps its own directory, apart from the
// CQRS users: an NHSmail account is not a CQRS account, and the two are only
// matched (by email, then by subject) when someone signs in to CQRS.

// nhsmailSession is a browser signed in to the simulator, stored under the
// SHA-256 of its cookie value.
type nhsmailSession struct {
	AccountID uint64    `json:"account_id"`
	Created   time.Time `json:"created"`
	Expires   time.Time `json:"expires"`
}

var (
	// bucketNHSmailByEmail is nested inside bucketNHSmailAccounts, so the
	// directory stays in the buckets Open creates; account records are the
	// parent's 8-byte keys and the index is the only nested bucket.
	bucketNHSmailByEmail = []byte("by-email")

	keyNHSmailSigningKey   = []byte("signing-key")
	keyNHSmailTenant       = []byte("tenant-id")
	keyNHSmailClientSecret = []byte("client-secret")
	keyNHSmailRetiredKeys  = []byte("signing-keys-retired")
)

// errNHSmailNoEmail refuses an account without the address it signs in with.
var errNHSmailNoEmail = errors.New("store: an NHSmail account needs an email address")

// newObjectID returns a random version-4 UUID string, the shape Entra ID
// gives its tenant and object IDs.
func newObjectID() (string, error) {
	b := make([]byte, 16)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b)
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:32], nil
}

// nhsmailTenant returns the directory's tenant ID, making it on first use.
func nhsmailTenant(tx *bolt.Tx) (string, error) {
	meta := tx.Bucket(bucketNHSmailMeta)
	if v := meta.Get(keyNHSmailTenant); v != nil {
		return string(v), nil
	}
	id, err := newObjectID()
	if err != nil {
		return "", err
	}
	return id, meta.Put(keyNHSmailTenant, []byte(id))
}

// CreateNHSmailAccount adds an account to the simulated NHSmail directory.
// The email is unique ignoring case; the ID, ObjectID, TenantID and Created
// are set here.
func (s *Store) CreateNHSmailAccount(ctx context.Context, a cqrs.NHSmailAccount) (cqrs.NHSmailAccount, error) {
	a.Email = strings.TrimSpace(a.Email)
	if a.Email == "" {
		return cqrs.NHSmailAccount{}, errNHSmailNoEmail
	}
	oid, err := newObjectID()
	if err != nil {
		return cqrs.NHSmailAccount{}, fmt.Errorf("store: create NHSmail account: %w", err)
	}
	a.ObjectID = oid
	a.Created = s.now()
	err = s.db.Update(func(tx *bolt.Tx) error {
		accounts := tx.Bucket(bucketNHSmailAccounts)
		byEmail, err := accounts.CreateBucketIfNotExists(bucketNHSmailByEmail)
		if err != nil {
			return err
		}
		if byEmail.Get(foldKey(a.Email)) != nil {
			return cqrs.ErrConflict
		}
		if a.TenantID, err = nhsmailTenant(tx); err != nil {
			return err
		}
		if a.ID, err = accounts.NextSequence(); err != nil {
			return err
		}
		if err := putJSON(accounts, itob(a.ID), a); err != nil {
			return err
		}
		return byEmail.Put(foldKey(a.Email), itob(a.ID))
	})
	if err != nil {
		return cqrs.NHSmailAccount{}, fmt.Errorf("store: create NHSmail account: %w", err)
	}
	return a, nil
}

// NHSmailAccountByEmail finds an account by email address, ignoring case.
func (s *Store) NHSmailAccountByEmail(ctx context.Context, email string) (cqrs.NHSmailAccount, error) {
	var a cqrs.NHSmailAccount
	err := s.db.View(func(tx *bolt.Tx) error {
		accounts := tx.Bucket(bucketNHSmailAccounts)
		byEmail := accounts.Bucket(bucketNHSmailByEmail)
		if byEmail == nil {
			return cqrs.ErrNotFound
		}
		id := byEmail.Get(foldKey(strings.TrimSpace(email)))
		if id == nil {
			return cqrs.ErrNotFound
		}
		return getJSON(accounts, bytes.Clone(id), &a)
	})
	if err != nil {
		return cqrs.NHSmailAccount{}, fmt.Errorf("store: NHSmail account by email: %w", err)
	}
	return a, nil
}

// NHSmailAccount returns the account with the given ID.
func (s *Store) NHSmailAccount(ctx context.Context, id uint64) (cqrs.NHSmailAccount, error) {
	var a cqrs.NHSmailAccount
	err := s.db.View(func(tx *bolt.Tx) error {
		return getJSON(tx.Bucket(bucketNHSmailAccounts), itob(id), &a)
	})
	if err != nil {
		return cqrs.NHSmailAccount{}, fmt.Errorf("store: NHSmail account %d: %w", id, err)
	}
	return a, nil
}

// NHSmailAccounts lists the directory, sorted by email ignoring case.
func (s *Store) NHSmailAccounts(ctx context.Context) ([]cqrs.NHSmailAccount, error) {
	var out []cqrs.NHSmailAccount
	err := s.db.View(func(tx *bolt.Tx) error {
		accounts := tx.Bucket(bucketNHSmailAccounts)
		return accounts.ForEach(func(k, v []byte) error {
			if v == nil { // the nested email index
				return nil
			}
			var a cqrs.NHSmailAccount
			if err := getJSON(accounts, k, &a); err != nil {
				return err
			}
			out = append(out, a)
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("store: NHSmail accounts: %w", err)
	}
	sort.Slice(out, func(i, j int) bool {
		ei, ej := strings.ToLower(out[i].Email), strings.ToLower(out[j].Email)
		if ei != ej {
			return ei < ej
		}
		return out[i].ID < out[j].ID
	})
	return out, nil
}

// updateNHSmailAccount applies change to one account in one transaction.
func (s *Store) updateNHSmailAccount(id uint64, change func(tx *bolt.Tx, a *cqrs.NHSmailAccount) error) error {
	return s.db.Update(func(tx *bolt.Tx) error {
		accounts := tx.Bucket(bucketNHSmailAccounts)
		var a cqrs.NHSmailAccount
		if err := getJSON(accounts, itob(id), &a); err != nil {
			return err
		}
		if err := change(tx, &a); err != nil {
			return err
		}
		return putJSON(accounts, itob(id), a)
	})
}

// SetNHSmailPassword replaces an account's password hash and signs the
// account out of the simulator everywhere, as a password reset does,
// revoking the access tokens it holds.
func (s *Store) SetNHSmailPassword(ctx context.Context, id uint64, hash string) error {
	err := s.updateNHSmailAccount(id, func(tx *bolt.Tx, a *cqrs.NHSmailAccount) error {
		a.PasswordHash = hash
		if err := deleteNHSmailTokensOf(tx, id); err != nil {
			return err
		}
		return deleteNHSmailSessionsOf(tx, id)
	})
	if err != nil {
		return fmt.Errorf("store: set NHSmail password %d: %w", id, err)
	}
	return nil
}

// SetNHSmailMFA sets the account's second step (cqrs.MFANone,
// MFAAuthenticator or MFAText); its sessions stay, as in Entra ID.
func (s *Store) SetNHSmailMFA(ctx context.Context, id uint64, method string) error {
	if !cqrs.ValidMFAMethod(method) {
		return fmt.Errorf("store: set NHSmail MFA %d: unknown method %q", id, method)
	}
	err := s.updateNHSmailAccount(id, func(_ *bolt.Tx, a *cqrs.NHSmailAccount) error {
		a.MFAMethod = method
		return nil
	})
	if err != nil {
		return fmt.Errorf("store: set NHSmail MFA %d: %w", id, err)
	}
	return nil
}

// SetNHSmailFlags sets the switches a trainer uses to reproduce the
// NHSmail sign-in outcomes. Disabling an account revokes its access
// tokens, so enabling it again does not bring them back.
func (s *Store) SetNHSmailFlags(ctx context.Context, id uint64, disabled, locked, consentRequired bool) error {
	err := s.updateNHSmailAccount(id, func(tx *bolt.Tx, a *cqrs.NHSmailAccount) error {
		a.Disabled, a.Locked, a.ConsentRequired = disabled, locked, consentRequired
		if disabled {
			return deleteNHSmailTokensOf(tx, id)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("store: set NHSmail flags %d: %w", id, err)
	}
	return nil
}

// NHSmailSigningKey returns the simulator's RSA key for ID tokens. It is
// made at the first call and kept, so relying parties that cached the JWKS
// keep verifying tokens after a restart.
func (s *Store) NHSmailSigningKey(ctx context.Context) (*rsa.PrivateKey, error) {
	der, err := s.metaValue(keyNHSmailSigningKey, notEmpty, cqrs.NewSigningKey)
	if err != nil {
		return nil, fmt.Errorf("store: NHSmail signing key: %w", err)
	}
	return cqrs.ParseSigningKey(der)
}

// NHSmailSigningKeys returns the key that signs now and the replaced keys
// still published (newest first), making the current key at the first call.
func (s *Store) NHSmailSigningKeys(ctx context.Context) (*rsa.PrivateKey, []*rsa.PrivateKey, error) {
	current, err := s.NHSmailSigningKey(ctx)
	if err != nil {
		return nil, nil, err
	}
	var retired []cqrs.RetiredKey
	err = s.db.View(func(tx *bolt.Tx) error {
		if v := tx.Bucket(bucketNHSmailMeta).Get(keyNHSmailRetiredKeys); v != nil {
			return json.Unmarshal(v, &retired)
		}
		return nil
	})
	if err != nil {
		return nil, nil, fmt.Errorf("store: NHSmail signing keys: %w", err)
	}
	published, err := cqrs.PublishedRetiredKeys(retired, s.now())
	if err != nil {
		return nil, nil, fmt.Errorf("store: %w", err)
	}
	return current, published, nil
}

// RotateNHSmailSigningKey makes a new signing key; the one it replaces
// stays published for a day, so tokens it signed still verify.
func (s *Store) RotateNHSmailSigningKey(ctx context.Context) error {
	fresh, err := cqrs.NewSigningKey()
	if err != nil {
		return fmt.Errorf("store: rotate: %w", err)
	}
	now := s.now()
	err = s.db.Update(func(tx *bolt.Tx) error {
		meta := tx.Bucket(bucketNHSmailMeta)
		var retired []cqrs.RetiredKey
		if v := meta.Get(keyNHSmailRetiredKeys); v != nil {
			if err := json.Unmarshal(v, &retired); err != nil {
				return err
			}
		}
		list, err := json.Marshal(cqrs.RetireSigningKey(bytes.Clone(meta.Get(keyNHSmailSigningKey)), retired, now))
		if err != nil {
			return err
		}
		if err := meta.Put(keyNHSmailRetiredKeys, list); err != nil {
			return err
		}
		return meta.Put(keyNHSmailSigningKey, fresh)
	})
	if err != nil {
		return fmt.Errorf("store: rotate NHSmail signing key: %w", err)
	}
	return nil
}

// NHSmailTenantID returns the simulated directory's tenant ID, made once.
func (s *Store) NHSmailTenantID(ctx context.Context) (string, error) {
	id, err := s.metaValue(keyNHSmailTenant, notEmpty, func() ([]byte, error) {
		id, err := newObjectID()
		return []byte(id), err
	})
	if err != nil {
		return "", fmt.Errorf("store: NHSmail tenant: %w", err)
	}
	return string(id), nil
}

// NHSmailClientSecret returns the secret CQRS uses to authenticate to the
// simulator's token endpoint, made once; both sides live in this process
// and read it from here.
func (s *Store) NHSmailClientSecret(ctx context.Context) (string, error) {
	secret, err := s.metaValue(keyNHSmailClientSecret, notEmpty, func() ([]byte, error) {
		b := make([]byte, 32)
		if _, err := rand.Read(b); err != nil {
			return nil, err
		}
		return []byte(base64.RawURLEncoding.EncodeToString(b)), nil
	})
	if err != nil {
		return "", fmt.Errorf("store: NHSmail client secret: %w", err)
	}
	return string(secret), nil
}

// metaValue returns the simulator's value at key, made by create and
// stored the first time. It reads before it writes: on an existing
// database the start reads its keys without a write transaction, each of
// which would wait for the disk twice. A new value is made outside the
// write transaction (a signing key takes a noticeable moment); if another
// caller stored one meanwhile, that one wins and the new one is dropped.
func (s *Store) metaValue(key []byte, valid func([]byte) bool, create func() ([]byte, error)) ([]byte, error) {
	var v []byte
	find := func(tx *bolt.Tx) error {
		if got := tx.Bucket(bucketNHSmailMeta).Get(key); valid(got) {
			v = bytes.Clone(got)
		}
		return nil
	}
	if err := s.db.View(find); err != nil || v != nil {
		return v, err
	}
	made, err := create()
	if err != nil {
		return nil, err
	}
	err = s.db.Update(func(tx *bolt.Tx) error {
		if err := find(tx); err != nil || v != nil {
			return err
		}
		v = made
		return tx.Bucket(bucketNHSmailMeta).Put(key, made)
	})
	return v, err
}

func notEmpty(v []byte) bool { return len(v) > 0 }

// CreateNHSmailSession stores a browser's sign-in to the simulator ("This is
// a private computer" or not) until expires.
func (s *Store) CreateNHSmailSession(ctx context.Context, hash []byte, accountID uint64, expires time.Time) error {
	rec := nhsmailSession{AccountID: accountID, Created: s.now(), Expires: expires}
	err := s.db.Update(func(tx *bolt.Tx) error {
		return putJSON(tx.Bucket(bucketNHSmailSessions), hash, rec)
	})
	if err != nil {
		return fmt.Errorf("store: create NHSmail session: %w", err)
	}
	return nil
}

// NHSmailSession returns the account a simulator session belongs to. A
// session past its expiry is deleted and reported as ErrExpired.
func (s *Store) NHSmailSession(ctx context.Context, hash []byte) (uint64, error) {
	id, _, err := s.NHSmailSessionStarted(ctx, hash)
	return id, err
}

// NHSmailSessionStarted is NHSmailSession with the time the session began
// (when the password was checked), which max_age is measured from.
func (s *Store) NHSmailSessionStarted(ctx context.Context, hash []byte) (uint64, time.Time, error) {
	var rec nhsmailSession
	err := s.db.View(func(tx *bolt.Tx) error {
		return getJSON(tx.Bucket(bucketNHSmailSessions), hash, &rec)
	})
	if err != nil {
		return 0, time.Time{}, fmt.Errorf("store: NHSmail session: %w", err)
	}
	if cqrs.NHSmailSessionOver(rec.Expires, s.now()) {
		if err := s.DeleteNHSmailSession(ctx, hash); err != nil {
			return 0, time.Time{}, err
		}
		return 0, time.Time{}, fmt.Errorf("store: NHSmail session: %w", cqrs.ErrExpired)
	}
	return rec.AccountID, rec.Created, nil
}

// DeleteNHSmailSession ends a simulator session.
func (s *Store) DeleteNHSmailSession(ctx context.Context, hash []byte) error {
	err := s.db.Update(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketNHSmailSessions).Delete(hash)
	})
	if err != nil {
		return fmt.Errorf("store: delete NHSmail session: %w", err)
	}
	return nil
}

// DeleteExpiredNHSmailSessions removes simulator sessions past their expiry,
// and the provider's expired state (codes, consent tickets, access tokens)
// with them; bbolt has no TTL, so the app sweeps now and then.
func (s *Store) DeleteExpiredNHSmailSessions(ctx context.Context) (int, error) {
	swept, err := s.DeleteExpiredNHSmailState(ctx)
	if err != nil {
		return 0, err
	}
	n, err := s.deleteExpiredNHSmailSessions()
	return n + swept, err
}

func (s *Store) deleteExpiredNHSmailSessions() (int, error) {
	now := s.now()
	n := 0
	err := s.db.Update(func(tx *bolt.Tx) error {
		var err error
		n, err = deleteWhere(tx.Bucket(bucketNHSmailSessions), func(_ []byte, rec nhsmailSession) bool { return !now.Before(rec.Expires) })
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("store: delete expired NHSmail sessions: %w", err)
	}
	return n, nil
}

func deleteNHSmailSessionsOf(tx *bolt.Tx, accountID uint64) error {
	_, err := deleteWhere(tx.Bucket(bucketNHSmailSessions), func(_ []byte, rec nhsmailSession) bool { return rec.AccountID == accountID })
	return err
}
