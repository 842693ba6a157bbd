// Package cqrs is the product's domain: users and their organisations,
// single-use links, sessions, messages, the outbox, the audit log, the
// NHSmail simulator's directory and training mode's data, and the errors
// every storage engine returns. It imports no engine and no web framework:
// handlers speak these types, and each engine (package store for bbolt)
// stores them.
//
// The JSON tags on the records are the bbolt engine's stored format; other
// engines ignore them.
package cqrs

import "errors"

// Errors every engine returns, wrapped with context; callers test them with
// errors.Is.
var (
	// ErrNotFound means the record does not exist (or a link was already used).
	ErrNotFound = errors.New("not found")
	// ErrConflict means a unique value (User ID, email, ODS code) is taken,
	// or the change no longer applies (set-up already done).
	ErrConflict = errors.New("conflict")
	// ErrExpired means a link or token exists but its time has passed.
	ErrExpired = errors.New("expired")
)
