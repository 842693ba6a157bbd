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

// SessionTouchEvery limits idle-timer writes: the engines record a
// session's LastSeen only when it is at least this old, so reading pages
// stays cheap. The stored LastSeen can therefore lag the last page by up
// to this long; the app keeps the exact time of each page it served and
// asks the store to keep a session this long past the idle limit.
const SessionTouchEvery = time.Minute
