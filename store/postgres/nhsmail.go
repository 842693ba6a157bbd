package postgres

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/cqrs-local/cqrs-signin/cqrs"
)

// The embedded NHSmail simulator's directory, sessions, keys, applications
// and state, shared by every instance on the database, so a sign-in begun
// on one instance can finish on another.

const (
	keyNHSmailSigningKey   = "nhsmail.signing-key"
	keyNHSmailRetiredKeys  = "nhsmail.signing-keys-retired"
	keyNHSmailTenant       = "nhsmail.tenant-id"
	keyNHSmailClientSecret = "nhsmail.client-secret"
	keyNHSmailProviderKey  = "nhsmail.provider-key."
)

// onceMeta returns the value under key, making it with fresh at the first
// call; of instances racing to make it, the first one's is kept by all.
func (s *Store) onceMeta(ctx context.Context, key string, fresh func() ([]byte, error)) ([]byte, error) {
	if v, err := s.meta(ctx, key); err == nil {
		return v, nil
	} else if !errors.Is(err, cqrs.ErrNotFound) {
		return nil, err
	}
	v, err := fresh()
	if err != nil {
		return nil, err
	}
	if _, err := s.pool.Exec(ctx, `INSERT INTO meta (key, value) VALUES ($1, $2) ON CONFLICT (key) DO NOTHING`, key, v); err != nil {
		return nil, fmt.Errorf("postgres: %s: %w", key, err)
	}
	return s.meta(ctx, key)
}

func newObjectID() string {
	b := make([]byte, 16)
	rand.Read(b)
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b)
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:32]
}

// NHSmailTenantID is the simulated directory's tenant ID, made once.
func (s *Store) NHSmailTenantID(ctx context.Context) (string, error) {
	v, err := s.onceMeta(ctx, keyNHSmailTenant, func() ([]byte, error) { return []byte(newObjectID()), nil })
	return string(v), err
}

// NHSmailClientSecret is CQRS's own client secret at the simulator, made once.
func (s *Store) NHSmailClientSecret(ctx context.Context) (string, error) {
	v, err := s.onceMeta(ctx, keyNHSmailClientSecret, func() ([]byte, error) {
		b := make([]byte, 32)
		rand.Read(b)
		return []byte(base64.RawURLEncoding.EncodeToString(b)), nil
	})
	return string(v), err
}

// NHSmailProviderKey returns 32 random bytes kept under name, made at the
// first call.
func (s *Store) NHSmailProviderKey(ctx context.Context, name string) ([]byte, error) {
	return s.onceMeta(ctx, keyNHSmailProviderKey+name, func() ([]byte, error) {
		b := make([]byte, 32)
		rand.Read(b)
		return b, nil
	})
}

// NHSmailSigningKey returns the simulator's signing key, made once.
func (s *Store) NHSmailSigningKey(ctx context.Context) (*rsa.PrivateKey, error) {
	der, err := s.onceMeta(ctx, keyNHSmailSigningKey, cqrs.NewSigningKey)
	if err != nil {
		return nil, err
	}
	return cqrs.ParseSigningKey(der)
}

// NHSmailSigningKeys returns the current signing key and the retired ones
// still published.
func (s *Store) NHSmailSigningKeys(ctx context.Context) (*rsa.PrivateKey, []*rsa.PrivateKey, error) {
	current, err := s.NHSmailSigningKey(ctx)
	if err != nil {
		return nil, nil, err
	}
	var retired []cqrs.RetiredKey
	if v, err := s.meta(ctx, keyNHSmailRetiredKeys); err == nil {
		if err := json.Unmarshal(v, &retired); err != nil {
			return nil, nil, fmt.Errorf("postgres: NHSmail signing keys: %w", err)
		}
	} else if !errors.Is(err, cqrs.ErrNotFound) {
		return nil, nil, err
	}
	published, err := cqrs.PublishedRetiredKeys(retired, s.now())
	if err != nil {
		return nil, nil, fmt.Errorf("postgres: %w", err)
	}
	return current, published, nil
}

