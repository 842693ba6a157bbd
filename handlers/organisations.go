package handlers

import (
	"context"
	"errors"
	"strconv"

	"github.com/gofiber/fiber/v2"

	"github.com/cqrs-local/cqrs-signin/cqrs"
	"github.com/cqrs-local/cqrs-signin/views"
)

// OrganisationStore is what organisation administration needs from the store.
type OrganisationStore interface {
	CreateOrganisation(ctx context.Context, o cqrs.Organisation) (cqrs.Organisation, error)
	Organisation(ctx context.Context, id uint64) (cqrs.Organisation, error)
	Organisations(ctx context.Context) ([]cqrs.Organisation, error)
	UpdateOrganisation(ctx context.Context, o cqrs.Organisation) (cqrs.Organisation, error)
}

// requireSystemAdmin guards what only the system administrator manages.
func (a *app) requireSystemAdmin(c *fiber.Ctx) error {
	if u, ok := currentUser(c); !ok || !isSystemAdmin(u) {
		return refuse(fiber.StatusForbidden, "You cannot do that", "Only the system administrator can manage organisations.")
	}
	return c.Next()
}

func orgFields(values map[string]string) []views.Field {
	return []views.Field{
		{ID: "org_name", Label: "Organisation name", Value: values["org_name"], MaxLength: maxOrgName, Required: true},
		{ID: "ods_code", Label: "ODS code", Hint: "For example Y12345.", Value: values["ods_code"], MaxLength: maxODS, Required: true},
	}
}

func (a *app) renderOrganisations(c *fiber.Ctx, status int, values map[string]string, errs views.Errors, notice string) error {
	orgs, err := a.orgStore.Organisations(c.UserContext())
	if err != nil {
		return err
	}
	p, err := a.signedInPage(c, "Organisations")
	if err != nil {
		return err
	}
	m := views.OrgModel{Page: p, Form: orgFields(values), Errors: errs, Notice: notice}
	for _, o := range orgs {
		m.Orgs = append(m.Orgs, views.OrgRow{ID: strconv.FormatUint(o.ID, 10), Name: o.Name, ODSCode: o.ODSCode})
	}
	return render(c, status, views.OrganisationsPage(m))
}

func (a *app) organisations(c *fiber.Ctx) error {
	notice := ""
	if c.Query("notice") == "saved" {
		notice = "The organisation has been saved."
	}
	return a.renderOrganisations(c, fiber.StatusOK, nil, nil, notice)
}

func parseOrgForm(c *fiber.Ctx) (map[string]string, views.Errors) {
	values := formValues(c, "org_name", "ods_code")
	errs := append(validateOrgName(values["org_name"]), validateODSCode(values["ods_code"])...)
	return values, errs
}

func (a *app) createOrganisation(c *fiber.Ctx) error {
	values, errs := parseOrgForm(c)
	if len(errs) == 0 {
		_, err := a.orgStore.CreateOrganisation(c.UserContext(), cqrs.Organisation{Name: values["org_name"], ODSCode: normaliseODS(values["ods_code"])})
		// A field error in the form's words, not a page.
		if errors.Is(err, cqrs.ErrConflict) {
			errs = append(errs, views.FieldError{Field: "ods_code", Message: "An organisation with that ODS code already exists."})
		} else if err != nil {
			return err
		}
	}
	if len(errs) > 0 {
		return a.renderOrganisations(c, fiber.StatusUnprocessableEntity, values, errs, "")
	}
	return redirect(c, "/admin/organisations?notice=saved")
}

func (a *app) organisationForm(c *fiber.Ctx, status int, o cqrs.Organisation, values map[string]string, errs views.Errors) error {
	p, err := a.signedInPage(c, "Edit organisation")
	if err != nil {
		return err
	}
	return render(c, status, views.OrganisationPage(views.OrgModel{Page: p, Form: orgFields(values), Errors: errs}, "/admin/organisations/"+strconv.FormatUint(o.ID, 10)))
}

func (a *app) lookupOrganisation(c *fiber.Ctx) (cqrs.Organisation, error) {
	id, err := strconv.ParseUint(c.Params("id"), 10, 64)
	if err != nil {
		return cqrs.Organisation{}, fiber.ErrNotFound
	}
	// An unknown organisation is storeAnswers' 404.
	return a.orgStore.Organisation(c.UserContext(), id)
}

func (a *app) organisation(c *fiber.Ctx) error {
	o, err := a.lookupOrganisation(c)
	if err != nil {
		return err
	}
	return a.organisationForm(c, fiber.StatusOK, o, map[string]string{"org_name": o.Name, "ods_code": o.ODSCode}, nil)
}

func (a *app) updateOrganisation(c *fiber.Ctx) error {
	o, err := a.lookupOrganisation(c)
	if err != nil {
		return err
	}
	values, errs := parseOrgForm(c)
	if len(errs) == 0 {
		_, err := a.orgStore.UpdateOrganisation(c.UserContext(), cqrs.Organisation{ID: o.ID, Name: values["org_name"], ODSCode: normaliseODS(values["ods_code"])})
		// A field error in the form's words, not a page.
		if errors.Is(err, cqrs.ErrConflict) {
			errs = append(errs, views.FieldError{Field: "ods_code", Message: "An organisation with that ODS code already exists."})
		} else if err != nil {
			return err
		}
	}
	if len(errs) > 0 {
		return a.organisationForm(c, fiber.StatusUnprocessableEntity, o, values, errs)
	}
	return redirect(c, "/admin/organisations?notice=saved")
}
