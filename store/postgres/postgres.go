// Package postgres keeps the domain in PostgreSQL, for a site that runs
// several instances of CQRS sign-in on one database. It keeps the same
// contract as the bbolt engine (package store), checked by the same suite
// (package storetest). Every change is one transaction; the rows two
// instances could race for (a user's failure count, a link, an outbox
// entry) are locked for the transaction, so the answer is the same whichever
// instance is asked.
package postgres

import (
	"context"
	"crypto/rand"
	"embed"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/pressly/goose/v3"
	"github.com/pressly/goose/v3/lock"

	"github.com/cqrs-local/cqrs-signin/cqrs"
)

//go:embed migrations/*.sql
var migrations embed.FS

// Options tune Open.
type Options struct {
	// Now is the clock; tests inject their own.
	Now func() time.Time
}

// Store is the PostgreSQL engine.
type Store struct {
	pool *pgxpool.Pool
	now  func() time.Time
}

// Open connects to the database at dsn (a postgres:// URL), brings its
// schema up to date and makes the installation's secrets on first use.
// Instances starting together take turns at the migrations under an
// advisory lock.
func Open(ctx context.Context, dsn string, opts Options) (*Store, error) {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		return nil, fmt.Errorf("postgres: %w", err)
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("postgres: connect: %w", err)
	}
	s := &Store{pool: pool, now: opts.Now}
	if err := s.migrate(ctx); err != nil {
		pool.Close()
		return nil, err
	}
	if err := s.makeSecrets(ctx); err != nil {
		pool.Close()
		return nil, err
	}
	return s, nil
}

func (s *Store) migrate(ctx context.Context) error {
	db := stdlib.OpenDBFromPool(s.pool)
	defer db.Close()
	locker, err := lock.NewPostgresSessionLocker()
	if err != nil {
		return fmt.Errorf("postgres: migrate: %w", err)
	}
	p, err := goose.NewProvider(goose.DialectPostgres, db, mustSub(migrations, "migrations"), goose.WithSessionLocker(locker))
	if err != nil {
		return fmt.Errorf("postgres: migrate: %w", err)
	}
	if _, err := p.Up(ctx); err != nil {
		return fmt.Errorf("postgres: migrate: %w", err)
	}
	return nil
}

// SchemaVersion is the version this binary's migrations bring a database to.
const SchemaVersion = 6

// Schema returns the database's schema version.
func (s *Store) Schema(ctx context.Context) (uint64, error) {
	var v int64
	err := s.pool.QueryRow(ctx, `SELECT COALESCE(max(version_id), 0) FROM goose_db_version WHERE is_applied`).Scan(&v)
	if err != nil {
		return 0, fmt.Errorf("postgres: schema: %w", err)
	}
	return uint64(v), nil
}

// Ping reaches the database, for the instance's readiness check.
func (s *Store) Ping(ctx context.Context) error { return s.pool.Ping(ctx) }

// Close closes the connections.
func (s *Store) Close() error { s.pool.Close(); return nil }

const (
	keyCSRF     = "csrf-key"
	keyInstance = "instance-id"
)

// makeSecrets makes the CSRF key and the instance ID once: ON CONFLICT
// keeps the first instance's when two start together.
func (s *Store) makeSecrets(ctx context.Context) error {
	key := make([]byte, 32)
	id := make([]byte, 5)
	rand.Read(key)
	rand.Read(id)
	_, err := s.pool.Exec(ctx, `INSERT INTO meta (key, value) VALUES ($1, $2), ($3, $4) ON CONFLICT (key) DO NOTHING`,
		keyCSRF, key, keyInstance, []byte(hex.EncodeToString(id)))
	if err != nil {
		return fmt.Errorf("postgres: secrets: %w", err)
	}
	return nil
}

func (s *Store) meta(ctx context.Context, key string) ([]byte, error) {
	var v []byte
	if err := s.pool.QueryRow(ctx, `SELECT value FROM meta WHERE key = $1`, key).Scan(&v); err != nil {
		return nil, fmt.Errorf("postgres: %s: %w", key, notFound(err))
	}
	return v, nil
}

// CSRFKey returns the secret that signs CSRF tokens; every instance on the
// database shares it, so a form from one is accepted by another.
func (s *Store) CSRFKey(ctx context.Context) ([]byte, error) { return s.meta(ctx, keyCSRF) }

// InstanceID is the installation's short random name; every instance on
// the database shares it, so their cookies are one set.
func (s *Store) InstanceID(ctx context.Context) (string, error) {
	v, err := s.meta(ctx, keyInstance)
	return string(v), err
}

// inTx runs fn in one transaction, committed when fn returns nil.
func (s *Store) inTx(ctx context.Context, fn func(tx pgx.Tx) error) error {
	return pgx.BeginFunc(ctx, s.pool, fn)
}

// notFound turns "no rows" into cqrs.ErrNotFound and a unique violation
// into cqrs.ErrConflict.
func notFound(err error) error {
	var pe *pgconn.PgError
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		return cqrs.ErrNotFound
	case errors.As(err, &pe) && pe.Code == "23505":
		return fmt.Errorf("%w: %s", cqrs.ErrConflict, pe.ConstraintName)
	}
	return err
}

// recordEvents appends the security events a change records, in its
// transaction; an event naming no subject is about u.
func recordEvents(ctx context.Context, tx pgx.Tx, events []cqrs.AuditEvent, u cqrs.User, now time.Time) error {
	for _, e := range events {
		if e.Subject == "" {
			e.Subject, e.OrgID = u.UserID, u.OrgID
		}
		e.Time = now
		if err := appendAudit(ctx, tx, e); err != nil {
			return err
		}
	}
	return nil
}

func appendAudit(ctx context.Context, tx pgx.Tx, e cqrs.AuditEvent) error {
	_, err := tx.Exec(ctx, `INSERT INTO audit (time, type, actor, subject, org_id, ip, method, detail)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`, e.Time, e.Type, e.Actor, e.Subject, int64(e.OrgID), e.IP, e.Method, e.Detail)
	return err
}

func mustSub(f embed.FS, dir string) fs.FS {
	sub, err := fs.Sub(f, dir)
	if err != nil {
		panic(err) // the embedded folder is part of the binary
	}
	return sub
}
