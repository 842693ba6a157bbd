package handlers

import (
	"context"
	"errors"
	"strings"
	"unicode/utf8"

	"github.com/gofiber/fiber/v2"

	"github.com/cqrs-local/cqrs-signin/cqrs"
	"github.com/cqrs-local/cqrs-signin/views"
)

// HelpDeskStore keeps the site's own help desk, which the system
// administrator sets.
type HelpDeskStore interface {
	// HelpDesk is ErrNotFound while the site has none of its own.
	HelpDesk(ctx context.Context) (cqrs.HelpDesk, error)
	// SetHelpDesk with the zero value goes back to the national one.
	SetHelpDesk(ctx context.Context, h cqrs.HelpDesk, events ...cqrs.AuditEvent) error
}

const (
	evHelpDeskChanged = cqrs.AuditHelpDeskChanged
	maxHelpDeskPhone  = 30
	maxHelpDeskHours  = 100
)

// helpDesk is where people are sent for help (Contact Us, the Help panel,
// every email, the error pages that name it): the site's own help desk
// once the system administrator sets it; the national CQRS help desk in a
// fresh installation, in training mode (the documents' own details), and
// should the store fail to answer (logged: a page that sends people for
// help must not fail for want of the address).
func (a *app) helpDesk(ctx context.Context) views.HelpDesk {
	h, own, err := a.siteHelpDesk(ctx)
	if err != nil {
		a.log.Error("reading the help desk", "err", err)
	}
	if !own {
		return a.cfg.HelpDesk
	}
	out := a.cfg.HelpDesk
	out.Email, out.Phone, out.Hours = h.Email, h.Phone, h.Hours
	return out
}

// siteHelpDesk is the site's own help desk, if it has one.
func (a *app) siteHelpDesk(ctx context.Context) (cqrs.HelpDesk, bool, error) {
	if a.cfg.Training || a.helpDeskDB == nil {
		return cqrs.HelpDesk{}, false, nil
	}
	h, err := a.helpDeskDB.HelpDesk(ctx)
	if errors.Is(err, cqrs.ErrNotFound) {
		return cqrs.HelpDesk{}, false, nil
	}
	return h, err == nil, err
}

func helpDeskFields(values map[string]string) []views.Field {
	return []views.Field{
		{ID: "helpdesk_email", Label: "Email address", Hint: "Where your people write for help, for example it.support@riverside.nhs.uk.", Type: "email",
			Value: values["helpdesk_email"], Autocomplete: "email", MaxLength: maxEmail, Required: true},
		{ID: "helpdesk_phone", Label: "Phone number", Hint: "Digits, spaces, +, ( ) and -.", Type: "tel",
			Value: values["helpdesk_phone"], Autocomplete: "tel", MaxLength: maxHelpDeskPhone, Required: true},
		{ID: "helpdesk_hours", Label: "Opening hours", Hint: "As people should read it, for example 8am-6pm Mon-Fri exc Bank Holidays.",
			Value: values["helpdesk_hours"], MaxLength: maxHelpDeskHours, Required: true},
	}
}

// validateHelpDesk checks the three fields; the messages name the field.
func validateHelpDesk(v map[string]string) views.Errors {
	var errs views.Errors
	switch email := v["helpdesk_email"]; {
	case email == "":
		errs = append(errs, fieldError("helpdesk_email", "Enter the help desk's email address.")...)
	case validateEmail(email) != nil:
		errs = append(errs, fieldError("helpdesk_email", "Enter a valid email address for the help desk, like it.support@riverside.nhs.uk.")...)
	}
	switch phone := v["helpdesk_phone"]; {
	case phone == "":
		errs = append(errs, fieldError("helpdesk_phone", "Enter the help desk's phone number.")...)
	case len(phone) > maxHelpDeskPhone || countDigits(phone) < 3 || strings.ContainsFunc(phone, func(r rune) bool {
		return !(r >= '0' && r <= '9' || r == ' ' || r == '+' || r == '(' || r == ')' || r == '-')
	}):
		errs = append(errs, fieldError("helpdesk_phone", "Enter the help desk's phone number using digits, spaces, +, ( ) and -, up to 30 characters.")...)
	}
	switch hours := v["helpdesk_hours"]; {
	case hours == "":
		errs = append(errs, fieldError("helpdesk_hours", "Enter the help desk's opening hours.")...)
	case utf8.RuneCountInString(hours) > maxHelpDeskHours:
		errs = append(errs, fieldError("helpdesk_hours", "The opening hours must be 100 characters or fewer.")...)
	case hasControl(hours) || strings.ContainsAny(hours, "<>"):
		errs = append(errs, fieldError("helpdesk_hours", "The opening hours contain characters that are not allowed.")...)
	}
	return errs
}

func countDigits(s string) int {
	n := 0
	for _, r := range s {
		if r >= '0' && r <= '9' {
			n++
		}
	}
	return n
}

func (a *app) renderHelpDesk(c *fiber.Ctx, status int, values map[string]string, errs views.Errors) error {
	p, err := a.signedInPage(c, "Help desk")
	if err != nil {
		return err
	}
	_, own, err := a.siteHelpDesk(c.UserContext())
	if err != nil {
		return err
	}
	current := a.helpDesk(c.UserContext())
	if values == nil {
		values = map[string]string{"helpdesk_email": current.Email, "helpdesk_phone": current.Phone, "helpdesk_hours": current.Hours}
	}
	m := views.HelpDeskModel{Page: p, Current: current, Own: own, Training: a.cfg.Training, Form: helpDeskFields(values), Errors: errs}
	switch c.Query("notice") {
	case "saved":
		m.Notice = "The help desk has been saved. Contact Us, new emails and the error pages now give these details."
	case "national":
		m.Notice = "People are sent to the national CQRS help desk again."
	}
	return render(c, status, views.HelpDeskPage(m))
}

// helpDeskPage shows the help desk people are sent to, and the form to
// change it.
func (a *app) helpDeskPage(c *fiber.Ctx) error {
	return a.renderHelpDesk(c, fiber.StatusOK, nil, nil)
}

// saveHelpDesk sets the site's help desk, or ("national") goes back to the
// national one. Bad input changes nothing.
func (a *app) saveHelpDesk(c *fiber.Ctx) error {
	if a.cfg.Training || a.helpDeskDB == nil {
		return refuse(fiber.StatusConflict, "The help desk cannot be changed in training mode",
			"Training mode always gives the national CQRS help desk, as the documents do.")
	}
	var h cqrs.HelpDesk
	detail := "national CQRS help desk"
	notice := "national"
	if c.FormValue("national") == "" {
		values := formValues(c, "helpdesk_email", "helpdesk_phone", "helpdesk_hours")
		if errs := validateHelpDesk(values); len(errs) > 0 {
			return a.renderHelpDesk(c, fiber.StatusUnprocessableEntity, values, errs)
		}
		h = cqrs.HelpDesk{Email: values["helpdesk_email"], Phone: values["helpdesk_phone"], Hours: values["helpdesk_hours"]}
		detail, notice = h.Email+", "+h.Phone+" ("+h.Hours+")", "saved"
	}
	u, _ := currentUser(c)
	if err := a.helpDeskDB.SetHelpDesk(c.UserContext(), h, a.event(c, cqrs.AuditEvent{Type: evHelpDeskChanged, Subject: u.UserID, OrgID: u.OrgID, Detail: detail})); err != nil {
		return err
	}
	return redirect(c, "/admin/helpdesk?notice="+notice)
}
