package store

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/cqrs-local/cqrs-signin/cqrs"
)

// SystemAdminLink stores the link cqrs.SystemAdminLink decides for the
// first system administrator (replacing their earlier unused link of that
// purpose), with its audit events, in one transaction. See
// cqrs.SystemAdminLink for when there is none.
func (s *Store) SystemAdminLink(ctx context.Context, linkHash []byte, registerTTL, resetTTL time.Duration, reset bool, events ...cqrs.AuditEvent) (cqrs.User, cqrs.Link, error) {
	var (
		u    cqrs.User
		link cqrs.Link
	)
	err := s.db.Update(func(tx *bolt.Tx) error {
		var admins []cqrs.User
		err := tx.Bucket(bucketUsers).ForEach(func(_, v []byte) error {
			var u cqrs.User
			if err := json.Unmarshal(v, &u); err != nil {
				return err
			}
			if u.Role == cqrs.RoleSystemAdmin {
				admins = append(admins, u)
			}
			return nil
		})
		if err != nil {
			return err
		}
		now := s.now()
		var reinvited bool
		if u, link, reinvited, err = cqrs.SystemAdminLink(admins, now, registerTTL, resetTTL, reset); err != nil {
			return err
		}
		if reinvited {
			if err := putUser(tx, u); err != nil {
				return err
			}
		}
		if err := putLink(tx, linkHash, link); err != nil {
			return err
		}
		return recordEvents(tx, events, u, now)
	})
	if err != nil {
		return cqrs.User{}, cqrs.Link{}, fmt.Errorf("store: system administrator's link: %w", err)
	}
	return u, link, nil
}
