package cqrs

import (
	"time"
)

// EmailStatus is where an outbox entry is in its delivery.
type EmailStatus string

// Email statuses.
const (
	EmailQueued EmailStatus = "queued" // waiting for its first or next attempt
	EmailSent   EmailStatus = "sent"   // accepted by the SMTP server
	EmailFailed EmailStatus = "failed" // gave up after the last attempt
	// EmailLocal is delivered to the built-in local mailbox (no SMTP set up).
	EmailLocal EmailStatus = "mailbox"
)

// Email is one outbox entry. It is written in the same transaction as the
// change that causes it, so an acknowledged change never loses its email.
type Email struct {
	ID          uint64      `json:"id"`
	Kind        string      `json:"kind"` // registration, reset, password-changed …
	UserID      uint64      `json:"user_id"`
	OrgID       uint64      `json:"org_id"`
	ToName      string      `json:"to_name"`
	To          string      `json:"to"`
	Subject     string      `json:"subject"`
	Text        string      `json:"text"`
	HTML        string      `json:"html"`
	Created     time.Time   `json:"created"`
	Status      EmailStatus `json:"status"`
	Attempts    int         `json:"attempts"`
	NextAttempt time.Time   `json:"next_attempt"`
	LastError   string      `json:"last_error,omitempty"`
	SentAt      time.Time   `json:"sent_at"`
	// Secret is the link token inside the body. Once SMTP has delivered the
	// email it is cut out of the stored copy, so the outbox does not keep
	// working links.
	Secret string `json:"secret,omitempty"`
}

// EmailFilter selects outbox entries for the mailbox and outbox pages.
type EmailFilter struct {
	OrgID  uint64 // 0: every organisation
	UserID uint64 // 0: every user
	Limit  int
}
