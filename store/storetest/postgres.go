package storetest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/url"
	"os"
	"testing"

	"github.com/jackc/pgx/v5"
)

// PostgresURLEnv names the test database's address. Without it the
// PostgreSQL tests skip, except under CI=true, where they fail: CI starts
// a cluster for them.
const PostgresURLEnv = "POSTGRES_TEST_URL"

// PostgresDSN gives each call an empty schema of its own on the test
// database, dropped when t ends, and returns an address that uses it.
func PostgresDSN(t *testing.T) string {
	t.Helper()
	dsn := os.Getenv(PostgresURLEnv)
	if dsn == "" {
		if os.Getenv("CI") == "true" {
			t.Fatalf("%s is not set: CI must start PostgreSQL for these tests", PostgresURLEnv)
		}
		t.Skipf("%s is not set: no PostgreSQL to test against", PostgresURLEnv)
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
