package store

import (
	"context"
	"fmt"

	bolt "go.etcd.io/bbolt"
)

// EndNHSmailSessions signs an NHSmail account out of the simulator in
// every browser: after a trainer gives a learner another NHSmail account,
// the next Sign In must ask who they are, not return the old identity.
func (s *Store) EndNHSmailSessions(ctx context.Context, accountID uint64) error {
	err := s.db.Update(func(tx *bolt.Tx) error { return deleteNHSmailSessionsOf(tx, accountID) })
	if err != nil {
		return fmt.Errorf("store: end NHSmail sessions of %d: %w", accountID, err)
	}
	return nil
}
