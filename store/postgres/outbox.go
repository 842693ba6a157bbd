package postgres

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/cqrs-local/cqrs-signin/cqrs"
)

const emailColumns = `id, kind, user_id, org_id, to_name, to_address, subject, text_body, html_body, created, status, attempts,
	next_attempt, last_error, sent_at, secret`

func scanEmail(row pgx.Row) (cqrs.Email, error) {
	var e cqrs.Email
	var status string
	err := row.Scan(&e.ID, &e.Kind, &e.UserID, &e.OrgID, &e.ToName, &e.To, &e.Subject, &e.Text, &e.HTML, &e.Created, &status, &e.Attempts,
		&e.NextAttempt, &e.LastError, &e.SentAt, &e.Secret)
	if err != nil {
		return cqrs.Email{}, notFound(err)
	}
	e.Status = cqrs.EmailStatus(status)
	utc(&e.Created, &e.NextAttempt, &e.SentAt)
	return e, nil
}

func enqueueEmail(ctx context.Context, tx pgx.Tx, e *cqrs.Email, now time.Time) error {
	e.Created, e.NextAttempt = now, now
	if e.Status == "" {
		e.Status = cqrs.EmailQueued
	}
	return tx.QueryRow(ctx, `INSERT INTO outbox (kind, user_id, org_id, to_name, to_address, subject, text_body, html_body,
		created, status, attempts, next_attempt, last_error, sent_at, secret) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15) RETURNING id`,
		e.Kind, int64(e.UserID), int64(e.OrgID), e.ToName, e.To, e.Subject, e.Text, e.HTML, e.Created, string(e.Status), e.Attempts,
		e.NextAttempt, e.LastError, e.SentAt, e.Secret).Scan(&e.ID)
}

// ClaimDueEmails takes up to limit due emails and moves each one's next
// attempt lease ahead. FOR UPDATE SKIP LOCKED lets senders on several
// instances claim at once without waiting for, or getting, each other's.
func (s *Store) ClaimDueEmails(ctx context.Context, limit int, lease time.Duration) ([]cqrs.Email, error) {
	var out []cqrs.Email
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		out = out[:0]
		now := s.now()
		rows, err := tx.Query(ctx, `UPDATE outbox SET next_attempt = $3 WHERE id IN (
			SELECT id FROM outbox WHERE status = $1 AND next_attempt <= $2 ORDER BY id LIMIT $4 FOR UPDATE SKIP LOCKED)
			RETURNING `+emailColumns, string(cqrs.EmailQueued), now, now.Add(lease), limit)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			e, err := scanEmail(rows)
			if err != nil {
				return err
			}
			e.NextAttempt = now // as it was when claimed
			out = append(out, e)
		}
		return rows.Err()
	})
	if err != nil {
		return nil, fmt.Errorf("postgres: claim due emails: %w", err)
	}
	return out, nil
}

// MarkEmailSent records a delivery by SMTP and cuts the link out of the
// stored copy.
func (s *Store) MarkEmailSent(ctx context.Context, id uint64) error {
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		e, err := scanEmail(tx.QueryRow(ctx, `SELECT `+emailColumns+` FROM outbox WHERE id = $1 FOR UPDATE`, int64(id)))
		if err != nil {
			return err
		}
		if e.Secret != "" {
			e.Text = strings.ReplaceAll(e.Text, e.Secret, "[removed after sending]")
			e.HTML = strings.ReplaceAll(e.HTML, e.Secret, "[removed after sending]")
		}
		_, err = tx.Exec(ctx, `UPDATE outbox SET status = $2, attempts = attempts + 1, sent_at = $3, last_error = '',
			text_body = $4, html_body = $5, secret = '' WHERE id = $1`, int64(id), string(cqrs.EmailSent), s.now(), e.Text, e.HTML)
		return err
	})
	if err != nil {
		return fmt.Errorf("postgres: mark email %d sent: %w", id, err)
	}
	return nil
}

// Emails lists outbox entries newest first.
func (s *Store) Emails(ctx context.Context, f cqrs.EmailFilter) ([]cqrs.Email, error) {
	if f.Limit <= 0 {
		f.Limit = 100
	}
	rows, err := s.pool.Query(ctx, `SELECT `+emailColumns+` FROM outbox WHERE ($1 = 0 OR org_id = $1) AND ($2 = 0 OR user_id = $2)
		ORDER BY id DESC LIMIT $3`, int64(f.OrgID), int64(f.UserID), f.Limit)
	if err != nil {
		return nil, fmt.Errorf("postgres: emails: %w", err)
	}
	defer rows.Close()
	var out []cqrs.Email
	for rows.Next() {
		e, err := scanEmail(rows)
		if err != nil {
			return nil, fmt.Errorf("postgres: emails: %w", err)
		}
		out = append(out, e)
	}
	return out, rows.Err()
}
