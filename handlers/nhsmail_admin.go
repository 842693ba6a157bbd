package handlers

import (
	"cmp"
	"context"
	"crypto/sha256"
	"errors"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/gofiber/fiber/v2"

	"github.com/cqrs-local/cqrs-signin/cqrs"
	"github.com/cqrs-local/cqrs-signin/secret"
	"github.com/cqrs-local/cqrs-signin/views"
)

// NHSmailAdminStore is what the NHSmail directory pages need from CQRS's own users.
type NHSmailAdminStore interface {
	UserByEmail(ctx context.Context, email string) (cqrs.User, error)
}

// NHSmailDirectory is the embedded simulator's account store.
type NHSmailDirectory interface {
	CreateNHSmailAccount(ctx context.Context, a cqrs.NHSmailAccount) (cqrs.NHSmailAccount, error)
	NHSmailAccount(ctx context.Context, id uint64) (cqrs.NHSmailAccount, error)
	NHSmailAccounts(ctx context.Context) ([]cqrs.NHSmailAccount, error)
	SetNHSmailPassword(ctx context.Context, id uint64, hash string) error
	SetNHSmailFlags(ctx context.Context, id uint64, disabled, locked, consentRequired bool) error
	SetNHSmailMFA(ctx context.Context, id uint64, method string) error
	NHSmailApplications
	DeleteExpiredNHSmailSessions(ctx context.Context) (int, error)
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
		// The new account's address is the username its new password belongs
		// to; the names are someone else's, never the administrator's own.
		{ID: "email", Label: "NHSmail email address", Type: "email", Value: values["email"], Autocomplete: "username", MaxLength: maxEmail, Required: true},
		{ID: "first_name", Label: "First name", Value: values["first_name"], Autocomplete: "off", MaxLength: maxName, Required: true},
		{ID: "last_name", Label: "Last name", Value: values["last_name"], Autocomplete: "off", MaxLength: maxName, Required: true},
		{ID: "password", Label: "Password", Type: "password", Hint: "At least 8 characters.", Autocomplete: "new-password", Required: true},
	}
}

func (a *app) renderNHSmailDirectory(c *fiber.Ctx, status int, values map[string]string, errs views.Errors, notice string) error {
	accounts, err := a.nhsmail.NHSmailAccounts(c.UserContext())
	if err != nil {
		return err
	}
	p, err := a.signedInPage(c, "NHSmail simulator accounts")
	if err != nil {
		return err
	}
	m := views.NHSmailDirectoryModel{Page: p, Form: nhsmailFields(values), Errors: errs, Notice: notice, Issuer: a.cfg.SSO.Issuer,
		MFAOptions: nhsmailMFAOptions(), MFAMethod: cmp.Or(values["mfa_method"], "none")}
	reported, err := a.nhsmailReports(c.UserContext())
	if err != nil {
		return err
	}
	if a.nhsmailServer != nil {
		m.SigningKeyID = a.nhsmailServer.KeyID(c.UserContext())
	}
	for _, acc := range accounts {
		_, cqrsErr := a.nhsmailAdmin.UserByEmail(c.UserContext(), acc.Email)
		m.Accounts = append(m.Accounts, views.NHSmailAccountRow{ID: strconv.FormatUint(acc.ID, 10), Email: acc.Email, Name: acc.FullName(),
			Disabled: acc.Disabled, Locked: acc.Locked, ConsentRequired: acc.ConsentRequired, HasCQRSAccount: cqrsErr == nil,
			MFAMethod: acc.MFAMethod, MFAName: cqrs.MFAMethodName(acc.MFAMethod), Reported: reported[strings.ToLower(acc.Email)]})
	}
	return render(c, status, views.NHSmailDirectoryPage(m))
}

// nhsmailMFAOptions are the simulator's methods, none first (the form's
// default, so a new account follows the documents unless asked).
func nhsmailMFAOptions() []views.NHSmailMFAOption {
	var out []views.NHSmailMFAOption
	for _, m := range []string{cqrs.MFANone, cqrs.MFAAuthenticator, cqrs.MFAText} {
		v := m
		if v == cqrs.MFANone {
			v = "none"
		}
		out = append(out, views.NHSmailMFAOption{Value: v, Name: cqrs.MFAMethodName(m)})
	}
	return out
}

