package handlers

import (
	"errors"
	"fmt"
	"net/url"
	"testing"

	"github.com/cqrs-local/cqrs-signin/cqrs"
)

// brokenAuditLog fails every audit write made on its own, as a full disk or
// a failing database would.
type brokenAuditLog struct{ AuditStore }

func (brokenAuditLog) Audit(cqrs.AuditEvent) error { return errors.New("audit log unavailable") }

// A change and the security event that records it are one transaction: an
// acknowledged change always has its entry, whatever happens to separate
// audit writes.
func TestSecurityEventsAreWrittenWithTheirChange(t *testing.T) {
	e := newAdminEnv(t)
	stores := storesOf(e.store)
	stores.AuditLog = brokenAuditLog{e.store}
	app, err := New(nilLogger(), e.cfgForRebuild(), Deps{Stores: stores, Hasher: e.hasher})
	if err != nil {
		t.Fatal(err)
	}
	e.app = app
	sam, _ := e.store.UserByUserID("sam.patel")
	path := fmt.Sprintf("/admin/users/%d", sam.ID)
	wantStatus(t, e.orgAdmin.post(path+"/disable", url.Values{"csrf_token": {e.orgAdmin.csrf(path)}}), 303)
	wantStatus(t, e.orgAdmin.post(path+"/unlock", url.Values{"csrf_token": {e.orgAdmin.csrf(path)}}), 303)
	wantStatus(t, e.orgAdmin.post("/signout", url.Values{"csrf_token": {e.orgAdmin.csrf("/messages")}}), 303)

	for _, want := range []struct{ typ, subject string }{
		{evUserDisabled, "sam.patel"}, {evUnlock, "sam.patel"}, {evSignOut, "org.admin"},
	} {
		events, n, err := e.store.AuditEvents(cqrs.AuditFilter{Type: want.typ, Subject: want.subject})
		if err != nil {
			t.Fatal(err)
		}
		if n != 1 {
			t.Errorf("%s entries for %s = %d, want 1 (written with the change)", want.typ, want.subject, n)
			continue
		}
		if got := events[0]; got.IP == "" || (want.typ != evSignOut && got.Actor != "org.admin") {
			t.Errorf("%s entry = %+v, want the actor and address", want.typ, got)
		}
	}
}
