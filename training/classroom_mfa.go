package training

import (
	"context"

	"github.com/gofiber/fiber/v2"

	"github.com/cqrs-local/cqrs-signin/cqrs"
	"github.com/cqrs-local/cqrs-signin/views"
)

// The trainer's controls of a learner's NHSmail second step, and the
// learner's own way to their phone page, in training mode with the
// embedded simulator.

// NHSmailTrainerControls is the simulator's side of them, part of the
// embedded simulator handed to New as Deps.NHSmail.
type NHSmailTrainerControls interface {
	// SetMFADrill makes the account's next sign-in with a password meet
	// the control, once.
	SetMFADrill(ctx context.Context, accountID uint64, drill string) error
	// MFADrills are the controls not used yet, by account.
	MFADrills(ctx context.Context, accountIDs []uint64) (map[uint64]string, error)
	// PhoneLink is the phone page of the account's sign-in waiting for
	// its second step, "" when none waits.
	PhoneLink(ctx context.Context, accountID uint64) (string, error)
}

// mfaDrillPending is how the board shows a control not used yet.
var mfaDrillPending = map[string]string{
	cqrs.MFADrillTimeout:      "Next NHSmail prompt times out",
	cqrs.MFADrillDeny:         "Next NHSmail prompt is denied",
	cqrs.MFADrillPhoneChanged: "Phone changed: sets up Authenticator at the next NHSmail sign-in",
}

// isMFAAction reports whether a learner action is one of these controls,
// which only the embedded simulator can carry out.
func isMFAAction(key string) bool {
	switch key {
	case "mfa-timeout", "mfa-deny", "mfa-phone-changed":
		return true
	}
	return false
}

// learnerNHSmailAccount is the NHSmail account the learner signs in with
// now: the one with no CQRS account behind it while the trainer's "no
// CQRS account" is in force, else their own.
func learnerNHSmailAccount(l cqrs.Learner) uint64 {
	if l.NoCQRSActive && l.NoCQRSNHSmailID != 0 {
		return l.NoCQRSNHSmailID
	}
	return l.NHSmailID
}

// learnerByAccount is the learner whose CQRS account is id.
func (a *app) learnerByAccount(ctx context.Context, id uint64) (cqrs.Learner, error) {
	learners, err := a.training.Learners(ctx)
	if err != nil {
		return cqrs.Learner{}, err
	}
	for _, l := range learners {
		if l.AccountID == id {
			return l, nil
		}
	}
	return cqrs.Learner{}, cqrs.ErrNotFound
}

// setMFADrill is a trainer's control of the learner's next NHSmail second
// step. Their browser's NHSmail session ends, so that the next Sign In
// asks for the password and meets the control.
func (a *app) setMFADrill(drill string) func(c *fiber.Ctx, u cqrs.User, event cqrs.AuditEvent) error {
	return func(c *fiber.Ctx, u cqrs.User, event cqrs.AuditEvent) error {
		l, err := a.learnerByAccount(c.UserContext(), u.ID)
		if err != nil {
			return err
		}
		account := learnerNHSmailAccount(l)
		if err := a.mfaControls.SetMFADrill(c.UserContext(), account, drill); err != nil {
			return err
		}
		if err := a.training.EndNHSmailSessions(c.UserContext(), account); err != nil {
			return err
		}
		event.Subject = u.UserID
		return a.audit(c, event)
	}
}

// learnerPhone is the learner's own way to the phone page of their
// NHSmail sign-in waiting for its second step: the same unguessable link
// the waiting page shows, here because the learner cookie says the
// NHSmail account is theirs.
func (a *app) learnerPhone(ctx context.Context, l cqrs.Learner) (string, error) {
	if a.mfaControls == nil {
		return "", nil
	}
	return a.mfaControls.PhoneLink(ctx, learnerNHSmailAccount(l))
}

// learnerPhoneCard is GET /training/phone: the learner page's card that
// leads to their phone, fetched again by htmx while the page is open.
func (a *app) learnerPhoneCard(c *fiber.Ctx) error {
	l, ok := a.currentLearner(c)
	if !ok {
		return fiber.ErrNotFound
	}
	link, err := a.learnerPhone(c.UserContext(), l)
	if err != nil {
		return err
	}
	return a.render(c, fiber.StatusOK, views.LearnerPhoneCard(link))
}

// boardMFADrills are the controls waiting for each learner, by CQRS
// account ID.
func (a *app) boardMFADrills(ctx context.Context, learners []cqrs.Learner) (map[uint64]string, error) {
	out := map[uint64]string{}
	if a.mfaControls == nil {
		return out, nil
	}
	var ids []uint64
	for _, l := range learners {
		ids = append(ids, learnerNHSmailAccount(l))
	}
	drills, err := a.mfaControls.MFADrills(ctx, ids)
	if err != nil {
		return nil, err
	}
	for _, l := range learners {
		if d, ok := drills[learnerNHSmailAccount(l)]; ok {
			out[l.AccountID] = mfaDrillPending[d]
		}
	}
	return out, nil
}
