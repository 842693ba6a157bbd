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
	r := e.sys.post("/admin/organisations", form("Dup", "C84001"))
	wantStatus(t, r, 422)
	wantText(t, r, "already exists")
	r = e.sys.post("/admin/organisations", form("", "x"))
	wantStatus(t, r, 422)
	wantText(t, r, "Enter the organisation name.", "ODS code must be")
	path := fmt.Sprintf("/admin/organisations/%d", e.other.ID)
	wantStatus(t, e.sys.post(path, url.Values{"org_name": {"Hillside Medical"}, "ods_code": {"B82001"}, "csrf_token": {e.sys.csrf(path)}}), 303)
	if o, _ := e.store.Organisation(e.other.ID); o.Name != "Hillside Medical" {
		t.Fatalf("organisation = %+v", o)
	}
}
