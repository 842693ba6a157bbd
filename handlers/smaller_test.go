package handlers

import (
	"net/url"
	"strings"
	"testing"

	"github.com/PuerkitoBio/goquery"
)

// TestSmallerWording: the Users table names each column once; the error
// summary finishes the categories rule's sentence; every password form
// names whose password it sets (a hidden username for password managers).
func TestSmallerWording(t *testing.T) {
	e := newAdminEnv(t)
	t.Run("each column of the Users table is named once", func(t *testing.T) {
		seen := map[string]bool{}
		e.sys.get("/admin/users").doc(t).Find(`[data-testid="user-table"] thead th`).Each(func(_ int, th *goquery.Selection) {
			name := strings.TrimSpace(th.Text())
			if seen[name] {
				t.Errorf("two %q columns", name)
			}
			seen[name] = true
		})
		if len(seen) == 0 {
			t.Fatal("no Users table")
		}
	})
	t.Run("the error summary finishes the categories rule's sentence", func(t *testing.T) {
		r := e.user.post("/account/password", url.Values{"current_password": {"Harbour!2026x"}, "password": {"abcdefgh12"}, "confirm_password": {"abcdefgh12"},
			"csrf_token": {e.user.csrf("/account")}})
		wantStatus(t, r, 422)
		summary := r.doc(t).Find(".nhsuk-error-summary").Text()
		if !strings.Contains(summary, "Password must address three of the following four categories: uppercase characters (A...Z), lowercase characters (a...z), base 10 digits (0...9), non alphanumeric (!, ?, £ etc.).") {
			t.Errorf("error summary = %q", strings.Join(strings.Fields(summary), " "))
		}
	})
	t.Run("password forms name whose password they set", func(t *testing.T) {
		d := e.user.get("/account").doc(t)
		if got := d.Find(`[data-testid="security-form"] input[autocomplete="username"]`).AttrOr("value", ""); got != "sam.patel" {
			t.Errorf("My account's hidden username = %q, want sam.patel", got)
		}
	})
}
