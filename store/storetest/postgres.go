package storetest

import (
	"testing"

	"github.com/cqrs-local/cqrs-signin/store/storetest/pgtest"
)

// PostgresURLEnv names the test database's address (pgtest.URLEnv).
const PostgresURLEnv = pgtest.URLEnv

// PostgresDSN gives each call an empty schema of its own on the test
// database, dropped when t ends, and returns an address that uses it
// (pgtest.DSN).
func PostgresDSN(t *testing.T) string {
	t.Helper()
	return pgtest.DSN(t)
}