// RotateNHSmailSigningKey makes a new signing key; the old one stays
// published for a day so tokens it signed still verify.
func (s *Store) RotateNHSmailSigningKey(ctx context.Context) error {
	fresh, err := cqrs.NewSigningKey()
	if err != nil {
		return fmt.Errorf("postgres: rotate NHSmail signing key: %w", err)
	}
	now := s.now()
	err = s.inTx(ctx, func(tx pgx.Tx) error {
		var retired []cqrs.RetiredKey
		var v []byte
		err := tx.QueryRow(ctx, `SELECT value FROM meta WHERE key = $1 FOR UPDATE`, keyNHSmailRetiredKeys).Scan(&v)
		if err == nil {
			if err := json.Unmarshal(v, &retired); err != nil {
				return err
			}
		} else if !errors.Is(err, pgx.ErrNoRows) {
			return err
		}
		var old []byte
		err = tx.QueryRow(ctx, `SELECT value FROM meta WHERE key = $1 FOR UPDATE`, keyNHSmailSigningKey).Scan(&old)
		if err != nil && !errors.Is(err, pgx.ErrNoRows) {
			return err
		}
		list, err := json.Marshal(cqrs.RetireSigningKey(old, retired, now))
		if err != nil {
			return err
		}
		for key, value := range map[string][]byte{keyNHSmailRetiredKeys: list, keyNHSmailSigningKey: fresh} {
			if _, err := tx.Exec(ctx, `INSERT INTO meta (key, value) VALUES ($1, $2) ON CONFLICT (key) DO UPDATE SET value = $2`, key, value); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("postgres: rotate NHSmail signing key: %w", err)
	}
	return nil
}

const nhsmailColumns = `id, email, first_name, last_name, password_hash, disabled, locked, consent_required, tenant_id, object_id, created, mfa_method`

func scanNHSmailAccount(row pgx.Row) (cqrs.NHSmailAccount, error) {
	var a cqrs.NHSmailAccount
	err := row.Scan(&a.ID, &a.Email, &a.FirstName, &a.LastName, &a.PasswordHash, &a.Disabled, &a.Locked, &a.ConsentRequired, &a.TenantID, &a.ObjectID, &a.Created, &a.MFAMethod)
	a.Created = a.Created.UTC()
	return a, notFound(err)
}

// CreateNHSmailAccount adds an account to the simulated directory. The
// email is unique ignoring case; the ID, ObjectID, TenantID and Created
// are set here.
func (s *Store) CreateNHSmailAccount(ctx context.Context, a cqrs.NHSmailAccount) (cqrs.NHSmailAccount, error) {
	a.Email = strings.TrimSpace(a.Email)
	if a.Email == "" {
		return cqrs.NHSmailAccount{}, errors.New("postgres: an NHSmail account needs an email address")
	}
	tenant, err := s.NHSmailTenantID(ctx)
	if err != nil {
		return cqrs.NHSmailAccount{}, err
	}
	a.TenantID, a.ObjectID, a.Created = tenant, newObjectID(), s.now()
	err = s.pool.QueryRow(ctx, `INSERT INTO nhsmail_accounts (email, first_name, last_name, password_hash, disabled, locked,
		consent_required, tenant_id, object_id, created, mfa_method) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) RETURNING id`,
		a.Email, a.FirstName, a.LastName, a.PasswordHash, a.Disabled, a.Locked, a.ConsentRequired, a.TenantID, a.ObjectID, a.Created, a.MFAMethod).Scan(&a.ID)
	if err != nil {
		return cqrs.NHSmailAccount{}, fmt.Errorf("postgres: create NHSmail account: %w", notFound(err))
	}
	return a, nil
}

// NHSmailAccountByEmail finds an account by email, ignoring case.
func (s *Store) NHSmailAccountByEmail(ctx context.Context, email string) (cqrs.NHSmailAccount, error) {
	a, err := scanNHSmailAccount(s.pool.QueryRow(ctx, `SELECT `+nhsmailColumns+` FROM nhsmail_accounts WHERE lower(email) = lower($1)`, strings.TrimSpace(email)))
	if err != nil {
		return cqrs.NHSmailAccount{}, fmt.Errorf("postgres: NHSmail account by email: %w", err)
	}
	return a, nil
}

// NHSmailAccount returns the account with the ID.
func (s *Store) NHSmailAccount(ctx context.Context, id uint64) (cqrs.NHSmailAccount, error) {
	a, err := scanNHSmailAccount(s.pool.QueryRow(ctx, `SELECT `+nhsmailColumns+` FROM nhsmail_accounts WHERE id = $1`, int64(id)))
	if err != nil {
		return cqrs.NHSmailAccount{}, fmt.Errorf("postgres: NHSmail account %d: %w", id, err)
	}
	return a, nil
}

// NHSmailAccounts lists the directory by email.
func (s *Store) NHSmailAccounts(ctx context.Context) ([]cqrs.NHSmailAccount, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+nhsmailColumns+` FROM nhsmail_accounts ORDER BY lower(email), id`)
	if err != nil {
		return nil, fmt.Errorf("postgres: NHSmail accounts: %w", err)
	}
	defer rows.Close()
	var out []cqrs.NHSmailAccount
	for rows.Next() {
		a, err := scanNHSmailAccount(rows)
		if err != nil {
			return nil, fmt.Errorf("postgres: NHSmail accounts: %w", err)
		}
		out = append(out, a)
	}
	return out, rows.Err()
}

// SetNHSmailPassword replaces an account's password hash and signs the
// account out of the simulator everywhere.
func (s *Store) SetNHSmailPassword(ctx context.Context, id uint64, hash string) error {
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `UPDATE nhsmail_accounts SET password_hash = $2 WHERE id = $1`, int64(id), hash)
		if err == nil && tag.RowsAffected() == 0 {
			return cqrs.ErrNotFound
		}
		if err != nil {
			return err
		}
		if err := deleteNHSmailTokensOf(ctx, tx, id); err != nil {
			return err
		}
		_, err = tx.Exec(ctx, `DELETE FROM nhsmail_sessions WHERE account_id = $1`, int64(id))
		return err
	})
	if err != nil {
		return fmt.Errorf("postgres: set NHSmail password %d: %w", id, err)
	}
	return nil
}

