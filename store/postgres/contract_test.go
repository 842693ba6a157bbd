package postgres_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/url"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/cqrs-local/cqrs-signin/store/postgres"
	"github.com/cqrs-local/cqrs-signin/store/storetest"
)

// testDSNEnv names the test database's address. Without it the tests skip,
// except under CI=true, where they fail: CI starts a cluster for them.
const testDSNEnv = "POSTGRES_TEST_URL"

// testDSN gives each call an empty schema of its own on the test database,
// dropped when t ends, and returns an address that uses it.
func testDSN(t *testing.T) string {
	t.Helper()
	dsn := os.Getenv(testDSNEnv)
	if dsn == "" {
		if os.Getenv("CI") == "true" {
			t.Fatalf("%s is not set: CI must start PostgreSQL for these tests", testDSNEnv)
		}
		t.Skipf("%s is not set: no PostgreSQL to test against", testDSNEnv)
	}
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	b := make([]byte, 6)
	rand.Read(b)
	schema := "test_" + hex.EncodeToString(b)
	if _, err := conn.Exec(ctx, "CREATE SCHEMA "+schema); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if _, err := conn.Exec(ctx, "DROP SCHEMA "+schema+" CASCADE"); err != nil {
			t.Errorf("drop test schema: %v", err)
		}
		conn.Close(ctx)
	})
	u, err := url.Parse(dsn)
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	q.Set("search_path", schema) // a run-time parameter for every connection
	u.RawQuery = q.Encode()
	return u.String()
}

func openStore(t *testing.T, dsn string, now func() time.Time) *postgres.Store {
	t.Helper()
	s, err := postgres.Open(context.Background(), dsn, postgres.Options{Now: now})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// TestContract runs the engines' shared contract on PostgreSQL.
func TestContract(t *testing.T) {
	type opened struct {
		dsn string
		now func() time.Time
	}
	var (
		mu   sync.Mutex
		seen = map[*postgres.Store]opened{}
	)
	storetest.Run(t, storetest.Config{
		Open: func(t *testing.T, now func() time.Time) storetest.Engine {
			dsn := testDSN(t)
			s := openStore(t, dsn, now)
			mu.Lock()
			seen[s] = opened{dsn, now}
			mu.Unlock()
			return s
		},
		Reopen: func(t *testing.T, e storetest.Engine) storetest.Engine {
			s := e.(*postgres.Store)
			s.Close()
			mu.Lock()
			o := seen[s]
			mu.Unlock()
			return openStore(t, o.dsn, o.now)
		},
		Schema: postgres.SchemaVersion,
	})
}
