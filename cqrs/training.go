package cqrs

import (
	"errors"
	"strings"
	"time"
)

// TrainingUser is one prepared account of the training data set. Passwords
// are hashed and link tokens made before the transaction.
type TrainingUser struct {
	// User carries everything but its ID and organisation: status, password
	// hash and change time, failure count and lock time as the state needs.
	User User
	// LinkHash, when set, is an unused registration link lasting LinkTTL.
	LinkHash []byte
	LinkTTL  time.Duration
	// Email, when set, is queued for the user (their registration email).
	Email *Email
	// SecondFactor, when set, is the user's authenticator set up already:
	// called in the transaction with the new user's record ID, which the
	// secret is sealed to.
	SecondFactor func(userID uint64) SecondFactor
}

// TrainingSet is the whole training data set: one organisation, its
// accounts and the NHSmail simulator's directory.
type TrainingSet struct {
	Org     Organisation
	Users   []TrainingUser
	NHSmail []NHSmailAccount
}

// KeepSignedIn names a session to keep across a reset or restore: the
// trainer who pressed the button stays signed in, as the system
// administrator with the same User ID in the new data, if there is one.
type KeepSignedIn struct {
	SessionHash []byte
	UserID      string
}

// Learner is someone in the classroom with their own CQRS invitation and
// NHSmail simulator account.
type Learner struct {
	UserID       string    `json:"user_id"`    // the CQRS User ID, learnerNN or learner-xxxx
	AccountID    uint64    `json:"account_id"` // the CQRS user record
	NHSmailID    uint64    `json:"nhsmail_id"`
	NHSmailEmail string    `json:"nhsmail_email"`
	Cohort       bool      `json:"cohort"` // made by the trainer's cohort sheet
	Created      time.Time `json:"created"`
	// NoCQRSNHSmailID is the learner's second NHSmail account, with no
	// CQRS account behind it, once the trainer has given them one.
	NoCQRSNHSmailID uint64 `json:"nocqrs_nhsmail_id,omitempty"`
	// NoCQRSActive is set while that account can sign in (until a reset).
	NoCQRSActive bool `json:"nocqrs_active,omitempty"`
	// Claimed is set when someone took this cohort account at the join page.
	Claimed bool `json:"claimed,omitempty"`
}

// NewLearner is a learner prepared for CreateLearners: the token's hash
// (their cookie), the invited user with its link and email, and the NHSmail
// account with its password hash.
type NewLearner struct {
	TokenHash []byte
	User      TrainingUser
	NHSmail   NHSmailAccount
	Cohort    bool
}

// ErrSnapshotName refuses a snapshot name that is not 1-40 letters, digits,
// spaces, hyphens or underscores starting with a letter or digit.
var ErrSnapshotName = errors.New("a snapshot name is 1-40 letters, digits, spaces, hyphens or underscores")

// Snapshot is a saved copy of the training database.
type Snapshot struct {
	Name  string
	Saved time.Time
	Size  int64
}

// NoCQRSEmail is the address of a learner's NHSmail account with no CQRS
// account behind it.
func NoCQRSEmail(l Learner) string {
	local, domain, _ := strings.Cut(l.NHSmailEmail, "@")
	return local + ".nocqrs@" + domain
}
