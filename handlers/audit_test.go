package handlers

import (
	"bytes"
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/PuerkitoBio/goquery"

	"github.com/cqrs-local/cqrs-signin/cqrs"
)

// brokenAuditLog fails every audit write made on its own, as a full disk or
// a failing database would.
type brokenAuditLog struct{ AuditStore }

func (brokenAuditLog) Audit(context.Context, cqrs.AuditEvent) error {
	return errors.New("audit log unavailable")
}

// A change and the security event that records it are one transaction: an
// acknowledged change always has its entry, whatever happens to separate
// audit writes.
func TestSecurityEventsAreWrittenWithTheirChange(t *testing.T) {
	e := newAdminEnv(t)
	stores := storesOf(e.store)
	stores.AuditLog = brokenAuditLog{e.store}
	app, err := New(nilLogger(), e.cfgForRebuild(), Deps{Instance: e.instance(), Stores: stores, Hasher: e.hasher})
	if err != nil {
		t.Fatal(err)
	}
	e.app = app
	sam, _ := e.store.UserByUserID(t.Context(), "sam.patel")
	path := fmt.Sprintf("/admin/users/%d", sam.ID)
	wantStatus(t, e.orgAdmin.post(path+"/disable", url.Values{"csrf_token": {e.orgAdmin.csrf(path)}}), 303)
	wantStatus(t, e.orgAdmin.post(path+"/unlock", url.Values{"csrf_token": {e.orgAdmin.csrf(path)}}), 303)
	wantStatus(t, e.orgAdmin.post("/signout", url.Values{"csrf_token": {e.orgAdmin.csrf("/messages")}}), 303)

	for _, want := range []struct{ typ, subject string }{
		{evUserDisabled, "sam.patel"}, {evUnlock, "sam.patel"}, {evSignOut, "org.admin"},
	} {
		events, n, err := e.store.AuditEvents(t.Context(), cqrs.AuditFilter{Type: want.typ, Subject: want.subject})
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

func TestAuditLog(t *testing.T) {
	e := newAdminEnv(t)
	sam, _ := e.store.UserByUserID(t.Context(), "sam.patel")
	for i := 0; i < 5; i++ {
		e.client().signIn("sam.patel", "wrong-password", "")
	}
	e.client().signIn("=HYPERLINK(\"evil\")", "x", "")
	wantStatus(t, e.orgAdmin.post(fmt.Sprintf("/admin/users/%d/unlock", sam.ID), url.Values{"csrf_token": {e.orgAdmin.csrf("/admin/users")}}), 303)

	events, _, _ := e.store.AuditEvents(t.Context(), cqrs.AuditFilter{})
	count := map[string]int{}
	for _, ev := range events {
		count[ev.Type]++
	}
	for typ, want := range map[string]int{evSignInFailed: 6, "lockout": 1, evUnlock: 1, evSetupUsed: 1, evPasswordSet: 1} {
		if count[typ] != want {
			t.Errorf("%s events = %d, want %d", typ, count[typ], want)
		}
	}
	raw := e.dbBytes()
	for _, secretText := range []string{"wrong-password", "Harbour!2026x", strongPassword} {
		if bytes.Contains(raw, []byte(secretText)) {
			t.Errorf("the database contains %q", secretText)
		}
	}

	t.Run("the page filters and is scoped to the organisation", func(t *testing.T) {
		r := e.orgAdmin.get("/admin/audit?type=lockout")
		wantStatus(t, r, 200)
		wantText(t, r, "1 events.", "sam.patel")
		other := e.otherAdmin.get("/admin/audit?user=sam.patel")
		wantText(t, other, "0 events.")
		wantStatus(t, e.user.get("/admin/audit"), 403)
	})
	t.Run("the filter offers every type a site writes, training mode's aside", func(t *testing.T) {
		var offered []string
		e.sys.get("/admin/audit").doc(t).Find(`select#type option`).Each(func(_ int, o *goquery.Selection) {
			if v, _ := o.Attr("value"); v != "" {
				offered = append(offered, v)
			}
		})
		var want []string
		for _, typ := range cqrs.AuditTypes {
			if !cqrs.TrainingAudit(typ) {
				want = append(want, typ)
			}
		}
		if !slices.Equal(offered, want) {
			t.Errorf("the audit filter offers %v, want %v", offered, want)
		}
		r := e.sys.get("/admin/audit?type=" + evHelpDeskChanged)
		if got, _ := r.doc(t).Find(`select#type option[selected]`).Attr("value"); got != evHelpDeskChanged {
			t.Errorf("filtered by %s, the filter shows %q selected", evHelpDeskChanged, got)
		}
	})
	t.Run("CSV escapes formula cells", func(t *testing.T) {
		r := e.sys.get("/admin/audit.csv?type=" + evSignInFailed)
		wantStatus(t, r, 200)
		if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/csv") {
			t.Fatalf("Content-Type = %q", ct)
		}
		rows, err := csv.NewReader(strings.NewReader(r.body)).ReadAll()
		if err != nil {
			t.Fatal(err)
		}
		found := false
		for _, row := range rows {
			if strings.Contains(row[3], "HYPERLINK") {
				found = true
				if !strings.HasPrefix(row[3], "'=") {
					t.Errorf("formula cell not escaped: %q", row[3])
				}
			}
		}
		if !found {
			t.Error("the attempt with a formula User ID is not in the CSV")
		}
	})
}
