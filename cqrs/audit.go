package cqrs

import (
	"strings"
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

// Audit event types: the one list of their names. Whatever writes an
// audit entry names its type from here (TestAuditTypesComeFromTheList
// walks the source for any other), and the audit page filters by them.
const (
	// The store writes these itself, in the transaction of the change
	// they record (see SignInAttempt.Decide).
	AuditSignIn       = "sign-in"
	AuditSignInFailed = "sign-in-failed"
	AuditSignInLocked = "sign-in-while-locked"
	AuditLockout      = "lockout"

	AuditSignOut            = "sign-out"
	AuditUnlock             = "unlock"
	AuditPasswordSet        = "password-set"
	AuditPasswordChanged    = "password-changed"
	AuditPasswordReset      = "password-reset"
	AuditLinkSent           = "link-sent"
	AuditLinkUsed           = "link-used"
	AuditLinkRefused        = "link-refused"
	AuditInvitationRevoked  = "invitation-revoked"
	AuditUserCreated        = "user-created"
	AuditUserEdited         = "user-edited"
	AuditRoleChanged        = "role-changed"
	AuditUserDisabled       = "user-disabled"
	AuditUserEnabled        = "user-enabled"
	AuditSSORefused         = "sso-refused"
	AuditSSOUnlinked        = "sso-unlinked"
	AuditSetupUsed          = "setup-used"
	AuditResetRequested     = "reset-requested"
	AuditHelpDeskChanged    = "help-desk-changed"
	AuditBackupDownloaded   = "backup-downloaded"
	AuditNHSmailMFAReported = "nhsmail-mfa-reported" // a sign-in prompt answered "No, it's not me"
	// Microsoft Authenticator set up again after "More information required".
	AuditNHSmailMFARegistered = "nhsmail-mfa-registered"

	// Training mode's (TrainingAudit).
	AuditTrainingReset         = "training-reset"
	AuditTrainingClock         = "training-clock"
	AuditTrainingLearner       = "training-learner"
	AuditTrainingCohort        = "training-cohort"
	AuditTrainingSnapshot      = "training-snapshot"
	AuditTrainingRestore       = "training-restore"
	AuditTrainerPassword       = "training-trainer-password"
	AuditTrainingLearnerAction = "training-learner-action"
)

// AuditTypes is every audit event type, in the order the audit page's
// filter offers them.
var AuditTypes = []string{
	AuditSignIn, AuditSignInFailed, AuditSignInLocked, AuditLockout, AuditSignOut, AuditUnlock, AuditPasswordSet,
	AuditPasswordChanged, AuditPasswordReset, AuditLinkSent, AuditLinkUsed, AuditLinkRefused, AuditInvitationRevoked,
	AuditUserCreated, AuditUserEdited, AuditRoleChanged, AuditUserDisabled, AuditUserEnabled, AuditSSORefused,
	AuditSSOUnlinked, AuditSetupUsed, AuditResetRequested, AuditHelpDeskChanged, AuditBackupDownloaded,
	AuditNHSmailMFAReported, AuditNHSmailMFARegistered,
	AuditSecondFactorDue, AuditSecondFactorEnrolled, AuditSecondFactorUsed, AuditSecondFactorFailed,
	AuditRecoveryCodeUsed, AuditRecoveryCodesNew, AuditSecondFactorReset,
	AuditPasskeyRegistered, AuditPasskeyUsed, AuditPasskeyFailed, AuditPasskeyRenamed, AuditPasskeyRemoved,
	AuditTrainingReset, AuditTrainingClock, AuditTrainingLearner, AuditTrainingCohort, AuditTrainingSnapshot,
	AuditTrainingRestore, AuditTrainerPassword, AuditTrainingLearnerAction,
}

// TrainingAudit reports an audit type only training mode writes.
func TrainingAudit(typ string) bool { return strings.HasPrefix(typ, "training-") }
