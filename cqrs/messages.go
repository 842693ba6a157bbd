package cqrs

import (
	"time"
)

// Message is one entry in a user's message centre. Messages are keyed by
// recipient then sequence, so one user's messages are a contiguous range.
type Message struct {
	ID      uint64    `json:"id"`
	UserID  uint64    `json:"user_id"`
	From    string    `json:"from"`
	Subject string    `json:"subject"`
	Body    string    `json:"body"`
	Sent    time.Time `json:"sent"`
	Read    bool      `json:"read"`
}

// Inbox is what the message centre shows, read at one moment: the user's
// messages, newest first, how many of them are unread, and the
// organisation the page's header names.
type Inbox struct {
	Organisation Organisation
	Messages     []Message
	Unread       int
}
