package handlers

import (
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"

	"github.com/cqrs-local/cqrs-signin/cqrs"
)

// The system administrator chooses an NHSmail account's MFA method when
// making it (none unless asked) and changes it later; a method the
// simulator does not offer changes nothing; a prompt answered "No, it's
// not me" is reported on the page.
func TestNHSmailAccountMFAMethod(t *testing.T) {
	e := newSimulatorAdminEnv(t)
	const page = "/admin/nhsmail"
	add := func(email, method string) *http.Response {
		form := url.Values{"email": {email}, "first_name": {"Ann"}, "last_name": {"Other"}, "password": {"Harbour!2026x"}, "csrf_token": {e.sys.csrf(page)}}
		if method != "" {
			form.Set("mfa_method", method)
		}
		return e.sys.post(page, form).Response
	}

	list := e.sys.get(page)
	doc := list.doc(t)
	for value, label := range map[string]string{"none": "None", "authenticator": "Microsoft Authenticator", "text": "Text message"} {
		input := doc.Find(`input[name="mfa_method"][value="` + value + `"]`)
		if got := strings.TrimSpace(doc.Find(`label[for="` + input.AttrOr("id", "?") + `"]`).Text()); got != label {
			t.Errorf("the %s radio is labelled %q, want %q", value, got, label)
		}
	}
	if _, checked := doc.Find(`input[name="mfa_method"][value="none"]`).Attr("checked"); !checked {
		t.Error("the form does not default to none")
	}

	if r := add("plain@nhs.net", ""); r.StatusCode != http.StatusSeeOther {
		t.Fatalf("add without a method: %d", r.StatusCode)
	}
	if r := add("app@nhs.net", "authenticator"); r.StatusCode != http.StatusSeeOther {
		t.Fatalf("add with Authenticator: %d", r.StatusCode)
	}
	if r := add("pigeon@nhs.net", "carrier-pigeon"); r.StatusCode != http.StatusUnprocessableEntity {
		t.Errorf("an unknown method: %d, want 422", r.StatusCode)
	}
	if _, err := e.store.NHSmailAccountByEmail(t.Context(), "pigeon@nhs.net"); err == nil {
		t.Error("an account with an unknown method was made")
	}
	plain, _ := e.store.NHSmailAccountByEmail(t.Context(), "plain@nhs.net")
	app1, _ := e.store.NHSmailAccountByEmail(t.Context(), "app@nhs.net")
	if plain.MFAMethod != cqrs.MFANone || app1.MFAMethod != cqrs.MFAAuthenticator {
		t.Errorf("made with %q and %q", plain.MFAMethod, app1.MFAMethod)
	}

	change := func(id uint64, method string) *http.Response {
		return e.sys.post(page+"/"+strconv.FormatUint(id, 10)+"/mfa", url.Values{"mfa_method": {method}, "csrf_token": {e.sys.csrf(page)}}).Response
	}
	if r := change(plain.ID, "text"); r.StatusCode != http.StatusSeeOther {
		t.Fatalf("change to text: %d", r.StatusCode)
	}
	if r := change(app1.ID, "sms"); r.StatusCode != http.StatusUnprocessableEntity {
		t.Errorf("change to an unknown method: %d", r.StatusCode)
	}
	plain, _ = e.store.NHSmailAccountByEmail(t.Context(), "plain@nhs.net")
	app1, _ = e.store.NHSmailAccountByEmail(t.Context(), "app@nhs.net")
	if plain.MFAMethod != cqrs.MFAText || app1.MFAMethod != cqrs.MFAAuthenticator {
		t.Errorf("after the changes: %q and %q", plain.MFAMethod, app1.MFAMethod)
	}
	if r := e.orgAdmin.post(page+"/"+strconv.FormatUint(plain.ID, 10)+"/mfa", url.Values{"mfa_method": {"none"}, "csrf_token": {e.orgAdmin.csrf("/admin/users")}}); r.StatusCode < 400 {
		t.Errorf("a User Administrator changed the method: %d", r.StatusCode)
	}

	if err := e.store.Audit(t.Context(), cqrs.AuditEvent{Type: cqrs.AuditNHSmailMFAReported, Subject: "app@nhs.net"}); err != nil {
		t.Fatal(err)
	}
	doc = e.sys.get(page).doc(t)
	if got := doc.Find(`[data-testid="nhsmail-app@nhs.net"] [data-testid="nhsmail-reported"]`).Text(); !strings.Contains(got, "No, it's not me") {
		t.Errorf("the report is not shown on the account: %q", got)
	}
	if got := doc.Find(`[data-testid="nhsmail-plain@nhs.net"] [data-testid="nhsmail-mfa"]`).Text(); !strings.Contains(got, "Text message") {
		t.Errorf("the method shown: %q", got)
	}
}

// The training data has one NHSmail account per MFA method beside the
// job aid's original path, each matching an active CQRS account.
func TestTrainingDataHasAnNHSmailAccountPerMFAMethod(t *testing.T) {
	e := newTrainingEnv(t)
	accounts, err := e.store.NHSmailAccounts(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	by := map[string][]string{}
	for _, a := range accounts {
		by[a.MFAMethod] = append(by[a.MFAMethod], a.Email)
		if a.MFAMethod != cqrs.MFANone {
			u, err := e.store.UserByEmail(t.Context(), a.Email)
			if err != nil || u.Status != cqrs.StatusActive {
				t.Errorf("%s (%s) has no active CQRS account: %+v, %v", a.Email, a.MFAMethod, u, err)
			}
		}
	}
	for _, m := range []string{cqrs.MFANone, cqrs.MFAAuthenticator, cqrs.MFAText} {
		if len(by[m]) == 0 {
			t.Errorf("no training NHSmail account with MFA method %q: %v", m, by)
		}
	}
	if got := by[cqrs.MFANone]; len(got) == 0 || got[0] == "" {
		t.Errorf("the job aid's path (amy.active, no MFA) is gone: %v", by)
	}
}
