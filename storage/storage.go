// Package storage declares, once, what the app needs from its database:
// the interface both engines keep (the bbolt file in package store,
// PostgreSQL in store/postgres). It is made of the small interfaces each
// part of the app declares beside its own code (the journeys' stores in
// handlers, the mail sender's outbox, the NHSmail simulator's directory),
// so a method a journey starts to use joins it by itself; and it is what
// the contract suite (store/storetest) runs on both engines, which fails
// for any method of it without contract cases.
package storage

import (
	"context"
	"time"

	"github.com/cqrs-local/cqrs-signin/cqrs"
	"github.com/cqrs-local/cqrs-signin/handlers"
	"github.com/cqrs-local/cqrs-signin/mailer"
	"github.com/cqrs-local/cqrs-signin/nhsmail"
)

// Engine is the app's database, whichever engine keeps it. What only one
// engine has stays outside: the bbolt file's backups and training side
// (handlers.Backuper, handlers.TrainingStore), PostgreSQL's shared rate
// limits (handlers.RateCounter).
type Engine interface {
	handlers.InstanceStore
	handlers.SetupStore
	handlers.LinkStore
	handlers.SignInStore
	handlers.SessionStore
	handlers.AccountStore
	handlers.MessageStore
	handlers.UserAdminStore
	handlers.OrganisationStore
	handlers.AuditStore
	handlers.ForgottenStore
	handlers.MailboxStore
	handlers.SSOStore
	handlers.NHSmailAdminStore
	handlers.HelpDeskStore
	handlers.SecondFactorStore
	handlers.NHSmailDirectory
	mailer.Outbox
	nhsmail.Directory
	// SetSetupToken is main's: the one-time set-up link printed at start.
	SetSetupToken(ctx context.Context, hash []byte) error
	// SystemAdminLink is main's and the setup-link command's: a link for
	// the system administrator until they have a password, so a new
	// installation can always be finished.
	SystemAdminLink(ctx context.Context, linkHash []byte, registerTTL, resetTTL time.Duration, reset bool, events ...cqrs.AuditEvent) (cqrs.User, cqrs.Link, error)
	// NHSmailClientSecret is main's: the simulator's client secret, kept
	// so a restart does not sign everyone out of single sign-on.
	NHSmailClientSecret(ctx context.Context) (string, error)
	Close() error
}