// SetNHSmailMFA sets the account's second step after the password.
func (s *Store) SetNHSmailMFA(ctx context.Context, id uint64, method string) error {
	if !cqrs.ValidMFAMethod(method) {
		return fmt.Errorf("postgres: set NHSmail MFA %d: unknown method %q", id, method)
	}
	tag, err := s.pool.Exec(ctx, `UPDATE nhsmail_accounts SET mfa_method = $2 WHERE id = $1`, int64(id), method)
	if err == nil && tag.RowsAffected() == 0 {
		err = cqrs.ErrNotFound
	}
	if err != nil {
		return fmt.Errorf("postgres: set NHSmail MFA %d: %w", id, err)
	}
	return nil
}

// SetNHSmailFlags sets an account's disabled, locked and consent flags.
// Disabling it revokes its access tokens in the same transaction.
func (s *Store) SetNHSmailFlags(ctx context.Context, id uint64, disabled, locked, consentRequired bool) error {
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `UPDATE nhsmail_accounts SET disabled = $2, locked = $3, consent_required = $4 WHERE id = $1`,
			int64(id), disabled, locked, consentRequired)
		if err == nil && tag.RowsAffected() == 0 {
			return cqrs.ErrNotFound
		}
		if err != nil || !disabled {
			return err
		}
		return deleteNHSmailTokensOf(ctx, tx, id)
	})
	if err != nil {
		return fmt.Errorf("postgres: set NHSmail flags %d: %w", id, err)
	}
	return nil
}

// CreateNHSmailSession records a browser signed in to the simulator.
func (s *Store) CreateNHSmailSession(ctx context.Context, hash []byte, accountID uint64, expires time.Time) error {
	_, err := s.pool.Exec(ctx, `INSERT INTO nhsmail_sessions (hash, account_id, created, expires) VALUES ($1, $2, $3, $4)
		ON CONFLICT (hash) DO UPDATE SET account_id = $2, created = $3, expires = $4`, hash, int64(accountID), s.now(), expires)
	if err != nil {
		return fmt.Errorf("postgres: create NHSmail session: %w", err)
	}
	return nil
}

// NHSmailSession returns the account signed in to the simulator.
func (s *Store) NHSmailSession(ctx context.Context, hash []byte) (uint64, error) {
	id, _, err := s.NHSmailSessionStarted(ctx, hash)
	return id, err
}

