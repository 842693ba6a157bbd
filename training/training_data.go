package training

import (
	"context"
	"time"

	"github.com/cqrs-local/cqrs-signin/cqrs"
	"github.com/cqrs-local/cqrs-signin/secret"
)

// The training data set: the accounts in every state the documents
// mention, and the NHSmail simulator accounts for each single sign-on case.

// seededAccount is one account of the data set, with the case it shows.
type seededAccount struct {
	userID, first, last, email string
	role                       cqrs.Role
	state                      string // a store.State* value
	recentPassword             bool   // changed just now: the 72-hour rule refuses a change
	show                       string // the case, on the training home page
}

var seededAccounts = []seededAccount{
	{TrainerUserID, "Tara", "Trainer", "tara.trainer@nhs.net", cqrs.RoleSystemAdmin, cqrs.StateActive, false, "Trainer (system administrator)"},
	{"trn.useradmin", "Uma", "Admin", "uma.admin@nhs.net", cqrs.RoleUserAdmin, cqrs.StateActive, false, "User Administrator: sets up users"},
	{"trn.invited", "Ian", "Invited", "ian.invited@nhs.net", cqrs.RoleUser, cqrs.StateInvited, false, "Invited: registration email with a fresh link (open it from the mailbox as the trainer)"},
	{"trn.active", "Amy", "Active", "amy.active@nhs.net", cqrs.RoleUser, cqrs.StateActive, true, "Active; password changed just now, so changing it again waits 72 hours"},
	{"trn.locked", "Liam", "Locked", "liam.locked@nhs.net", cqrs.RoleUser, cqrs.StateLocked, false, "Locked after too many failed sign-ins"},
	{"trn.disabled", "Dee", "Disabled", "dee.disabled@nhs.net", cqrs.RoleUser, cqrs.StateDisabled, false, "Disabled by an administrator"},
	{"trn.consent", "Cara", "Consent", "cara.consent@nhs.net", cqrs.RoleUser, cqrs.StateActive, false, "Active; their NHSmail account asks for consent"},
	{"trn.mfa.app", "Mo", "Authenticator", "mo.authenticator@nhs.net", cqrs.RoleUser, cqrs.StateActive, false, "Active; their NHSmail account approves sign-in with Microsoft Authenticator"},
	{"trn.mfa.text", "Tess", "Text", "tess.text@nhs.net", cqrs.RoleUser, cqrs.StateActive, false, "Active; their NHSmail account is sent a code by text message"},
}

// The second factor's training accounts, in the data set only when the
// class runs with --second-factor (beyond the documents): one with an
// authenticator set up already, whose key and recovery codes the training
// home page gives as it gives the training passwords, and one who sets
// one up at their next sign-in, and one who sets up a passkey. All are User
// Administrators, so either setting covers them.
const trainingAuthenticatorKey = "4RFAWJAMIBRMP7SJBTVC2EKYD3KUKK4A"

var trainingRecoveryCodes = []string{"YS2ZN-3T2JG", "SHE83-RBDFX", "FBAFN-BNTAQ", "632JT-Q4U49", "JCVTK-BUP7M",
	"XV77F-T7SXZ", "6UG49-TDP7Q", "BN472-BT4P7", "55NA4-E4M9A", "VK6AB-MFP8B"}

const trainingAuthenticatorUser = "trn.2fa.app"

// trainingPasskeyUser has no second factor yet: a passkey's private key
// lives in the learner's own device, so none can be in the data set.
const trainingPasskeyUser = "trn.2fa.key"

func (a *app) secondFactorAccounts() []seededAccount {
	return []seededAccount{
		{trainingAuthenticatorUser, "Otto", "Authenticator", "otto.authenticator@nhs.net", cqrs.RoleUserAdmin, cqrs.StateActive, false,
			"Beyond the documents: after the password, a code from an authenticator app (add the key " + a.host.GroupsOfFour(trainingAuthenticatorKey) + " to one; recovery codes " + trainingRecoveryCodes[0] + " … " + trainingRecoveryCodes[9] + ")"},
		{"trn.2fa.new", "Nia", "Newcode", "nia.newcode@nhs.net", cqrs.RoleUserAdmin, cqrs.StateActive, false,
			"Beyond the documents: sets up an authenticator app at the next sign-in (QR code or key), then gets ten recovery codes"},
		{trainingPasskeyUser, "Pia", "Passkey", "pia.passkey@nhs.net", cqrs.RoleUserAdmin, cqrs.StateActive, false,
			"Beyond the documents: sets up a passkey at the next sign-in instead of an authenticator app, where the browser allows it (on this computer at http://localhost), then gets ten recovery codes; over the classroom network the second step says why passkeys are not offered, and the authenticator app is used instead"},
	}
}

// classAccounts are the data set's CQRS accounts for this run.
func (a *app) classAccounts() []seededAccount {
	if a.sealer == nil {
		return seededAccounts
	}
	return append(seededAccounts[:len(seededAccounts):len(seededAccounts)], a.secondFactorAccounts()...)
}

