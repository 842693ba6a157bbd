package handlers

import (
	"github.com/cqrs-local/cqrs-signin/cqrs"
	"github.com/cqrs-local/cqrs-signin/training"
)

// Training mode is package training: this is the app's side of its seam,
// what it hands training (the layout, the session, the audit log, the
// emails) and the names main and the tests know it by.

// TrainingStore is what training mode needs from the store.
type TrainingStore = training.TrainingStore

// NHSmailTrainerControls are the embedded simulator's trainer controls of
// a learner's second step (see training.NHSmailTrainerControls).
type NHSmailTrainerControls = training.NHSmailTrainerControls

// TrainerUserID is the training data set's trainer.
const TrainerUserID = training.TrainerUserID

// NewTrainerPassword is a random password for this run's trainer.
func NewTrainerPassword() string { return training.NewTrainerPassword() }

// jobAidCookie is training mode's cookie among the site-wide ones.
const jobAidCookie = training.JobAidCookie

// initTraining switches training mode on when the configuration asks.
func (a *app) initTraining(deps Deps) error {
	if !a.cfg.Training {
		return nil
	}
	cfg := a.cfg
	tc := training.Config{BaseURL: cfg.BaseURL, NetworkAddresses: cfg.NetworkAddresses, Secure: cfg.Secure, Clock: cfg.Clock,
		SnapshotDir: cfg.SnapshotDir, TrainerPassword: cfg.TrainerPassword, LockAfter: cfg.LockAfter,
		RegistrationLinkTTL: cfg.RegistrationLinkTTL, ResetLinkTTL: cfg.ResetLinkTTL, LearnerRateLimit: cfg.LearnerRateLimit,
		TimeFormat: timeFormat, SecondFactorPath: secondFactorPath}
	td := training.Deps{Log: a.log, Hasher: a.hasher, Store: deps.Training, Sealer: a.sealer, Host: training.Host{
		SignedInPage: a.signedInPage, Render: render, Refuse: refuse, Redirect: redirect,
		CurrentUser: currentUser, CurrentSession: currentSession, SetTokenCookie: a.setTokenCookie,
		Event: a.event, Audit: a.audit,
		RegistrationEmail: a.registrationEmail, LockedEmail: a.lockedEmail, LinkURL: a.linkURL, WakeMailer: a.wakeMailer,
		EmailRows: emailRows, BodyParts: a.bodyParts, ValidatePersonName: validatePersonName, CSVCell: csvCell,
		AddressLimiter: addressLimiter, RequireSignedIn: a.requireSignedIn, RequireSystemAdmin: a.requireSystemAdmin,
		SealContext: sealContext, HashRecoveryCodes: hashRecoveryCodes, GroupsOfFour: groupsOfFour,
	}}
	if deps.NHSmail != nil {
		td.MFAControls = deps.NHSmail
	}
	mode, err := training.New(tc, td)
	if err != nil {
		return err
	}
	a.training, a.cfg.Now = mode, cfg.Clock.Now
	return nil
}

// runsTheClass reports whether u is the trainer: a system administrator
// in training mode, who may open the class board.
func (a *app) runsTheClass(u cqrs.User) bool { return a.training.RunsTheClass(u) }

// landing is where a sign-in goes: next, except that the trainer signing
// in with nowhere asked for lands on the class board, not their messages.
func (a *app) landing(u cqrs.User, next string) string { return a.training.Landing(u, next) }
