package training

// The training data set and the class board in the words the app's own
// tests use: they drive the whole app (package handlers' harness) through
// training mode and look for these.
const (
	// PracticePassword is every seeded CQRS account's password (not the
	// trainer's); PracticeNHSmailPassword every seeded NHSmail account's.
	PracticePassword        = trainingPassword
	PracticeNHSmailPassword = trainingNHSmailPassword
	// PracticeAdminUserID is the practice User Administrator the class shares.
	PracticeAdminUserID = practiceAdminUserID
	// ODSCode is the training organisation's.
	ODSCode = trainingODS
	// CohortSize is how many accounts the cohort sheet makes.
	CohortSize = cohortSize
	// JoinCodeLength is the class code's length.
	JoinCodeLength = joinCodeLength
	// The second factor's seeded account, its authenticator key and
	// recovery codes (with --second-factor).
	AuthenticatorUserID = trainingAuthenticatorUser
	AuthenticatorKey    = trainingAuthenticatorKey
	// PasskeyUserID sets up a passkey at the next sign-in.
	PasskeyUserID = trainingPasskeyUser
)

// RecoveryCodes are the seeded authenticator account's recovery codes.
func RecoveryCodes() []string { return append([]string(nil), trainingRecoveryCodes...) }

// The errors a learner can meet, as the class board names them.
const (
	BoardErrorWrongPassword   = errWrongPassword
	BoardErrorPolicy          = errPolicy
	BoardErrorNHSmailPassword = errNHSmailPassword
	BoardErrorNHSmailLocked   = errNHSmailLocked
	BoardErrorNoCQRS          = errNoCQRS
	BoardErrorLocked          = errLocked
	BoardErrorLinkExpired     = errLinkExpired
	BoardErrorNHSmailMFA      = errNHSmailMFA
)
