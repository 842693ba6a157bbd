package store

import (
	"bytes"
	"context"
	"fmt"
	"slices"

	bolt "go.etcd.io/bbolt"

	"github.com/cqrs-local/cqrs-signin/cqrs"
)

func messageKey(userID, id uint64) []byte { return append(itob(userID), itob(id)...) }

func addMessage(tx *bolt.Tx, m cqrs.Message) error {
	b := tx.Bucket(bucketMessages)
	seq, err := b.NextSequence()
	if err != nil {
		return err
	}
	m.ID = seq
	return putJSON(b, messageKey(m.UserID, m.ID), m)
}

// Messages returns the user's messages, newest first, and how many are unread.
func (s *Store) Messages(ctx context.Context, userID uint64) ([]cqrs.Message, int, error) {
	var (
		msgs   []cqrs.Message
		unread int
	)
	err := s.db.View(func(tx *bolt.Tx) error {
		var err error
		msgs, unread, err = s.readMessages(tx, userID)
		return err
	})
	if err != nil {
		return nil, 0, fmt.Errorf("store: messages: %w", err)
	}
	return msgs, unread, nil
}

// Inbox reads the message centre in one transaction: the user's messages
// and the organisation in the page's header.
func (s *Store) Inbox(ctx context.Context, userID, orgID uint64) (cqrs.Inbox, error) {
	in, err := s.inbox(userID, orgID)
	if err != nil {
		return cqrs.Inbox{}, fmt.Errorf("store: inbox: %w", err)
	}
	return in, nil
}

// inbox is Inbox's read; the header on every signed-in page reads the same
// (the list costs no decoding: the messages come from the decode cache).
func (s *Store) inbox(userID, orgID uint64) (cqrs.Inbox, error) {
	var in cqrs.Inbox
	err := s.db.View(func(tx *bolt.Tx) error {
		raw := tx.Bucket(bucketOrgs).Get(itob(orgID))
		if raw == nil {
			return cqrs.ErrNotFound
		}
		var err error
		if in.Organisation, err = s.orgs.get(orgID, raw); err != nil {
			return err
		}
		in.Messages, in.Unread, err = s.readMessages(tx, userID)
		return err
	})
	return in, err
}

// readMessages is the user's messages, newest first, and how many are
// unread.
func (s *Store) readMessages(tx *bolt.Tx, userID uint64) ([]cqrs.Message, int, error) {
	var (
		out    []cqrs.Message
		unread int
	)
	b := tx.Bucket(bucketMessages)
	prefix := itob(userID)
	c := b.Cursor()
	for k, v := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, v = c.Next() {
		var m cqrs.Message
		var err error
		if len(k) == 16 {
			m, err = s.messages.get([16]byte(k), v)
		} else {
			err = getJSON(b, k, &m)
		}
		if err != nil {
			return nil, 0, err
		}
		if !m.Read {
			unread++
		}
		out = append(out, m)
	}
	slices.Reverse(out)
	return out, unread, nil
}

// HeaderInfo is what every signed-in page's header shows, read in one
// transaction: the user's organisation and their unread count.
func (s *Store) HeaderInfo(ctx context.Context, userID, orgID uint64) (cqrs.Organisation, int, error) {
	in, err := s.inbox(userID, orgID)
	if err != nil {
		return cqrs.Organisation{}, 0, fmt.Errorf("store: header: %w", err)
	}
	return in.Organisation, in.Unread, nil
}

// OpenMessage returns one of the user's messages and marks it read. Another
// user's message is ErrNotFound: the key includes the recipient.
func (s *Store) OpenMessage(ctx context.Context, userID, id uint64) (cqrs.Message, error) {
	var m cqrs.Message
	err := s.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketMessages)
		if err := getJSON(b, messageKey(userID, id), &m); err != nil {
			return err
		}
		if m.Read {
			return nil
		}
		m.Read = true
		return putJSON(b, messageKey(userID, id), m)
	})
	if err != nil {
		return cqrs.Message{}, fmt.Errorf("store: open message: %w", err)
	}
	return m, nil
}

// DeleteMessage removes one of the user's messages.
func (s *Store) DeleteMessage(ctx context.Context, userID, id uint64) error {
	err := s.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketMessages)
		if b.Get(messageKey(userID, id)) == nil {
			return cqrs.ErrNotFound
		}
		return b.Delete(messageKey(userID, id))
	})
	if err != nil {
		return fmt.Errorf("store: delete message: %w", err)
	}
	return nil
}

// Broadcast leaves a message for every active or invited user of orgID (every
// user at all when orgID is 0), in one transaction, and returns how many.
func (s *Store) Broadcast(ctx context.Context, orgID uint64, from, subject, body string) (int, error) {
	now := s.now()
	n := 0
	err := s.db.Update(func(tx *bolt.Tx) error {
		users := tx.Bucket(bucketUsers)
		var recipients []uint64
		err := users.ForEach(func(k, v []byte) error {
			var u cqrs.User
			if err := getJSON(users, k, &u); err != nil {
				return err
			}
			if (orgID == 0 || u.OrgID == orgID) && u.Status != cqrs.StatusDisabled {
				recipients = append(recipients, u.ID)
			}
			return nil
		})
		if err != nil {
			return err
		}
		for _, id := range recipients {
			if err := addMessage(tx, cqrs.Message{UserID: id, From: from, Subject: subject, Body: body, Sent: now}); err != nil {
				return err
			}
		}
		n = len(recipients)
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("store: broadcast: %w", err)
	}
	return n, nil
}
