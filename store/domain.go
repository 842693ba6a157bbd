package store

import "github.com/cqrs-local/cqrs-signin/cqrs"

// The domain types, constants and errors moved to package cqrs. These names
// are kept for the move; use package cqrs. A later change drops them.

type (
	AuditEvent         = cqrs.AuditEvent
	AuditFilter        = cqrs.AuditFilter
	LinkPurpose        = cqrs.LinkPurpose
	Link               = cqrs.Link
	Message            = cqrs.Message
	NHSmailAccount     = cqrs.NHSmailAccount
	NHSmailApplication = cqrs.NHSmailApplication
	NHSmailStateTx     = cqrs.NHSmailStateTx
	EmailStatus        = cqrs.EmailStatus
	Email              = cqrs.Email
	EmailFilter        = cqrs.EmailFilter
	Session            = cqrs.Session
	SignInAttempt      = cqrs.SignInAttempt
	SignInResult       = cqrs.SignInResult
	SSOPending         = cqrs.SSOPending
	TrainingUser       = cqrs.TrainingUser
	TrainingSet        = cqrs.TrainingSet
	KeepSignedIn       = cqrs.KeepSignedIn
	Learner            = cqrs.Learner
	NewLearner         = cqrs.NewLearner
	Snapshot           = cqrs.Snapshot
	Role               = cqrs.Role
	Status             = cqrs.Status
	Organisation       = cqrs.Organisation
	User               = cqrs.User
	UserFilter         = cqrs.UserFilter
)

const (
	AuditSignIn       = cqrs.AuditSignIn
	AuditSignInFailed = cqrs.AuditSignInFailed
	AuditSignInLocked = cqrs.AuditSignInLocked
	AuditLockout      = cqrs.AuditLockout
	LinkRegister      = cqrs.LinkRegister
	LinkReset         = cqrs.LinkReset
	EmailQueued       = cqrs.EmailQueued
	EmailSent         = cqrs.EmailSent
	EmailFailed       = cqrs.EmailFailed
	EmailLocal        = cqrs.EmailLocal
	WelcomeSubject    = cqrs.WelcomeSubject
	RoleSystemAdmin   = cqrs.RoleSystemAdmin
	RoleUserAdmin     = cqrs.RoleUserAdmin
	RoleUser          = cqrs.RoleUser
	StatusInvited     = cqrs.StatusInvited
	StatusActive      = cqrs.StatusActive
	StatusDisabled    = cqrs.StatusDisabled
	StateInvited      = cqrs.StateInvited
	StateActive       = cqrs.StateActive
	StateLocked       = cqrs.StateLocked
	StateDisabled     = cqrs.StateDisabled
	InvitePending     = cqrs.InvitePending
	InviteAccepted    = cqrs.InviteAccepted
	InviteExpired     = cqrs.InviteExpired
	InviteRevoked     = cqrs.InviteRevoked
	HistoryDepth      = cqrs.HistoryDepth
)

var (
	ErrSnapshotName = cqrs.ErrSnapshotName
	ErrNotFound     = cqrs.ErrNotFound
	ErrConflict     = cqrs.ErrConflict
	ErrExpired      = cqrs.ErrExpired
)
