package handlers

import (
	"reflect"
	"runtime"
	"strings"
	"testing"

	"github.com/cqrs-local/cqrs-signin/cqrs"
	"github.com/cqrs-local/cqrs-signin/training"
)

// The training data set's names the tests here sign in with and look for,
// as package training gives them.
const (
	trainingPassword        = training.PracticePassword
	practiceAdminUserID     = training.PracticeAdminUserID
	evTrainingLearnerAction = cqrs.AuditTrainingLearnerAction
	evTrainingClock         = cqrs.AuditTrainingClock
)

// trainingOrg is the training data set's organisation.
func (e *testEnv) trainingOrg() (cqrs.Organisation, error) {
	orgs, err := e.store.Organisations(e.t.Context())
	if err != nil {
		return cqrs.Organisation{}, err
	}
	for _, o := range orgs {
		if strings.EqualFold(o.ODSCode, training.ODSCode) {
			return o, nil
		}
	}
	return cqrs.Organisation{}, cqrs.ErrNotFound
}

// The board's names for the errors a learner meets, and the rest of the
// data set the tests here use.
const (
	errWrongPassword          = training.BoardErrorWrongPassword
	errPolicy                 = training.BoardErrorPolicy
	errNHSmailPassword        = training.BoardErrorNHSmailPassword
	errNHSmailLocked          = training.BoardErrorNHSmailLocked
	errNoCQRS                 = training.BoardErrorNoCQRS
	errLocked                 = training.BoardErrorLocked
	errLinkExpired            = training.BoardErrorLinkExpired
	errNHSmailMFA             = training.BoardErrorNHSmailMFA
	evTrainingReset           = cqrs.AuditTrainingReset
	cohortSize                = training.CohortSize
	joinCodeLength            = training.JoinCodeLength
	trainingNHSmailPassword   = training.PracticeNHSmailPassword
	trainingAuthenticatorUser = training.AuthenticatorUserID
	trainingPasskeyUser       = training.PasskeyUserID
	trainingAuthenticatorKey  = training.AuthenticatorKey
)

var trainingRecoveryCodes = training.RecoveryCodes()

// TestTrainingRoutesAreTrainingsOwn: handlers keeps the product and no
// training-only code. Every route under /training, and /join, is answered
// by package training, and no other route is: training mode is registered
// from routes.go as one journey, and none of it is left behind here.
func TestTrainingRoutesAreTrainingsOwn(t *testing.T) {
	e := newAccessEnv(t)
	const trainingPkg = modulePath + "/training."
	seen := 0
	for _, r := range e.app.GetRoutes(true) {
		h := r.Handlers[len(r.Handlers)-1]
		name := runtime.FuncForPC(reflect.ValueOf(h).Pointer()).Name()
		isTraining := r.Path == "/join" || r.Path == "/training" || strings.HasPrefix(r.Path, "/training/") || strings.HasPrefix(r.Path, "/training.")
		switch fromTraining := strings.HasPrefix(name, trainingPkg); {
		case isTraining && !fromTraining:
			t.Errorf("%s %s is answered by %s, not by package training", r.Method, r.Path, name)
		case !isTraining && fromTraining:
			t.Errorf("%s %s is a product route answered by package training (%s)", r.Method, r.Path, name)
		case isTraining:
			seen++
		}
	}
	if seen < 25 {
		t.Errorf("only %d training routes seen: is training mode on in the access table's app?", seen)
	}
}
