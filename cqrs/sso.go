package cqrs

import (
	"time"
)

// SSOPending is a single sign-on request in flight: what the callback must
// find to accept the provider's answer. Stored under the SHA-256 of its
// state, used once.
type SSOPending struct {
	Nonce    string    `json:"nonce"`
	Verifier string    `json:"verifier"` // PKCE code verifier
	Next     string    `json:"next"`
	Expires  time.Time `json:"expires"`
	// Used marks a request whose answer has come back: kept until it
	// expires so a reload can be told it was already used.
	Used bool `json:"used,omitempty"`
}
