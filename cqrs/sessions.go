package cqrs

import (
	"time"
)

// Session is a signed-in browser, stored under the SHA-256 of its cookie
// value so the database never holds a usable session ID.
type Session struct {
	UserID   uint64    `json:"user_id"`
	Created  time.Time `json:"created"`
	LastSeen time.Time `json:"last_seen"`
}
