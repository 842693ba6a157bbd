package cqrs

import (
	"time"
)

// AuditEvent is one entry of the security audit log. It never holds a
// password or a token. Entries are only ever appended: nothing in the
// application edits or deletes them.
type AuditEvent struct {
	ID      uint64    `json:"id"`
	Time    time.Time `json:"time"`
	Type    string    `json:"type"`
	Actor   string    `json:"actor,omitempty"`   // who did it (User ID), if signed in
	Subject string    `json:"subject,omitempty"` // whose account it concerns, as typed or stored
	OrgID   uint64    `json:"org_id,omitempty"`  // the subject's organisation, when known
	IP      string    `json:"ip,omitempty"`
	Method  string    `json:"method,omitempty"` // legacy, nhsmail, link, admin …
	Detail  string    `json:"detail,omitempty"`
}

// AuditFilter selects audit entries.
type AuditFilter struct {
	OrgID   uint64 // 0: every organisation (system administrator)
	Subject string // User ID, ignoring case; matches actor or subject
	Type    string
	From    time.Time // inclusive; zero: no bound
	To      time.Time // exclusive; zero: no bound
	Offset  int
	Limit   int // 0: no limit (CSV)
}

// Audit event types the store writes itself, in the transaction of the
// change they record.
const (
	AuditSignIn       = "sign-in"
	AuditSignInFailed = "sign-in-failed"
	AuditSignInLocked = "sign-in-while-locked"
	AuditLockout      = "lockout"
)
