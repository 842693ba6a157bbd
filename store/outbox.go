package store

import (
	"context"
	"fmt"
	"strings"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/cqrs-local/cqrs-signin/cqrs"
)

func enqueueEmail(tx *bolt.Tx, e *cqrs.Email, now time.Time) error {
	b := tx.Bucket(bucketOutbox)
	seq, err := b.NextSequence()
	if err != nil {
		return err
	}
	e.ID = seq
	e.Created = now
	if e.Status == "" {
		e.Status = cqrs.EmailQueued
	}
	e.NextAttempt = now
	return putJSON(b, itob(e.ID), e)
}

// QueueEmail adds an email to the outbox on its own.
func (s *Store) QueueEmail(ctx context.Context, e cqrs.Email) (cqrs.Email, error) {
	err := s.db.Update(func(tx *bolt.Tx) error { return enqueueEmail(tx, &e, s.now()) })
	if err != nil {
		return cqrs.Email{}, fmt.Errorf("store: queue email: %w", err)
	}
	return e, nil
}

// DueEmails returns queued emails whose next attempt is due, oldest first.
func (s *Store) DueEmails(ctx context.Context, limit int) ([]cqrs.Email, error) {
	now := s.now()
	var out []cqrs.Email
	err := s.db.View(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketOutbox)
		return b.ForEach(func(k, v []byte) error {
			if len(out) >= limit {
				return nil
			}
			var e cqrs.Email
			if err := getJSON(b, k, &e); err != nil {
				return err
			}
			if e.Status == cqrs.EmailQueued && !e.NextAttempt.After(now) {
				out = append(out, e)
			}
			return nil
		})
	})
	return out, err
}

// ClaimDueEmails takes up to limit queued emails whose time has come and
// moves each one's next attempt lease ahead, in one transaction: two
// senders claiming at once never get the same email, and an email whose
// sender stopped before marking it is tried again once the lease has passed.
func (s *Store) ClaimDueEmails(ctx context.Context, limit int, lease time.Duration) ([]cqrs.Email, error) {
	var out []cqrs.Email
	now := s.now()
	// Looked for in a read transaction first: the sender asks every 30
	// seconds, and nearly always nothing is due, which needs no write (and
	// no wait for the disk).
	err := s.db.View(func(tx *bolt.Tx) (err error) {
		out, err = dueEmails(tx, now, limit)
		return err
	})
	if err == nil && len(out) > 0 {
		err = s.db.Update(func(tx *bolt.Tx) error {
			var err error
			if out, err = dueEmails(tx, now, limit); err != nil {
				return err
			}
			b := tx.Bucket(bucketOutbox)
			// Written after the walk: bbolt's cursors do not survive writes.
			for _, e := range out {
				e.NextAttempt = now.Add(lease)
				if err := putJSON(b, itob(e.ID), e); err != nil {
					return err
				}
			}
			return nil
		})
	}
	if err != nil {
		return nil, fmt.Errorf("store: claim due emails: %w", err)
	}
	return out, nil
}

// dueEmails is up to limit queued emails whose next attempt is due.
func dueEmails(tx *bolt.Tx, now time.Time, limit int) ([]cqrs.Email, error) {
	var out []cqrs.Email
	b := tx.Bucket(bucketOutbox)
	c := b.Cursor()
	for k, _ := c.First(); k != nil && len(out) < limit; k, _ = c.Next() {
		var e cqrs.Email
		if err := getJSON(b, k, &e); err != nil {
			return nil, err
		}
		if e.Status == cqrs.EmailQueued && !e.NextAttempt.After(now) {
			out = append(out, e)
		}
	}
	return out, nil
}

// MarkEmailSent records delivery and removes the link token from the
// stored copy.
func (s *Store) MarkEmailSent(ctx context.Context, id uint64) error {
	return s.updateEmail(id, func(e *cqrs.Email) {
		e.Status = cqrs.EmailSent
		e.Attempts++
		e.SentAt = s.now()
		e.LastError = ""
		if e.Secret != "" {
			e.Text = strings.ReplaceAll(e.Text, e.Secret, "[removed after sending]")
			e.HTML = strings.ReplaceAll(e.HTML, e.Secret, "[removed after sending]")
			e.Secret = ""
		}
	})
}

// MarkEmailAttemptFailed records a failed attempt: retried at next, or
// failed for good when final.
func (s *Store) MarkEmailAttemptFailed(ctx context.Context, id uint64, errText string, next time.Time, final bool) error {
	return s.updateEmail(id, func(e *cqrs.Email) {
		e.Attempts++
		e.LastError = errText
		e.NextAttempt = next
		if final {
			e.Status = cqrs.EmailFailed
		}
	})
}

// MarkEmailDelivered puts an email in the local mailbox (no SMTP).
func (s *Store) MarkEmailDelivered(ctx context.Context, id uint64) error {
	return s.updateEmail(id, func(e *cqrs.Email) {
		e.Status = cqrs.EmailLocal
		e.SentAt = s.now()
	})
}

func (s *Store) updateEmail(id uint64, change func(*cqrs.Email)) error {
	err := s.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketOutbox)
		var e cqrs.Email
		if err := getJSON(b, itob(id), &e); err != nil {
			return err
		}
		change(&e)
		return putJSON(b, itob(id), e)
	})
	if err != nil {
		return fmt.Errorf("store: email %d: %w", id, err)
	}
	return nil
}

// Emails lists outbox entries newest first.
func (s *Store) Emails(ctx context.Context, f cqrs.EmailFilter) ([]cqrs.Email, error) {
	if f.Limit <= 0 {
		f.Limit = 100
	}
	var out []cqrs.Email
	err := s.db.View(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketOutbox)
		c := b.Cursor()
		for k, _ := c.Last(); k != nil && len(out) < f.Limit; k, _ = c.Prev() {
			var e cqrs.Email
			if err := getJSON(b, k, &e); err != nil {
				return err
			}
			if (f.OrgID == 0 || e.OrgID == f.OrgID) && (f.UserID == 0 || e.UserID == f.UserID) {
				out = append(out, e)
			}
		}
		return nil
	})
	return out, err
}

// Email returns one outbox entry.
func (s *Store) Email(ctx context.Context, id uint64) (cqrs.Email, error) {
	var e cqrs.Email
	err := s.db.View(func(tx *bolt.Tx) error { return getJSON(tx.Bucket(bucketOutbox), itob(id), &e) })
	if err != nil {
		return cqrs.Email{}, fmt.Errorf("store: email %d: %w", id, err)
	}
	return e, nil
}

// LatestEmails returns, for each of the given users, their newest outbox
// entry, walking the outbox once from its end.
func (s *Store) LatestEmails(ctx context.Context, userIDs []uint64) (map[uint64]cqrs.Email, error) {
	want := make(map[uint64]bool, len(userIDs))
	for _, id := range userIDs {
		want[id] = true
	}
	out := make(map[uint64]cqrs.Email, len(userIDs))
	err := s.db.View(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketOutbox)
		c := b.Cursor()
		for k, _ := c.Last(); k != nil && len(out) < len(want); k, _ = c.Prev() {
			var e cqrs.Email
			if err := getJSON(b, k, &e); err != nil {
				return err
			}
			if _, seen := out[e.UserID]; want[e.UserID] && !seen {
				out[e.UserID] = e
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("store: latest emails: %w", err)
	}
	return out, nil
}
