package handlers

import (
	"strings"

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
	trainingAuthenticatorKey  = training.AuthenticatorKey
)

var trainingRecoveryCodes = training.RecoveryCodes()
