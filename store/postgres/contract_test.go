package postgres_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/cqrs-local/cqrs-signin/store/postgres"
	"github.com/cqrs-local/cqrs-signin/store/storetest"
)

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
			dsn := storetest.PostgresDSN(t)
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
