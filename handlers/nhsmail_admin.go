package handlers

import (
	"errors"
	"strconv"
	"unicode/utf8"

	"github.com/gofiber/fiber/v2"

	"github.com/cqrs-local/cqrs-signin/store"
	"github.com/cqrs-local/cqrs-signin/views"
)

// NHSmailDirectory is the embedded simulator's account store.
type NHSmailDirectory interface {
	CreateNHSmailAccount(a store.NHSmailAccount) (store.NHSmailAccount, error)
	NHSmailAccount(id uint64) (store.NHSmailAccount, error)
	NHSmailAccounts() ([]store.NHSmailAccount, error)
	SetNHSmailPassword(id uint64, hash string) error
	SetNHSmailFlags(id uint64, disabled, locked, consentRequired bool) error
	DeleteExpiredNHSmailSessions() (int, error)
}

const minNHSmailPassword = 8

var nhsmailNotices = map[string]string{
	"added":    "The NHSmail account has been added.",
	"password": "The NHSmail password has been set.",
	"key":      "A new signing key has been made. The previous one stays published for a day.",
	"saved":    "The NHSmail account has been changed.",
}

func nhsmailFields(values map[string]string) []views.Field {
	return []views.Field{
		{ID: "email", Label: "NHSmail email address", Type: "email", Value: values["email"], MaxLength: maxEmail, Required: true},
		{ID: "first_name", Label: "First name", Value: values["first_name"], MaxLength: maxName, Required: true},
		{ID: "last_name", Label: "Last name", Value: values["last_name"], MaxLength: maxName, Required: true},
		{ID: "password", Label: "Password", Type: "password", Hint: "At least 8 characters.", Autocomplete: "new-password", Required: true},
	}
}

func (a *app) renderNHSmailDirectory(c *fiber.Ctx, status int, values map[string]string, errs views.Errors, notice string) error {
	accounts, err := a.nhsmail.NHSmailAccounts()
	if err != nil {
		return err
	}
	p, err := a.signedInPage(c, "NHSmail simulator accounts")
	if err != nil {
		return err
	}
	m := views.NHSmailDirectoryModel{Page: p, Form: nhsmailFields(values), Errors: errs, Notice: notice, Issuer: a.cfg.SSO.Issuer}
	if keys, ok := a.nhsmailServer.(nhsmailSigningKeys); ok {
		m.SigningKeyID = keys.KeyID()
	}
	for _, acc := range accounts {
		_, cqrsErr := a.store.UserByEmail(acc.Email)
		m.Accounts = append(m.Accounts, views.NHSmailAccountRow{ID: strconv.FormatUint(acc.ID, 10), Email: acc.Email, Name: acc.FullName(),
			Disabled: acc.Disabled, Locked: acc.Locked, ConsentRequired: acc.ConsentRequired, HasCQRSAccount: cqrsErr == nil})
	}
	return render(c, status, views.NHSmailDirectoryPage(m))
}

func (a *app) nhsmailDirectory(c *fiber.Ctx) error {
	return a.renderNHSmailDirectory(c, fiber.StatusOK, nil, nil, nhsmailNotices[c.Query("notice")])
}

func validateNHSmailPassword(pw string) []views.FieldError {
	if n := utf8.RuneCountInString(pw); n < minNHSmailPassword || n > maxPasswordInput || hasControl(pw) {
		return fieldError("password", "Enter a password of at least 8 characters.")
	}
	return nil
}

func (a *app) createNHSmailAccount(c *fiber.Ctx) error {
	values := formValues(c, "email", "first_name", "last_name")
	pw := c.FormValue("password")
	var errs views.Errors
	errs = append(errs, validateEmail(values["email"])...)
	errs = append(errs, validatePersonName("first_name", "first name", values["first_name"])...)
	errs = append(errs, validatePersonName("last_name", "last name", values["last_name"])...)
	errs = append(errs, validateNHSmailPassword(pw)...)
	if len(errs) == 0 {
		hash, err := a.hasher.Hash(c.Context(), pw)
		if err != nil {
			return err
		}
		_, err = a.nhsmail.CreateNHSmailAccount(store.NHSmailAccount{Email: values["email"], FirstName: values["first_name"], LastName: values["last_name"], PasswordHash: hash})
		if errors.Is(err, store.ErrConflict) {
			errs = append(errs, views.FieldError{Field: "email", Message: "An NHSmail account with that email address already exists."})
		} else if err != nil {
			return err
		}
	}
	if len(errs) > 0 {
		return a.renderNHSmailDirectory(c, fiber.StatusUnprocessableEntity, values, errs, "")
	}
	return redirect(c, "/admin/nhsmail?notice=added")
}

func (a *app) nhsmailAccountAction(c *fiber.Ctx) error {
	id, err := strconv.ParseUint(c.Params("id"), 10, 64)
	if err != nil {
		return fiber.ErrNotFound
	}
	acc, err := a.nhsmail.NHSmailAccount(id)
	if errors.Is(err, store.ErrNotFound) {
		return fiber.ErrNotFound
	} else if err != nil {
		return err
	}
	on := c.FormValue("on") == "true"
	notice := "saved"
	switch c.Params("action") {
	case "password":
		pw := c.FormValue("password")
		if errs := validateNHSmailPassword(pw); errs != nil {
			return a.renderNHSmailDirectory(c, fiber.StatusUnprocessableEntity, nil, errs, "")
		}
		hash, err := a.hasher.Hash(c.Context(), pw)
		if err != nil {
			return err
		}
		err = a.nhsmail.SetNHSmailPassword(id, hash)
		if err != nil {
			return err
		}
		notice = "password"
	case "disabled":
		err = a.nhsmail.SetNHSmailFlags(id, on, acc.Locked, acc.ConsentRequired)
	case "locked":
		err = a.nhsmail.SetNHSmailFlags(id, acc.Disabled, on, acc.ConsentRequired)
	case "consent":
		err = a.nhsmail.SetNHSmailFlags(id, acc.Disabled, acc.Locked, on)
	default:
		return fiber.ErrNotFound
	}
	if err != nil {
		return err
	}
	return redirect(c, "/admin/nhsmail?notice="+notice)
}

// nhsmailSigningKeys is the simulator's signing key, as the administration
// page shows and rotates it (*nhsmail.Provider).
type nhsmailSigningKeys interface {
	KeyID() string
	RotateSigningKey() error
}

// rotateNHSmailSigningKey makes a new key sign the simulator's ID tokens.
func (a *app) rotateNHSmailSigningKey(c *fiber.Ctx) error {
	keys, ok := a.nhsmailServer.(nhsmailSigningKeys)
	if !ok {
		return fiber.ErrNotFound
	}
	if err := keys.RotateSigningKey(); err != nil {
		return err
	}
	return redirect(c, "/admin/nhsmail?notice=key")
}
