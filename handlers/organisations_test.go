package handlers

import (
	"fmt"
	"net/url"
	"testing"
)

func TestOrganisations(t *testing.T) {
	e := newAdminEnv(t)
	form := func(name, ods string) url.Values {
		return url.Values{"org_name": {name}, "ods_code": {ods}, "csrf_token": {e.sys.csrf("/admin/organisations")}}
	}
	wantStatus(t, e.sys.post("/admin/organisations", form("Valley Health Centre", "c84001")), 303)
	wantText(t, e.sys.get("/admin/organisations"), "Valley Health Centre", "C84001")
	runScenarios(t, e.testEnv, e.roles(), []scenario{
		{Name: "an ODS code in use", Method: "POST", URL: "/admin/organisations", Role: roleSysAdmin, CSRFFrom: "/admin/organisations",
			Form:           url.Values{"org_name": {"Dup"}, "ods_code": {"C84001"}},
			ExpectedStatus: 422, ExpectedContent: []string{"already exists"}, Unchanged: true},
		{Name: "fields invalid", Method: "POST", URL: "/admin/organisations", Role: roleSysAdmin, CSRFFrom: "/admin/organisations",
			Form:           url.Values{"org_name": {""}, "ods_code": {"x"}},
			ExpectedStatus: 422, ExpectedContent: []string{"Enter the organisation name.", "ODS code must be"}, Unchanged: true},
		{Name: "an organisation that does not exist", Method: "POST", URL: "/admin/organisations/999999", Role: roleSysAdmin, CSRFFrom: "/admin/organisations",
			Form:           url.Values{"org_name": {"Nowhere"}, "ods_code": {"Z99999"}},
			ExpectedStatus: 404, ExpectedContent: []string{"Page not found"}, Unchanged: true},
	})
	path := fmt.Sprintf("/admin/organisations/%d", e.other.ID)
	wantStatus(t, e.sys.post(path, url.Values{"org_name": {"Hillside Medical"}, "ods_code": {"B82001"}, "csrf_token": {e.sys.csrf(path)}}), 303)
	if o, _ := e.store.Organisation(t.Context(), e.other.ID); o.Name != "Hillside Medical" {
		t.Fatalf("organisation = %+v", o)
	}
}
