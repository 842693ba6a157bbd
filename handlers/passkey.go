package handlers

import (
	"context"

	"github.com/cqrs-local/cqrs-signin/cqrs"
)

// PasskeyStore is what passkeys need from the store: the ceremonies begun
// (kept server-side, so every instance on PostgreSQL sees them), a
// person's passkeys, and the second step's decision.
type PasskeyStore interface {
	SavePasskeyChallenge(ctx context.Context, ch cqrs.PasskeyChallenge) error
	TakePasskeyChallenge(ctx context.Context, owner []byte, purpose string) (cqrs.PasskeyChallenge, error)
	Passkeys(ctx context.Context, userID uint64) ([]cqrs.Passkey, error)
	AddPasskey(ctx context.Context, p cqrs.Passkey, events ...cqrs.AuditEvent) error
	RenamePasskey(ctx context.Context, userID uint64, id []byte, name string, events ...cqrs.AuditEvent) error
	RemovePasskey(ctx context.Context, userID uint64, id []byte, events ...cqrs.AuditEvent) (int, error)
	PasskeySignIn(ctx context.Context, a cqrs.PasskeyAttempt) (cqrs.SignInResult, error)
}
