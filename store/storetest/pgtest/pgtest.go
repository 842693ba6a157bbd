// Package pgtest gives a test an empty PostgreSQL schema of its own on the
// test database. It is apart from storetest so that tests of the packages
// storetest imports (handlers) can use it too.
package pgtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/url"
	"os"
	"sync"
	"testing"

	"github.com/jackc/pgx/v5"
)

// URLEnv names the test database's address. Without it the PostgreSQL
// tests skip, except under CI=true, where they fail: CI starts a cluster
// for them.
const URLEnv = "POSTGRES_TEST_URL"

// Required says whether a missing URLEnv is a failure (under CI=true)
// rather than a reason to skip.
func Required() bool { return os.Getenv("CI") == "true" }

// reuse, when on, keeps the schemas of tests that have ended, emptied,
// for the next tests of this process: making a schema runs every
// migration, which costs far more than emptying one.
var reuse struct {
	sync.Mutex
	on    bool
	conn  *pgx.Conn // for CREATE, TRUNCATE and DROP SCHEMA
	free  []string
	every []string
}

// Reuse makes DSN hand out schemas that earlier tests of this process
// used, emptied (every table but the migrations' own, identities
// restarted), instead of a new one each time. Call the function it returns
// when the tests are over (TestMain) to drop them.
func Reuse() (dropAll func()) {
	reuse.Lock()
	reuse.on = true
	reuse.Unlock()
	return func() {
		reuse.Lock()
		defer reuse.Unlock()
		reuse.on = false
		if reuse.conn == nil {
			return
		}
		ctx := context.Background()
		for _, schema := range reuse.every {
			reuse.conn.Exec(ctx, "DROP SCHEMA IF EXISTS "+schema+" CASCADE")
		}
		reuse.conn.Close(ctx)
		reuse.conn, reuse.free, reuse.every = nil, nil, nil
	}
}

// DSN gives each call an empty schema of its own on the test database,
// dropped when t ends (emptied for the next test, after Reuse), and
// returns an address that uses it.
func DSN(t testing.TB) string {
	t.Helper()
	dsn := os.Getenv(URLEnv)
	if dsn == "" {
		if Required() {
			t.Fatalf("%s is not set: CI must start PostgreSQL for these tests", URLEnv)
		}
		t.Skipf("%s is not set: no PostgreSQL to test against", URLEnv)
	}
	reuse.Lock()
	on := reuse.on
	reuse.Unlock()
	var schema string
	if on {
		schema = reusedSchema(t, dsn)
	} else {
		schema = newSchema(t, dsn)
	}
	u, err := url.Parse(dsn)
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	q.Set("search_path", schema) // a run-time parameter for every connection
	// A test's database need not outlive a crash of the server: commits
	// need not wait for the disk.
	q.Set("synchronous_commit", "off")
	u.RawQuery = q.Encode()
	return u.String()
}

func schemaName() string {
	b := make([]byte, 6)
	rand.Read(b)
	return "test_" + hex.EncodeToString(b)
}

// newSchema makes a schema dropped when t ends.
func newSchema(t testing.TB, dsn string) string {
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	schema := schemaName()
	if _, err := conn.Exec(ctx, "CREATE SCHEMA "+schema); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if _, err := conn.Exec(ctx, "DROP SCHEMA "+schema+" CASCADE"); err != nil {
			t.Errorf("drop test schema: %v", err)
		}
		conn.Close(ctx)
	})
	return schema
}

// reusedSchema takes an emptied schema, or makes one, and empties it for
// the next test when t ends.
func reusedSchema(t testing.TB, dsn string) string {
	ctx := context.Background()
	reuse.Lock()
	defer reuse.Unlock()
	if reuse.conn == nil {
		conn, err := pgx.Connect(ctx, dsn)
		if err != nil {
			t.Fatal(err)
		}
		reuse.conn = conn
	}
	var schema string
	if n := len(reuse.free); n > 0 {
		schema, reuse.free = reuse.free[n-1], reuse.free[:n-1]
	} else {
		schema = schemaName()
		if _, err := reuse.conn.Exec(ctx, "CREATE SCHEMA "+schema); err != nil {
			t.Fatal(err)
		}
		reuse.every = append(reuse.every, schema)
	}
	t.Cleanup(func() {
		reuse.Lock()
		defer reuse.Unlock()
		if reuse.conn == nil {
			return
		}
		var tables string
		err := reuse.conn.QueryRow(ctx, `SELECT COALESCE(string_agg(quote_ident(table_schema) || '.' || quote_ident(table_name), ', '), '')
			FROM information_schema.tables WHERE table_schema = $1 AND table_name <> 'goose_db_version'`, schema).Scan(&tables)
		if err == nil && tables != "" {
			_, err = reuse.conn.Exec(ctx, "TRUNCATE "+tables+" RESTART IDENTITY CASCADE")
		}
		if err != nil {
			t.Errorf("empty test schema: %v", err)
			return // not handed out again; dropped at the end
		}
		reuse.free = append(reuse.free, schema)
	})
	return schema
}
