package handlers

import (
	"errors"
	"net/url"
	"strings"
	"testing"

	"github.com/cqrs-local/cqrs-signin/cqrs"
)

// TestHelpDesk: the system administrator sets the site's help desk, which
// Contact Us and every new email then give; bad input and other roles
// change nothing; the national one comes back on request.
func TestHelpDesk(t *testing.T) {
	e := newAdminEnv(t)
	national := []string{"support@cqrs.co.uk", "0800 4402777", "8am-6pm Mon-Fri exc Bank Holidays"}
	riverside := url.Values{"helpdesk_email": {"it.support@riverside.nhs.uk"}, "helpdesk_phone": {"0113 496 0000"}, "helpdesk_hours": {"9am-5pm Mon-Fri"}}
	with := func(field, value string) url.Values {
		f := cloneForm(riverside)
		f.Set(field, value)
		return f
	}
	noHelpDesk := func(t *testing.T) {
		if _, err := e.store.HelpDesk(t.Context()); !errors.Is(err, cqrs.ErrNotFound) {
			t.Fatalf("the store holds a help desk: %v", err)
		}
	}
	page := "/admin/helpdesk"
	runScenarios(t, e.testEnv, e.roles(), []scenario{
		{Name: "a fresh installation gives the national help desk", URL: "/help", Role: roleAnon, ExpectedStatus: 200, ExpectedContent: national},
		{Name: "the system administrator sees which help desk is given", URL: page, Role: roleSysAdmin, ExpectedStatus: 200,
			ExpectedContent: append([]string{"People are sent to the national CQRS help desk"}, national...)},
		{Name: "refused: every field empty", Method: "POST", URL: page, Role: roleSysAdmin, CSRFFrom: page, Form: url.Values{},
			ExpectedStatus: 422, ExpectedContent: []string{"There is a problem", "Enter the help desk's email address.", "Enter the help desk's phone number.", "Enter the help desk's opening hours."},
			Unchanged: true, ExpectedChange: noHelpDesk},
		{Name: "refused: not an email address", Method: "POST", URL: page, Role: roleSysAdmin, CSRFFrom: page, Form: with("helpdesk_email", "it support at riverside"),
			ExpectedStatus: 422, ExpectedContent: []string{"Enter a valid email address for the help desk"}, Unchanged: true, ExpectedChange: noHelpDesk},
		{Name: "refused: a header in the email address", Method: "POST", URL: page, Role: roleSysAdmin, CSRFFrom: page, Form: with("helpdesk_email", "it@riverside.nhs.uk\r\nBcc: x@evil.example"),
			ExpectedStatus: 422, ExpectedContent: []string{"Enter a valid email address for the help desk"}, Unchanged: true},
		{Name: "refused: a phone number with letters", Method: "POST", URL: page, Role: roleSysAdmin, CSRFFrom: page, Form: with("helpdesk_phone", "call reception"),
			ExpectedStatus: 422, ExpectedContent: []string{"Enter the help desk's phone number using digits"}, Unchanged: true},
		{Name: "refused: markup in the hours", Method: "POST", URL: page, Role: roleSysAdmin, CSRFFrom: page, Form: with("helpdesk_hours", "<script>x</script>"),
			ExpectedStatus: 422, ExpectedContent: []string{"The opening hours contain characters that are not allowed."}, NotExpectedContent: []string{"<script>x"}, Unchanged: true},
		{Name: "refused: hours too long", Method: "POST", URL: page, Role: roleSysAdmin, CSRFFrom: page, Form: with("helpdesk_hours", strings.Repeat("9-5 ", 30)),
			ExpectedStatus: 422, ExpectedContent: []string{"The opening hours must be 100 characters or fewer."}, Unchanged: true},
		{Name: "a User Administrator cannot change it", Method: "POST", URL: page, Role: roleSameOrgAdmin, CSRFFrom: "/admin/users", Form: riverside,
			ExpectedStatus: 403, Unchanged: true},
		{Name: "a user cannot change it", Method: "POST", URL: page, Role: roleUser, CSRFFrom: "/messages", Form: riverside,
			ExpectedStatus: 403, Unchanged: true},
		{Name: "the system administrator sets the site's help desk", Method: "POST", URL: page, Role: roleSysAdmin, CSRFFrom: page, Form: riverside,
			ExpectedStatus: 303, ExpectedLocation: "/admin/helpdesk?notice=saved",
			ExpectedChange: func(t *testing.T) {
				if h, err := e.store.HelpDesk(t.Context()); err != nil || h.Email != "it.support@riverside.nhs.uk" || h.Phone != "0113 496 0000" || h.Hours != "9am-5pm Mon-Fri" {
					t.Fatalf("stored help desk: %+v, %v", h, err)
				}
			}},
		{Name: "Contact Us gives the site's help desk", URL: "/help", Role: roleAnon, ExpectedStatus: 200,
			ExpectedContent: []string{"it.support@riverside.nhs.uk", "0113 496 0000", "9am-5pm Mon-Fri"}, NotExpectedContent: national},
	})
	t.Run("a new email gives the site's help desk", func(t *testing.T) {
		sam, _ := e.store.UserByUserID(t.Context(), "sam.patel")
		anon := e.client()
		wantStatus(t, anon.post("/forgotten", url.Values{"who": {"sam.patel"}, "csrf_token": {anon.csrf("/forgotten")}}), 303)
		m := e.latestEmailTo(sam)
		for _, part := range []string{m.Text, m.HTML} {
			if !strings.Contains(part, "it.support@riverside.nhs.uk, 0113 496 0000 (9am-5pm Mon-Fri)") || strings.Contains(part, "support@cqrs.co.uk") {
				t.Errorf("the email's signature is not the site's help desk:\n%s", part)
			}
		}
	})
	runScenarios(t, e.testEnv, e.roles(), []scenario{
		{Name: "back to the national help desk", Method: "POST", URL: page, Role: roleSysAdmin, CSRFFrom: page, Form: url.Values{"national": {"1"}},
			ExpectedStatus: 303, ExpectedLocation: "/admin/helpdesk?notice=national", ExpectedChange: noHelpDesk},
		{Name: "Contact Us gives the national help desk again", URL: "/help", Role: roleAnon, ExpectedStatus: 200, ExpectedContent: national},
	})
}

// TestHelpDeskInTrainingMode: training mode gives the documents' national
// help desk whatever the database holds, and the page cannot change it.
func TestHelpDeskInTrainingMode(t *testing.T) {
	e := newEnv(t, func(c *Config) { c.Training = true; c.TrainerPassword = "Trainer#Pass2026" })
	if err := e.store.SetHelpDesk(t.Context(), cqrs.HelpDesk{Email: "it@riverside.nhs.uk", Phone: "0113 496 0000", Hours: "9-5"}); err != nil {
		t.Fatal(err)
	}
	r := e.client().get("/help")
	wantStatus(t, r, 200)
	wantText(t, r, "support@cqrs.co.uk", "0800 4402777", "8am-6pm Mon-Fri exc Bank Holidays")
	if strings.Contains(r.body, "it@riverside.nhs.uk") {
		t.Error("training mode gives the site's help desk")
	}
}
