package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/cqrs-local/cqrs-signin/cqrs"
)

// SystemAdminLink stores the link cqrs.SystemAdminLink decides for the
// first system administrator, with its audit events, in one transaction.
// Earlier links keep working (as every instance's printed set-up link
// does) until one is used or expires. The system
// administrators' rows are locked first, so two instances starting at once
// decide one after the other.
func (s *Store) SystemAdminLink(ctx context.Context, linkHash []byte, registerTTL, resetTTL time.Duration, reset bool, events ...cqrs.AuditEvent) (cqrs.User, cqrs.Link, error) {
	var (
		u    cqrs.User
		link cqrs.Link
	)
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, `SELECT `+userColumns+` FROM users WHERE role = $1 ORDER BY id FOR UPDATE`, string(cqrs.RoleSystemAdmin))
		if err != nil {
			return err
		}
		admins, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (cqrs.User, error) { return scanUser(row) })
		if err != nil {
			return err
		}
		now := s.now()
		var reinvited bool
		if u, link, reinvited, err = cqrs.SystemAdminLink(admins, now, registerTTL, resetTTL, reset); err != nil {
			return err
		}
		if reinvited {
			if err := putUser(ctx, tx, u); err != nil {
				return err
			}
		}
		if err := putLink(ctx, tx, linkHash, link); err != nil {
			return err
		}
		return recordEvents(ctx, tx, events, u, now)
	})
	if err != nil {
		return cqrs.User{}, cqrs.Link{}, fmt.Errorf("postgres: system administrator's link: %w", err)
	}
	return u, link, nil
}
