package handlers

import (
	"context"
	"github.com/gofiber/fiber/v2"

	"github.com/cqrs-local/cqrs-signin/cqrs"
	"github.com/cqrs-local/cqrs-signin/policy"
	"github.com/cqrs-local/cqrs-signin/views"
)

// AccountStore is what the account pages need from the store.
type AccountStore interface {
	ChangePassword(ctx context.Context, userID uint64, newHash string, keepSession []byte, notify *cqrs.Email, events ...cqrs.AuditEvent) (cqrs.User, error)
}

const (
	accountAction      = "/account/password"
	wrongCurrentPasswd = "Your current password is incorrect."
)

func (a *app) accountModel(c *fiber.Ctx, u cqrs.User, box views.PolicyBox, errs views.Errors, notice string) (views.SecurityInformationModel, error) {
	p, err := a.signedInPage(c, "My account")
	if err != nil {
		return views.SecurityInformationModel{}, err
	}
	m := views.SecurityInformationModel{
		Page: p, Action: accountAction, CheckURL: accountAction + "/check", UserID: u.UserID,
		Policy: box, Errors: errs, AskCurrent: true, Notice: notice,
		SecondFactorLink: a.cfg.SecondFactor.Covers(u),
	}
	if !u.PasswordChanged.IsZero() {
		m.LastChanged = u.PasswordChanged.Format(timeFormat)
		if allowed := policy.ChangeAllowedAt(u.PasswordChanged); allowed.After(u.Clock(a.cfg.Now())) {
			m.NextChange = allowed.Format(timeFormat)
		}
	}
	return m, nil
}

// accountPage shows the account and the change-password form.
func (a *app) accountPage(c *fiber.Ctx) error {
	u, _ := currentUser(c)
	notice := ""
	if c.Query("notice") == "changed" {
		notice = "Your password has been changed."
	}
	m, err := a.accountModel(c, u, a.policyBox("", nil, false), nil, notice)
	if err != nil {
		return err
	}
	return render(c, fiber.StatusOK, views.AccountPage(m))
}

// accountCheck is the live policy check on the account page.
func (a *app) accountCheck(c *fiber.Ctx) error {
	u, _ := currentUser(c)
	box, err := a.livePolicyBox(c, u)
	if err != nil {
		return err
	}
	return render(c, fiber.StatusOK, views.PolicyBoxFragment(box))
}

// changePassword: the current password first, then the whole policy,
// including the 72-hour minimum (whose refusal says when a change will be
// allowed), "different from the current" and the history of 8.
func (a *app) changePassword(c *fiber.Ctx) error {
	u, _ := currentUser(c)
	current, pw, confirm := c.FormValue("current_password"), c.FormValue("password"), c.FormValue("confirm_password")
	var errs views.Errors
	box := a.policyBox("", nil, false)
	ok, err := a.hasher.Verify(c.UserContext(), current, u.PasswordHash)
	if err != nil {
		return err
	}
	if current == "" {
		errs = append(errs, views.FieldError{Field: "current_password", Message: "Enter your current password."})
	} else if !ok {
		errs = append(errs, views.FieldError{Field: "current_password", Message: wrongCurrentPasswd})
	} else {
		var err error
		if errs, box, err = a.checkNewPassword(c, u, pw, confirm, false); err != nil {
			return err
		}
	}
	if len(errs) > 0 {
		m, err := a.accountModel(c, u, box, errs, "")
		if err != nil {
			return err
		}
		if isHTMX(c) {
			return render(c, fiber.StatusUnprocessableEntity, views.SecurityInformationForm(m))
		}
		return render(c, fiber.StatusUnprocessableEntity, views.AccountPage(m))
	}
	encoded, err := a.hasher.Hash(c.UserContext(), pw)
	if err != nil {
		return err
	}
	notify := a.passwordChangedEmail(c.UserContext(), u, a.cfg.Now())
	u, err = a.accounts.ChangePassword(c.UserContext(), u.ID, encoded, currentSession(c), &notify,
		a.event(c, cqrs.AuditEvent{Type: evPasswordChanged, Method: "account"}))
	if err != nil {
		return err // a user gone meanwhile is "Page not found" (storeAnswers)
	}
	a.wakeMailer()
	a.log.Info("password changed", "user_id", u.UserID)
	// POST-redirect-GET: a reload shows the notice, and sends nothing.
	return redirect(c, "/account?notice=changed")
}