// NHSmailSessionStarted returns the signed-in account and when it signed
// in; an expired session is ended and cqrs.ErrExpired returned.
func (s *Store) NHSmailSessionStarted(ctx context.Context, hash []byte) (uint64, time.Time, error) {
	var (
		id               uint64
		created, expires time.Time
	)
	err := s.pool.QueryRow(ctx, `SELECT account_id, created, expires FROM nhsmail_sessions WHERE hash = $1`, hash).Scan(&id, &created, &expires)
	if err != nil {
		return 0, time.Time{}, fmt.Errorf("postgres: NHSmail session: %w", notFound(err))
	}
	if cqrs.NHSmailSessionOver(expires, s.now()) {
		if err := s.DeleteNHSmailSession(ctx, hash); err != nil {
			return 0, time.Time{}, err
		}
		return 0, time.Time{}, fmt.Errorf("postgres: NHSmail session: %w", cqrs.ErrExpired)
	}
	return id, created.UTC(), nil
}

// DeleteNHSmailSession signs a browser out of the simulator.
func (s *Store) DeleteNHSmailSession(ctx context.Context, hash []byte) error {
	if _, err := s.pool.Exec(ctx, `DELETE FROM nhsmail_sessions WHERE hash = $1`, hash); err != nil {
		return fmt.Errorf("postgres: delete NHSmail session: %w", err)
	}
	return nil
}

// DeleteExpiredNHSmailSessions sweeps the simulator's expired sessions and
// state, and returns how many went.
func (s *Store) DeleteExpiredNHSmailSessions(ctx context.Context) (int, error) {
	swept, err := s.DeleteExpiredNHSmailState(ctx)
	if err != nil {
		return 0, err
	}
	tag, err := s.pool.Exec(ctx, `DELETE FROM nhsmail_sessions WHERE expires <= $1`, s.now())
	if err != nil {
		return 0, fmt.Errorf("postgres: delete expired NHSmail sessions: %w", err)
	}
	return swept + int(tag.RowsAffected()), nil
}

// CreateNHSmailApplication registers an application under a new client ID.
func (s *Store) CreateNHSmailApplication(ctx context.Context, a cqrs.NHSmailApplication) (cqrs.NHSmailApplication, error) {
	a.Name = strings.TrimSpace(a.Name)
	if a.Name == "" || len(a.RedirectURIs) == 0 {
		return cqrs.NHSmailApplication{}, errors.New("postgres: an NHSmail application needs a name and a redirect URI")
	}
	a.ClientID, a.Created = newObjectID(), s.now()
	_, err := s.pool.Exec(ctx, `INSERT INTO nhsmail_applications (client_id, name, secret_hash, redirect_uris, created)
		VALUES ($1, $2, $3, $4, $5)`, a.ClientID, a.Name, a.SecretHash, a.RedirectURIs, a.Created)
	if err != nil {
		return cqrs.NHSmailApplication{}, fmt.Errorf("postgres: create NHSmail application: %w", notFound(err))
	}
	return a, nil
}

func scanApplication(row pgx.CollectableRow) (cqrs.NHSmailApplication, error) {
	var a cqrs.NHSmailApplication
	err := row.Scan(&a.ClientID, &a.Name, &a.SecretHash, &a.RedirectURIs, &a.Created)
	a.Created = a.Created.UTC()
	return a, err
}

// NHSmailApplication returns a registered application by client ID.
func (s *Store) NHSmailApplication(ctx context.Context, clientID string) (cqrs.NHSmailApplication, error) {
	rows, err := s.pool.Query(ctx, `SELECT client_id, name, secret_hash, redirect_uris, created FROM nhsmail_applications WHERE client_id = $1`, clientID)
	if err == nil {
		var a cqrs.NHSmailApplication
		if a, err = pgx.CollectExactlyOneRow(rows, scanApplication); err == nil {
			return a, nil
		}
	}
	return cqrs.NHSmailApplication{}, fmt.Errorf("postgres: NHSmail application: %w", notFound(err))
}

// NHSmailApplications lists the registered applications by name.
func (s *Store) NHSmailApplications(ctx context.Context) ([]cqrs.NHSmailApplication, error) {
	rows, err := s.pool.Query(ctx, `SELECT client_id, name, secret_hash, redirect_uris, created FROM nhsmail_applications ORDER BY lower(name), client_id`)
	if err != nil {
		return nil, fmt.Errorf("postgres: NHSmail applications: %w", err)
	}
	return pgx.CollectRows(rows, scanApplication)
}

