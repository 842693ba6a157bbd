package store

import (
	"context"
	"fmt"
	"strings"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/cqrs-local/cqrs-signin/cqrs"
)

// Audit appends an event, stamping its time.
func (s *Store) Audit(ctx context.Context, e cqrs.AuditEvent) error {
	err := s.db.Update(func(tx *bolt.Tx) error { return appendAudit(tx, &e, s.now()) })
	if err != nil {
		return fmt.Errorf("store: audit: %w", err)
	}
	return nil
}

func appendAudit(tx *bolt.Tx, e *cqrs.AuditEvent, now time.Time) error {
	b := tx.Bucket(bucketAudit)
	seq, err := b.NextSequence()
	if err != nil {
		return err
	}
	e.ID, e.Time = seq, now
	return putJSON(b, itob(seq), e)
}

// AuditEvents lists matching entries newest first, and how many match.
func (s *Store) AuditEvents(ctx context.Context, f cqrs.AuditFilter) ([]cqrs.AuditEvent, int, error) {
	var (
		out   []cqrs.AuditEvent
		total int
	)
	err := s.db.View(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketAudit)
		c := b.Cursor()
		for k, _ := c.Last(); k != nil; k, _ = c.Prev() {
			var e cqrs.AuditEvent
			if err := getJSON(b, k, &e); err != nil {
				return err
			}
			if f.OrgID != 0 && e.OrgID != f.OrgID ||
				f.Type != "" && e.Type != f.Type ||
				f.Subject != "" && !strings.EqualFold(e.Subject, f.Subject) && !strings.EqualFold(e.Actor, f.Subject) ||
				!f.From.IsZero() && e.Time.Before(f.From) ||
				!f.To.IsZero() && !e.Time.Before(f.To) {
				continue
			}
			if total >= f.Offset && (f.Limit <= 0 || len(out) < f.Limit) {
				out = append(out, e)
			}
			total++
		}
		return nil
	})
	if err != nil {
		return nil, 0, fmt.Errorf("store: audit events: %w", err)
	}
	return out, total, nil
}

// recordEvents appends the security events a change records, inside the
// change's own transaction: the log holds an entry exactly when the change
// happened, and a change whose entry cannot be written is not made. Every
// method that takes events ...AuditEvent records them this way. An event
// naming no subject is about u.
func recordEvents(tx *bolt.Tx, events []cqrs.AuditEvent, u cqrs.User, now time.Time) error {
	for _, e := range events {
		if e.Subject == "" {
			e.Subject, e.OrgID = u.UserID, u.OrgID
		}
		if err := appendAudit(tx, &e, now); err != nil {
			return err
		}
	}
	return nil
}
