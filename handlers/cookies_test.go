package handlers

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
)

// TestTwoInstancesOnOneComputerKeepTheirOwnSessions: one browser (one
// cookie jar, one host: cookies ignore the port) signed in to two
// instances stays signed in to both while using each in turn, and each
// one's forms keep working.
func TestTwoInstancesOnOneComputerKeepTheirOwnSessions(t *testing.T) {
	first, second := newEnv(t), newEnv(t)
	first.registeredAdmin()
	second.registeredAdmin()

	browser := first.client()
	onSecond := second.client()
	onSecond.jar = browser.jar // the same browser, another port

	wantStatus(t, browser.signIn("admin.jones", strongPassword, ""), http.StatusSeeOther)
	wantStatus(t, onSecond.signIn("admin.jones", strongPassword, ""), http.StatusSeeOther)
	for round := range 3 {
		for name, c := range map[string]*client{"first": browser, "second": onSecond} {
			r := c.get("/messages")
			if r.StatusCode != http.StatusOK {
				t.Fatalf("round %d: the %s instance answered /messages with %d (%s): signed out by the other",
					round, name, r.StatusCode, r.Header.Get("Location"))
			}
			form := url.Values{"password": {"x"}, "csrf_token": {c.csrf("/account")}}
			if r := c.post("/account/password/check", form); r.StatusCode != http.StatusOK {
				t.Fatalf("round %d: the %s instance refused its own form: %d", round, name, r.StatusCode)
			}
		}
	}
	if a, b := first.cookieName(sessionCookie), second.cookieName(sessionCookie); a == b {
		t.Errorf("both instances name their session cookie %q", a)
	}
}

// TestCookieNamesCarryTheInstanceAndHostPrefixUnderTLS: under TLS the
// site-wide cookies are __Host- cookies (Secure, Path=/), path-scoped ones
// __Secure-; every name carries the instance id.
func TestCookieNamesCarryTheInstanceAndHostPrefixUnderTLS(t *testing.T) {
	e := newEnv(t, func(c *Config) { c.Secure = true })
	id, _ := e.store.InstanceID()
	r := e.client().get("/login")
	var names []string
	for _, ck := range r.Cookies() {
		names = append(names, ck.Name)
		if ck.Name == "__Host-cqrs_csrf-"+id && (!ck.Secure || ck.Path != "/" || ck.Domain != "") {
			t.Errorf("%s: Secure %v, Path %q, Domain %q; __Host- needs Secure, Path=/ and no Domain", ck.Name, ck.Secure, ck.Path, ck.Domain)
		}
	}
	if !strings.Contains(strings.Join(names, " "), "__Host-cqrs_csrf-"+id) {
		t.Errorf("cookies set by /login under TLS: %v, want __Host-cqrs_csrf-%s", names, id)
	}

	for _, tc := range []struct {
		name, want string
		ok         bool
	}{
		{"cqrs_session-" + id, "cqrs_session", true},
		{"__Host-cqrs_session-" + id, "cqrs_session", true},
		{"__Secure-cqrs_link-" + id, "cqrs_link", true},
		{"cqrs_session-0000000000", "", false}, // another instance's
		{"cqrs_session", "", false},            // no instance at all
		{"-" + id, "", false},
	} {
		got, ok := baseCookieName(tc.name, id)
		if ok != tc.ok || (ok && got != tc.want) {
			t.Errorf("baseCookieName(%q) = %q, %v; want %q, %v", tc.name, got, ok, tc.want, tc.ok)
		}
	}
}