// seededNHSmail are the NHSmail simulator's accounts, one per single
// sign-on case of the user guide.
var seededNHSmail = []struct {
	email, first, last string
	locked, consent    bool
	show               string
	mfa                string // the second step after the password (NHSmail today, beyond the documents)
}{
	{"amy.active@nhs.net", "Amy", "Active", false, false, "Has a CQRS account (trn.active): signs in to the message centre", cqrs.MFANone},
	{"noah.nocqrs@nhs.net", "Noah", "Nocqrs", false, false, "No CQRS account with this email: the help desk error page", cqrs.MFANone},
	{"wendy.wrong@nhs.net", "Wendy", "Wrong", false, false, "Type any other password: \"Incorrect user ID or password\"", cqrs.MFANone},
	{"lara.locked@nhs.net", "Lara", "Locked", true, false, "NHSmail account locked", cqrs.MFANone},
	{"cara.consent@nhs.net", "Cara", "Consent", false, true, "Asks for consent before signing in to CQRS (trn.consent)", cqrs.MFANone},
	{"liam.locked@nhs.net", "Liam", "Locked", false, false, "NHSmail fine, but the CQRS account (trn.locked) is locked", cqrs.MFANone},
	{"mo.authenticator@nhs.net", "Mo", "Authenticator", false, false, "Beyond the job aid: approve the sign-in on the phone with Microsoft Authenticator (trn.mfa.app)", cqrs.MFAAuthenticator},
	{"tess.text@nhs.net", "Tess", "Text", false, false, "Beyond the job aid: type the code texted to the phone (trn.mfa.text)", cqrs.MFAText},
}

// trainingSet prepares the data set: passwords hashed and link tokens made
// before the one transaction that writes it.
func (a *app) trainingSet(ctx context.Context) (cqrs.TrainingSet, error) {
	now := a.cfg.Now()
	set := cqrs.TrainingSet{Org: cqrs.Organisation{Name: trainingOrgName, ODSCode: trainingODS}}
	trainer := cqrs.User{FirstName: "Tara", LastName: "Trainer"}
	org := set.Org
	for _, sa := range a.classAccounts() {
		u := cqrs.User{UserID: sa.userID, FirstName: sa.first, LastName: sa.last, Email: sa.email, Role: sa.role, WorkPhone: "0113 496 0000"}
		tu := cqrs.TrainingUser{User: u}
		if sa.state == cqrs.StateInvited {
			token := secret.NewToken()
			tu.LinkHash, tu.LinkTTL = secret.HashToken(token), a.cfg.RegistrationLinkTTL
			e := a.registrationEmail(ctx, u, trainer, org, token, now.Add(a.cfg.RegistrationLinkTTL))
			tu.Email = &e
		} else {
			pw := trainingPassword
			if sa.userID == TrainerUserID {
				pw = a.cfg.TrainerPassword
			}
			hash, err := a.hasher.Hash(ctx, pw)
			if err != nil {
				return set, err
			}
			tu.User.PasswordHash, tu.User.Status = hash, cqrs.StatusActive
			tu.User.PasswordChanged = now.Add(-30 * 24 * time.Hour)
			if sa.recentPassword {
				tu.User.PasswordChanged = now
			}
			switch sa.state {
			case cqrs.StateLocked:
				tu.User.FailedSignIns, tu.User.LockedAt = max(a.cfg.LockAfter, 1), now
			case cqrs.StateDisabled:
				tu.User.Status = cqrs.StatusDisabled
			}
		}
		if sa.userID == trainingAuthenticatorUser {
			tu.SecondFactor = func(userID uint64) cqrs.SecondFactor {
				return cqrs.SecondFactor{Sealed: a.sealer.Seal([]byte(trainingAuthenticatorKey), a.sealContext(userID)),
					RecoveryCodes: a.hashRecoveryCodes(trainingRecoveryCodes)}
			}
		}
		set.Users = append(set.Users, tu)
	}
	for _, n := range seededNHSmail {
		hash, err := a.hasher.Hash(ctx, trainingNHSmailPassword)
		if err != nil {
			return set, err
		}
		set.NHSmail = append(set.NHSmail, cqrs.NHSmailAccount{Email: n.email, FirstName: n.first, LastName: n.last,
			PasswordHash: hash, Locked: n.locked, ConsentRequired: n.consent, MFAMethod: n.mfa})
	}
	return set, nil
}

// resetTraining puts the data set back with the clock at real time.
func (a *app) resetTraining(ctx context.Context, keep *cqrs.KeepSignedIn, event cqrs.AuditEvent) error {
	before := a.cfg.Clock.Offset()
	a.cfg.Clock.SetOffset(0) // the data set is made at real time
	set, err := a.trainingSet(ctx)
	if err == nil {
		err = a.training.ResetTraining(ctx, set, keep, event)
	}
	if err != nil {
		a.cfg.Clock.SetOffset(before)
		return err
	}
	return nil
}
