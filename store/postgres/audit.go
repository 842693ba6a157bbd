package postgres

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/cqrs-local/cqrs-signin/cqrs"
)

// Audit appends an event that comes with no change, stamping its time.
func (s *Store) Audit(ctx context.Context, e cqrs.AuditEvent) error {
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		e.Time = s.now()
		return appendAudit(ctx, tx, e)
	})
	if err != nil {
		return fmt.Errorf("postgres: audit: %w", err)
	}
	return nil
}

// AuditEvents lists matching entries newest first, and how many match.
func (s *Store) AuditEvents(ctx context.Context, f cqrs.AuditFilter) ([]cqrs.AuditEvent, int, error) {
	where := `($1 = 0 OR org_id = $1) AND ($2 = '' OR type = $2) AND ($3 = '' OR lower(subject) = lower($3) OR lower(actor) = lower($3))
		AND ($4::timestamptz = '0001-01-01 00:00:00+00' OR time >= $4) AND ($5::timestamptz = '0001-01-01 00:00:00+00' OR time < $5)`
	args := []any{int64(f.OrgID), f.Type, f.Subject, f.From, f.To}
	var total int
	if err := s.pool.QueryRow(ctx, `SELECT count(*) FROM audit WHERE `+where, args...).Scan(&total); err != nil {
		return nil, 0, fmt.Errorf("postgres: audit events: %w", err)
	}
	limit := any(nil) // no limit: the CSV download
	if f.Limit > 0 {
		limit = f.Limit
	}
	rows, err := s.pool.Query(ctx, `SELECT id, time, type, actor, subject, org_id, ip, method, detail FROM audit WHERE `+where+`
		ORDER BY id DESC OFFSET $6 LIMIT $7`, append(args, f.Offset, limit)...)
	if err != nil {
		return nil, 0, fmt.Errorf("postgres: audit events: %w", err)
	}
	events, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (cqrs.AuditEvent, error) {
		var e cqrs.AuditEvent
		err := row.Scan(&e.ID, &e.Time, &e.Type, &e.Actor, &e.Subject, &e.OrgID, &e.IP, &e.Method, &e.Detail)
		e.Time = e.Time.UTC()
		return e, err
	})
	if err != nil {
		return nil, 0, fmt.Errorf("postgres: audit events: %w", err)
	}
	return events, total, nil
}
