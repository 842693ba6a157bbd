package handlers

import (
	"context"
	"errors"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/cqrs-local/cqrs-signin/cqrs"
	"github.com/cqrs-local/cqrs-signin/secret"
	"github.com/cqrs-local/cqrs-signin/views"
)

// SetupStore is what first-run set-up needs from the store.
type SetupStore interface {
	HasUsers(ctx context.Context) (bool, error)
	SetupPending(ctx context.Context, hash []byte) bool
	CompleteSetup(ctx context.Context, setupHash []byte, org cqrs.Organisation, admin cqrs.User, linkHash []byte, linkTTL time.Duration, events ...cqrs.AuditEvent) (cqrs.User, error)
}

const setupCookie = "cqrs_setup"

// alreadySetUp explains the spent set-up page, and the way on for an
// administrator who lost the browser before choosing a password.
var alreadySetUp = []string{
	"The set-up page can be used once, and it has been. Sign in on the CQRS Login page.",
	"If the system administrator's password was never chosen, restart CQRS: until it is, every start prints a new link to choose it.",
}

// setupPage swaps the set-up token in the URL for a cookie (so the token
// does not stay in history or leak through Referer), then shows the form.
func (a *app) setupPage(c *fiber.Ctx) error {
	if token := c.Query("token"); token != "" {
		a.setTokenCookie(c, setupCookie, "/setup", token, time.Hour)
		c.Set("Referrer-Policy", "no-referrer")
		return c.Redirect("/setup", fiber.StatusSeeOther)
	}
	if err := a.setupAllowed(c); err != nil {
		return err
	}
	return render(c, fiber.StatusOK, views.SetupPage(views.SetupModel{Page: a.page(c, "Set up CQRS"), Fields: setupFields(nil)}))
}

func (a *app) setupAllowed(c *fiber.Ctx) error {
	if hasUsers, err := a.setup.HasUsers(c.UserContext()); err != nil {
		return err
	} else if hasUsers {
		return refuse(fiber.StatusGone, "CQRS is already set up", alreadySetUp...)
	}
	if !a.setup.SetupPending(c.UserContext(), secret.HashToken(c.Cookies(setupCookie))) {
		return refuse(fiber.StatusForbidden, "This set-up link is not valid",
			"Open the set-up link printed in the window where CQRS was started. A new link is printed each time CQRS starts before it is set up.")
	}
	return nil
}

func setupFields(form map[string]string) []views.Field {
	return []views.Field{
		{ID: "user_id", Label: "User ID", Hint: "3 to 32 letters, digits, full stops, underscores or hyphens.", Value: form["user_id"], Autocomplete: "username", MaxLength: maxUserID, Required: true},
		{ID: "first_name", Label: "First name", Value: form["first_name"], Autocomplete: "given-name", MaxLength: maxName, Required: true},
		{ID: "last_name", Label: "Last name", Value: form["last_name"], Autocomplete: "family-name", MaxLength: maxName, Required: true},
		{ID: "email", Label: "Email address", Type: "email", Value: form["email"], Autocomplete: "email", MaxLength: maxEmail, Required: true},
		{ID: "org_name", Label: "Organisation name", Value: form["org_name"], Autocomplete: "organization", MaxLength: maxOrgName, Required: true},
		{ID: "ods_code", Label: "Organisation ODS code", Hint: "The organisation's code in the Organisation Data Service, for example Y12345.", Value: form["ods_code"], MaxLength: maxODS, Required: true},
	}
}

// setupSubmit creates the first organisation and system administrator, then
// takes them straight to the Security Information screen.
func (a *app) setupSubmit(c *fiber.Ctx) error {
	if err := a.setupAllowed(c); err != nil {
		return err
	}
	form := formValues(c, "user_id", "first_name", "last_name", "email", "org_name", "ods_code")
	var errs views.Errors
	errs = append(errs, validateUserID(form["user_id"])...)
	errs = append(errs, validatePersonName("first_name", "first name", form["first_name"])...)
	errs = append(errs, validatePersonName("last_name", "last name", form["last_name"])...)
	errs = append(errs, validateEmail(form["email"])...)
	errs = append(errs, validateOrgName(form["org_name"])...)
	errs = append(errs, validateODSCode(form["ods_code"])...)
	if len(errs) > 0 {
		return render(c, fiber.StatusUnprocessableEntity, views.SetupPage(views.SetupModel{Page: a.page(c, "Set up CQRS"), Fields: setupFields(form), Errors: errs}))
	}
	linkToken := secret.NewToken()
	org := cqrs.Organisation{Name: form["org_name"], ODSCode: normaliseODS(form["ods_code"])}
	admin := cqrs.User{UserID: form["user_id"], FirstName: form["first_name"], LastName: form["last_name"], Email: form["email"]}
	_, err := a.setup.CompleteSetup(c.UserContext(), secret.HashToken(c.Cookies(setupCookie)), org, admin, secret.HashToken(linkToken), a.cfg.RegistrationLinkTTL,
		a.event(c, cqrs.AuditEvent{Type: evSetupUsed, Subject: admin.UserID, Detail: "first system administrator and organisation " + org.ODSCode}))
	// Own words: once used, the set-up page is gone, whichever way the store says so.
	switch {
	case errors.Is(err, cqrs.ErrNotFound), errors.Is(err, cqrs.ErrConflict):
		return refuse(fiber.StatusGone, "CQRS is already set up", alreadySetUp...)
	case err != nil:
		return err
	}
	a.log.Info("first administrator created", "user_id", admin.UserID)
	a.clearCookie(c, setupCookie, "/setup")
	a.setTokenCookie(c, registration.cookie, registration.path, linkToken, linkCookieTTL)
	return redirect(c, "/register")
}

// setTokenCookie keeps a link's token in a short-lived cookie scoped to the
// pages that use it.
func (a *app) setTokenCookie(c *fiber.Ctx, name, path, token string, ttl time.Duration) {
	c.Cookie(&fiber.Cookie{Name: name, Value: token, Path: path, HTTPOnly: true, Secure: a.cfg.Secure,
		SameSite: fiber.CookieSameSiteLaxMode, Expires: time.Now().Add(ttl)})
}

func (a *app) clearCookie(c *fiber.Ctx, name, path string) {
	c.Cookie(&fiber.Cookie{Name: name, Value: "", Path: path, HTTPOnly: true, Secure: a.cfg.Secure,
		SameSite: fiber.CookieSameSiteLaxMode, Expires: time.Unix(1, 0), MaxAge: -1})
}

// formValues copies the named form fields, trimmed of surrounding space.
func formValues(c *fiber.Ctx, names ...string) map[string]string {
	out := make(map[string]string, len(names))
	for _, n := range names {
		out[n] = trimSpace(c.FormValue(n))
	}
	return out
}