// DeleteNHSmailApplication removes a registration and, in the same
// transaction, the access tokens it was given.
func (s *Store) DeleteNHSmailApplication(ctx context.Context, clientID string) error {
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `DELETE FROM nhsmail_applications WHERE client_id = $1`, clientID)
		if err == nil && tag.RowsAffected() == 0 {
			return cqrs.ErrNotFound
		}
		if err != nil {
			return err
		}
		_, err = tx.Exec(ctx, `DELETE FROM nhsmail_state WHERE kind = $1 AND convert_from(value, 'UTF8')::jsonb->>'client_id' = $2`,
			cqrs.NHSmailAccessTokens, clientID)
		return err
	})
	if err != nil {
		return fmt.Errorf("postgres: delete NHSmail application: %w", err)
	}
	return nil
}

// stateTx is cqrs.NHSmailStateTx inside one PostgreSQL transaction. Rows
// read by an update are locked, so two instances spending one code queue,
// and the second finds it spent. It holds the context of the call that
// opened the transaction, whose life it shares.
type stateTx struct {
	ctx      context.Context
	tx       pgx.Tx
	now      time.Time
	writable bool
}

func (t stateTx) Get(kind string, key []byte, v any) error {
	sql := `SELECT value FROM nhsmail_state WHERE kind = $1 AND key = $2 AND expires > $3`
	if t.writable {
		sql += ` FOR UPDATE`
	}
	var raw []byte
	if err := t.tx.QueryRow(t.ctx, sql, kind, key, t.now).Scan(&raw); err != nil {
		return notFound(err)
	}
	return json.Unmarshal(raw, v)
}

func (t stateTx) Put(kind string, key []byte, v any, expires time.Time) error {
	if !t.writable {
		return errors.New("postgres: NHSmail state written in a read-only transaction")
	}
	raw, err := json.Marshal(v)
	if err != nil {
		return err
	}
	_, err = t.tx.Exec(t.ctx, `INSERT INTO nhsmail_state (kind, key, value, expires) VALUES ($1, $2, $3, $4)
		ON CONFLICT (kind, key) DO UPDATE SET value = $3, expires = $4`, kind, key, raw, expires)
	return err
}

func (t stateTx) Delete(kind string, key []byte) error {
	_, err := t.tx.Exec(t.ctx, `DELETE FROM nhsmail_state WHERE kind = $1 AND key = $2`, kind, key)
	return err
}

func (t stateTx) Now() time.Time { return t.now }

// UpdateNHSmailState runs fn in one write transaction.
func (s *Store) UpdateNHSmailState(ctx context.Context, fn func(cqrs.NHSmailStateTx) error) error {
	err := s.inTx(ctx, func(tx pgx.Tx) error { return fn(stateTx{ctx: ctx, tx: tx, now: s.now(), writable: true}) })
	if err != nil {
		return fmt.Errorf("postgres: NHSmail state: %w", err)
	}
	return nil
}

// ViewNHSmailState runs fn in one read transaction.
func (s *Store) ViewNHSmailState(ctx context.Context, fn func(cqrs.NHSmailStateTx) error) error {
	err := pgx.BeginTxFunc(ctx, s.pool, pgx.TxOptions{AccessMode: pgx.ReadOnly}, func(tx pgx.Tx) error {
		return fn(stateTx{ctx: ctx, tx: tx, now: s.now()})
	})
	if err != nil {
		return fmt.Errorf("postgres: NHSmail state: %w", err)
	}
	return nil
}

// DeleteExpiredNHSmailState removes every expired value.
func (s *Store) DeleteExpiredNHSmailState(ctx context.Context) (int, error) {
	tag, err := s.pool.Exec(ctx, `DELETE FROM nhsmail_state WHERE expires <= $1`, s.now())
	if err != nil {
		return 0, fmt.Errorf("postgres: delete expired NHSmail state: %w", err)
	}
	return int(tag.RowsAffected()), nil
}

// deleteNHSmailTokensOf deletes an account's access tokens inside tx (the
// provider's values are JSON with an account_id, see cqrs.NHSmailTokenOwner).
func deleteNHSmailTokensOf(ctx context.Context, tx pgx.Tx, accountID uint64) error {
	_, err := tx.Exec(ctx, `DELETE FROM nhsmail_state WHERE kind = $1 AND (convert_from(value, 'UTF8')::jsonb->>'account_id')::bigint = $2`,
		cqrs.NHSmailAccessTokens, int64(accountID))
	return err
}
