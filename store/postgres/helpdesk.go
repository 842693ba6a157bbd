package postgres

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/cqrs-local/cqrs-signin/cqrs"
)

// HelpDesk returns the site's own help desk; ErrNotFound while it has none
// (people are sent to the national CQRS help desk).
func (s *Store) HelpDesk(ctx context.Context) (cqrs.HelpDesk, error) {
	var h cqrs.HelpDesk
	err := s.pool.QueryRow(ctx, `SELECT email, phone, hours FROM help_desk`).Scan(&h.Email, &h.Phone, &h.Hours)
	if err != nil {
		return cqrs.HelpDesk{}, fmt.Errorf("postgres: help desk: %w", notFound(err))
	}
	return h, nil
}

// SetHelpDesk keeps the site's own help desk, or with the zero value goes
// back to the national one, with its audit events in the same transaction.
func (s *Store) SetHelpDesk(ctx context.Context, h cqrs.HelpDesk, events ...cqrs.AuditEvent) error {
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		var err error
		if h == (cqrs.HelpDesk{}) {
			_, err = tx.Exec(ctx, `DELETE FROM help_desk`)
		} else {
			_, err = tx.Exec(ctx, `INSERT INTO help_desk (email, phone, hours) VALUES ($1, $2, $3)
				ON CONFLICT (only_row) DO UPDATE SET email = $1, phone = $2, hours = $3`, h.Email, h.Phone, h.Hours)
		}
		if err != nil {
			return err
		}
		return recordEvents(ctx, tx, events, cqrs.User{}, s.now())
	})
	if err != nil {
		return fmt.Errorf("postgres: set help desk: %w", err)
	}
	return nil
}
