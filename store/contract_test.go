package store_test

import (
	"context"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/cqrs-local/cqrs-signin/store"
	"github.com/cqrs-local/cqrs-signin/store/storetest"
)

// TestContract runs the engines' shared contract on bbolt: a real file in
// a temp dir, checked for consistency before it is closed.
func TestContract(t *testing.T) {
	var (
		mu     sync.Mutex
		clocks = map[*store.Store]func() time.Time{}
		closed = map[*store.Store]bool{} // by Reopen
	)
	open := func(t *testing.T, path string, now func() time.Time) *store.Store {
		s, err := store.Open(path, store.Options{Now: now})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			mu.Lock()
			defer mu.Unlock()
			if closed[s] {
				return
			}
			if err := s.Check(context.Background()); err != nil {
				t.Errorf("bbolt consistency check: %v", err)
			}
			s.Close()
		})
		mu.Lock()
		clocks[s] = now
		mu.Unlock()
		return s
	}
	storetest.Run(t, storetest.Config{
		Open: func(t *testing.T, now func() time.Time) storetest.Engine {
			return open(t, filepath.Join(t.TempDir(), "cqrs.db"), now)
		},
		Reopen: func(t *testing.T, e storetest.Engine) storetest.Engine {
			s := e.(*store.Store)
			path := s.Path()
			if err := s.Check(t.Context()); err != nil {
				t.Errorf("bbolt consistency check: %v", err)
			}
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}
			mu.Lock()
			now := clocks[s]
			closed[s] = true
			mu.Unlock()
			return open(t, path, now)
		},
		Schema:   store.SchemaVersion,
		Training: func(e storetest.Engine) storetest.Training { return e.(*store.Store) },
	})
}
