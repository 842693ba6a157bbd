package training

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/cqrs-local/cqrs-signin/cqrs"
)

// Training mode (--training): the training data set, learners with their own
// mailbox, the job aid beside every page, and the trainer's controls.

// The training data set's credentials. The trainer is a system
// administrator, so their password is not one of these: main makes a new
// random one at every start (NewTrainerPassword) and prints it on the
// console only. The others are made up and shown on the training home
// page: this is a classroom system, and none of them can read another
// person's emailed links.
const (
	TrainerUserID = "trainer"
	// trainingPassword is every seeded CQRS account's password,
	// trainingNHSmailPassword every seeded NHSmail account's.
	trainingPassword        = "Practice!2026"
	trainingNHSmailPassword = "NHSmail!2026"

	trainingOrgName = "Riverside Practice (training)"
	trainingODS     = "TRN001"
	learnerDomain   = "nhs.net"
	cohortSize      = 30
	learnerCookie   = "cqrs_learner"
	learnerTTL      = 24 * time.Hour
	jobAidCookie    = "cqrs_jobaid"

	evTrainingReset    = cqrs.AuditTrainingReset
	evTrainingClock    = cqrs.AuditTrainingClock
	evTrainingLearner  = cqrs.AuditTrainingLearner
	evTrainingCohort   = cqrs.AuditTrainingCohort
	evTrainingSnapshot = cqrs.AuditTrainingSnapshot
	evTrainingRestore  = cqrs.AuditTrainingRestore
	evTrainerPassword  = cqrs.AuditTrainerPassword
)

// NewTrainerPassword is a random password for the trainer that meets the
// CQRS password policy and can be typed from the console: "Kbrtmq-Wxzpdn-4821",
// about 67 bits.
func NewTrainerPassword() string {
	word := func() string {
		w := randomFrom("abcdefghjkmnpqrstuvwxyz", 6)
		return strings.ToUpper(w[:1]) + w[1:]
	}
	return word() + "-" + word() + "-" + randomFrom("0123456789", 4)
}

// TrainingStore is what training mode needs from the store.
type TrainingStore interface {
	HasUsers(ctx context.Context) (bool, error)
	Organisations(ctx context.Context) ([]cqrs.Organisation, error)
	UserByUserID(ctx context.Context, userID string) (cqrs.User, error)
	ListUsers(ctx context.Context, f cqrs.UserFilter) ([]cqrs.User, int, error)
	Emails(ctx context.Context, f cqrs.EmailFilter) ([]cqrs.Email, error)
	Email(ctx context.Context, id uint64) (cqrs.Email, error)
	AuditEvents(ctx context.Context, f cqrs.AuditFilter) ([]cqrs.AuditEvent, int, error)
	ResetTraining(ctx context.Context, set cqrs.TrainingSet, keep *cqrs.KeepSignedIn, event cqrs.AuditEvent) error
	CreateLearners(ctx context.Context, ls []cqrs.NewLearner, events ...cqrs.AuditEvent) ([]cqrs.Learner, error)
	LearnerByToken(ctx context.Context, hash []byte) (cqrs.Learner, error)
	Learners(ctx context.Context) ([]cqrs.Learner, error)
	ClockOffset(ctx context.Context) (time.Duration, error)
	MoveClock(ctx context.Context, d time.Duration, keep *cqrs.KeepSignedIn, event cqrs.AuditEvent) (time.Duration, error)
	SaveSnapshot(ctx context.Context, name string) error
	Snapshots(ctx context.Context) ([]cqrs.Snapshot, error)
	RestoreSnapshot(ctx context.Context, name string, keep *cqrs.KeepSignedIn, event cqrs.AuditEvent) (time.Duration, error)
	SetNHSmailPassword(ctx context.Context, id uint64, hash string) error
	SetTrainerPassword(ctx context.Context, userID, hash string, event cqrs.AuditEvent) error
	ClassroomStore
}

// initTraining switches training mode on: the training store and the
// shared clock. It reads nothing: prepareTraining does. (Training mode
// sends no email by SMTP: main never configures it then.)
func (a *app) initTraining(ts TrainingStore) error {
	if ts == nil {
		return errors.New("handlers: training mode needs Deps.Training, the store's training side")
	}
	if a.cfg.Clock == nil {
		return errors.New("handlers: training mode needs Config.Clock, the clock the store reads too")
	}
	if a.cfg.TrainerPassword == "" {
		return errors.New("handlers: training mode needs Config.TrainerPassword, the trainer's password for this run")
	}
	a.training = ts
	a.progress = newClassProgress(a.cfg.Clock.Base)
	a.joinCode = randomFrom(joinCodeLetters, joinCodeLength)
	a.cfg.Now = a.cfg.Clock.Now
	return nil
}

// prepareTraining is training mode's start-up reading and writing (see
// App.Prepare); nothing outside training mode.
func (a *app) prepareTraining(ctx context.Context) error {
	if a.training == nil {
		return nil
	}
	off, err := a.training.ClockOffset(ctx)
	if err != nil {
		return err
	}
	a.cfg.Clock.SetOffset(off)
	hasUsers, err := a.training.HasUsers(ctx)
	if err != nil {
		return err
	}
	if !hasUsers {
		if err := a.resetTraining(ctx, nil, cqrs.AuditEvent{Type: evTrainingReset, Detail: "training data set seeded at first start"}); err != nil {
			return err
		}
		a.log.Info("training data set seeded", "trainer", TrainerUserID)
		return nil
	}
	// A reset wipes the data, so training mode refuses a database that is
	// not a training database (a site's real users, say).
	if _, _, err := a.trainingOrg(ctx); err != nil {
		return fmt.Errorf("handlers: --training needs a training database, and this one has users but no %s organisation: start training mode with another --data file", trainingODS)
	}
	return a.setTrainerPassword(ctx, "a new trainer password, printed on the console at start")
}

// setTrainerPassword gives the trainer this run's password: it is printed
// only on this run's console, so that is the one place to find it, after a
// restart as after restoring a snapshot saved in another run.
func (a *app) setTrainerPassword(ctx context.Context, why string) error {
	hash, err := a.hasher.Hash(ctx, a.cfg.TrainerPassword)
	if err != nil {
		return err
	}
	err = a.training.SetTrainerPassword(ctx, TrainerUserID, hash, cqrs.AuditEvent{Type: evTrainerPassword, Subject: TrainerUserID, Method: "training", Detail: why})
	if errors.Is(err, cqrs.ErrNotFound) {
		a.log.Warn("training: no trainer account to give this run's password", "trainer", TrainerUserID)
		return nil
	}
	return err
}