// mfaMethodFromForm reads the form's method ("none" for none).
func mfaMethodFromForm(v string) (string, bool) {
	if v == "none" || v == "" {
		return cqrs.MFANone, true
	}
	return v, v != cqrs.MFANone && cqrs.ValidMFAMethod(v)
}

// nhsmailReports is when each account (by email, lower case) last had a
// sign-in prompt answered "No, it's not me", from the simulator's audit
// entries.
func (a *app) nhsmailReports(ctx context.Context) (map[string]string, error) {
	events, _, err := a.auditLog.AuditEvents(ctx, cqrs.AuditFilter{Type: cqrs.AuditNHSmailMFAReported, Limit: 500})
	if err != nil {
		return nil, err
	}
	out := map[string]string{}
	for _, e := range events {
		k := strings.ToLower(e.Subject)
		if _, seen := out[k]; !seen { // newest first
			out[k] = e.Time.In(time.Local).Format("2 Jan 2006 15:04")
		}
	}
	return out, nil
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
	values := formValues(c, "email", "first_name", "last_name", "mfa_method")
	pw := c.FormValue("password")
	var errs views.Errors
	method, ok := mfaMethodFromForm(values["mfa_method"])
	if !ok {
		errs = append(errs, views.FieldError{Field: "mfa_method-none", Message: "Select None, Microsoft Authenticator or Text message."})
	}
	errs = append(errs, validateEmail(values["email"])...)
	errs = append(errs, validatePersonName("first_name", "first name", values["first_name"])...)
	errs = append(errs, validatePersonName("last_name", "last name", values["last_name"])...)
	errs = append(errs, validateNHSmailPassword(pw)...)
	if len(errs) == 0 {
		hash, err := a.hasher.Hash(c.UserContext(), pw)
		if err != nil {
			return err
		}
		_, err = a.nhsmail.CreateNHSmailAccount(c.UserContext(), cqrs.NHSmailAccount{Email: values["email"], FirstName: values["first_name"], LastName: values["last_name"], PasswordHash: hash, MFAMethod: method})
		// A field error in the form's words, not a page.
		if errors.Is(err, cqrs.ErrConflict) {
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

// nhsmailAccountParam is the NHSmail account the path's :id names.
func (a *app) nhsmailAccountParam(c *fiber.Ctx) (cqrs.NHSmailAccount, error) {
	id, err := strconv.ParseUint(c.Params("id"), 10, 64)
	if err != nil {
		return cqrs.NHSmailAccount{}, fiber.ErrNotFound
	}
	return a.nhsmail.NHSmailAccount(c.UserContext(), id) // unknown: "Page not found" (storeAnswers)
}

// setNHSmailPassword gives the account the password typed.
func (a *app) setNHSmailPassword(c *fiber.Ctx) error {
	acc, err := a.nhsmailAccountParam(c)
	if err != nil {
		return err
	}
	pw := c.FormValue("password")
	if errs := validateNHSmailPassword(pw); errs != nil {
		return a.renderNHSmailDirectory(c, fiber.StatusUnprocessableEntity, nil, errs, "")
	}
	hash, err := a.hasher.Hash(c.UserContext(), pw)
	if err != nil {
		return err
	}
	if err := a.nhsmail.SetNHSmailPassword(c.UserContext(), acc.ID, hash); err != nil {
		return err
	}
	return redirect(c, "/admin/nhsmail?notice=password")
}

// setNHSmailMFA changes the account's second step after the password.
func (a *app) setNHSmailMFA(c *fiber.Ctx) error {
	acc, err := a.nhsmailAccountParam(c)
	if err != nil {
		return err
	}
	method, ok := mfaMethodFromForm(c.FormValue("mfa_method"))
	if !ok {
		return a.renderNHSmailDirectory(c, fiber.StatusUnprocessableEntity, nil,
			views.Errors{{Field: "mfa-" + strconv.FormatUint(acc.ID, 10), Message: "Select None, Microsoft Authenticator or Text message."}}, "")
	}
	if err := a.nhsmail.SetNHSmailMFA(c.UserContext(), acc.ID, method); err != nil {
		return err
	}
	return redirect(c, "/admin/nhsmail?notice=saved")
}

// nhsmailFlag is the handler of one of an account's flag buttons: set
// gives the account's three flags with this one switched as the form says
// ("on" is "true" or not).
func (a *app) nhsmailFlag(set func(acc cqrs.NHSmailAccount, on bool) (disabled, locked, consent bool)) fiber.Handler {
	return func(c *fiber.Ctx) error {
		acc, err := a.nhsmailAccountParam(c)
		if err != nil {
			return err
		}
		disabled, locked, consent := set(acc, c.FormValue("on") == "true")
		if err := a.nhsmail.SetNHSmailFlags(c.UserContext(), acc.ID, disabled, locked, consent); err != nil {
			return err
		}
		return redirect(c, "/admin/nhsmail?notice=saved")
	}
}

// The three flags, each switched on its own.
func nhsmailDisabled(acc cqrs.NHSmailAccount, on bool) (bool, bool, bool) {
	return on, acc.Locked, acc.ConsentRequired
}

func nhsmailLocked(acc cqrs.NHSmailAccount, on bool) (bool, bool, bool) {
	return acc.Disabled, on, acc.ConsentRequired
}

func nhsmailConsent(acc cqrs.NHSmailAccount, on bool) (bool, bool, bool) {
	return acc.Disabled, acc.Locked, on
}

// NHSmailSimulator is the embedded NHSmail simulator as the app serves and
// administers it (*nhsmail.Provider, which main passes in): its OpenID
// provider's pages, served under /nhsmail, the key that signs its ID
// tokens, and its sign-in cookie, which signing out of CQRS clears.
type NHSmailSimulator interface {
	http.Handler
	// KeyID is the kid of the key that signs ID tokens now.
	KeyID(ctx context.Context) string
	// RotateSigningKey makes a new key sign ID tokens from now on.
	RotateSigningKey(ctx context.Context) error
	// SessionCookieName names the simulator's sign-in cookie.
	SessionCookieName() string
	// NHSmailTrainerControls are the class board's controls of a
	// learner's second step (see package training).
	NHSmailTrainerControls
}

// rotateNHSmailSigningKey makes a new key sign the simulator's ID tokens.
func (a *app) rotateNHSmailSigningKey(c *fiber.Ctx) error {
	if a.nhsmailServer == nil {
		return fiber.ErrNotFound
	}
	if err := a.nhsmailServer.RotateSigningKey(c.UserContext()); err != nil {
		return err
	}
	return redirect(c, "/admin/nhsmail?notice=key")
}

// Applications registered with the simulator.

const (
	maxAppName      = 100
	maxRedirectURIs = 10
	maxRedirectURI  = 2000
)

// NHSmailApplications is where the simulator's registered applications are
// kept.
type NHSmailApplications interface {
	CreateNHSmailApplication(ctx context.Context, a cqrs.NHSmailApplication) (cqrs.NHSmailApplication, error)
	NHSmailApplications(ctx context.Context) ([]cqrs.NHSmailApplication, error)
	DeleteNHSmailApplication(ctx context.Context, clientID string) error
}

func (a *app) renderNHSmailApplications(c *fiber.Ctx, status int, m views.NHSmailApplicationsModel) error {
	list, err := a.nhsmail.NHSmailApplications(c.UserContext())
	if err != nil {
		return err
	}
	if m.Page, err = a.signedInPage(c, "NHSmail applications"); err != nil {
		return err
	}
	m.Issuer = a.cfg.SSO.Issuer
	for _, app := range list {
		m.Applications = append(m.Applications, views.NHSmailApplicationRow{ClientID: app.ClientID, Name: app.Name,
			Public: app.Public(), RedirectURIs: app.RedirectURIs})
	}
	if m.Confidential == "" {
		m.Confidential = "confidential"
	}
	return render(c, status, views.NHSmailApplicationsPage(m))
}

func (a *app) nhsmailApplications(c *fiber.Ctx) error {
	notice := ""
	if c.Query("notice") == "removed" {
		notice = "The application has been removed. Its codes and tokens no longer work."
	}
	m := views.NHSmailApplicationsModel{Notice: notice}
	var created views.NHSmailApplicationCreated
	if a.takeFlash(c, "/admin/nhsmail/applications", &created) && created.ClientID != "" {
		m.Created = &created
	}
	return a.renderNHSmailApplications(c, fiber.StatusOK, m)
}

// validRedirectURI accepts an absolute https URL, or http on this
// computer's loopback address (as Entra ID allows for http://localhost),
// with no userinfo or fragment, whose host is a host name or IP address
// (cqrs.RedirectOrigin): redirect URIs are then matched exactly.
func validRedirectURI(raw string) bool {
	u, err := url.Parse(raw)
	if err != nil || len(raw) > maxRedirectURI || hasControl(raw) || u.Host == "" || u.User != nil || u.Fragment != "" || strings.Contains(raw, "#") {
		return false
	}
	if _, ok := cqrs.RedirectOrigin(raw); !ok {
		return false
	}
	switch u.Scheme {
	case "https":
		return true
	case "http":
		host := u.Hostname()
		ip := net.ParseIP(host)
		return host == "localhost" || (ip != nil && ip.IsLoopback())
	}
	return false
}

// createNHSmailApplication registers an application and shows its client
// secret once; only its SHA-256 is kept.
func (a *app) createNHSmailApplication(c *fiber.Ctx) error {
	m := views.NHSmailApplicationsModel{Name: strings.TrimSpace(c.FormValue("name")), RedirectURIs: c.FormValue("redirect_uris"),
		Confidential: c.FormValue("type")}
	if n := utf8.RuneCountInString(m.Name); n == 0 || n > maxAppName || hasControl(m.Name) {
		m.Errors = append(m.Errors, views.FieldError{Field: "name", Message: "Enter the application's name (up to 100 characters)."})
	}
	var uris []string
	for line := range strings.SplitSeq(m.RedirectURIs, "\n") {
		if line = strings.TrimSpace(line); line != "" && !slices.Contains(uris, line) {
			uris = append(uris, line)
		}
	}
	if len(uris) == 0 || len(uris) > maxRedirectURIs {
		m.Errors = append(m.Errors, views.FieldError{Field: "redirect_uris", Message: "Enter between 1 and 10 redirect URIs, one a line."})
	}
	for _, u := range uris {
		if !validRedirectURI(u) {
			m.Errors = append(m.Errors, views.FieldError{Field: "redirect_uris",
				Message: "Each redirect URI must be a full https:// address (http:// only on localhost or 127.0.0.1), without a fragment: " + truncate(u, 80)})
			break
		}
	}
	if m.Confidential != "confidential" && m.Confidential != "public" {
		m.Errors = append(m.Errors, views.FieldError{Field: "type", Message: "Select whether the application can keep a secret."})
	}
	if len(m.Errors) > 0 {
		return a.renderNHSmailApplications(c, fiber.StatusUnprocessableEntity, m)
	}
	reg := cqrs.NHSmailApplication{Name: m.Name, RedirectURIs: uris}
	clientSecret := ""
	if m.Confidential == "confidential" {
		clientSecret = secret.NewToken()
		sum := sha256.Sum256([]byte(clientSecret))
		reg.SecretHash = sum[:]
	}
	created, err := a.nhsmail.CreateNHSmailApplication(c.UserContext(), reg)
	if err != nil {
		return err
	}
	// POST-redirect-GET: reloading the page shows the new client once more
	// (while the flash lasts) and never registers a second one. The secret
	// is shown once, to this browser only.
	if err := a.setFlash(c, "/admin/nhsmail/applications", views.NHSmailApplicationCreated{Name: created.Name, ClientID: created.ClientID, Secret: clientSecret}); err != nil {
		return err
	}
	return redirect(c, "/admin/nhsmail/applications")
}

func (a *app) deleteNHSmailApplication(c *fiber.Ctx) error {
	if err := a.nhsmail.DeleteNHSmailApplication(c.UserContext(), c.Params("client")); err != nil {
		return err // an unknown client is "Page not found" (storeAnswers)
	}
	return redirect(c, "/admin/nhsmail/applications?notice=removed")
}
