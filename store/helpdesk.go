package store

import (
	"context"
	"fmt"

	bolt "go.etcd.io/bbolt"

	"github.com/cqrs-local/cqrs-signin/cqrs"
)

var keyHelpDesk = []byte("help-desk")

// HelpDesk returns the site's own help desk; ErrNotFound while it has none
// (people are sent to the national CQRS help desk).
func (s *Store) HelpDesk(ctx context.Context) (cqrs.HelpDesk, error) {
	var h cqrs.HelpDesk
	err := s.db.View(func(tx *bolt.Tx) error { return getJSON(tx.Bucket(bucketMeta), keyHelpDesk, &h) })
	if err != nil {
		return cqrs.HelpDesk{}, fmt.Errorf("store: help desk: %w", err)
	}
	return h, nil
}

// SetHelpDesk keeps the site's own help desk, or with the zero value goes
// back to the national one, with its audit events in the same transaction.
func (s *Store) SetHelpDesk(ctx context.Context, h cqrs.HelpDesk, events ...cqrs.AuditEvent) error {
	err := s.db.Update(func(tx *bolt.Tx) error {
		meta := tx.Bucket(bucketMeta)
		var err error
		if h == (cqrs.HelpDesk{}) {
			err = meta.Delete(keyHelpDesk)
		} else {
			err = putJSON(meta, keyHelpDesk, h)
		}
		if err != nil {
			return err
		}
		return recordEvents(tx, events, cqrs.User{}, s.now())
	})
	if err != nil {
		return fmt.Errorf("store: set help desk: %w", err)
	}
	return nil
}
