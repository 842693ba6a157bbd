package handlers

import (
	"io"
	"net/http"
	"net/http/httptest"
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
	id, _ := e.store.InstanceID(t.Context())
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
		secure, ok bool
	}{
		{"cqrs_session-" + id, "cqrs_session", false, true},
		{"cqrs_session-" + id, "", true, false}, // planted over plain HTTP
		{"__Host-cqrs_session-" + id, "cqrs_session", true, true},
		{"__Host-cqrs_session-" + id, "", false, false},
		{"__Secure-cqrs_session-" + id, "", true, false}, // a site-wide cookie is always __Host-
		{"__Secure-cqrs_csrf-" + id, "", true, false},
		{"__Secure-cqrs_link-" + id, "cqrs_link", true, true},
		{"__Host-cqrs_session-0000000000", "", true, false}, // another instance's
		{"cqrs_session", "", false, false},                  // no instance at all
		{"-" + id, "", false, false},
	} {
		got, ok := baseCookieName(tc.name, id, tc.secure)
		if ok != tc.ok || (ok && got != tc.want) {
			t.Errorf("baseCookieName(%q, TLS %v) = %q, %v; want %q, %v", tc.name, tc.secure, got, ok, tc.want, tc.ok)
		}
	}
}

// TestPlantedUnprefixedCookiesAreIgnoredUnderTLS: under TLS a cookie
// without the __Host- prefix can have been set by anyone who can answer
// for the host name over plain HTTP (another port, the classroom network),
// so it is never read: not a planted session beside the real one, in
// either order, nor alone, nor a planted CSRF seed.
func TestPlantedUnprefixedCookiesAreIgnoredUnderTLS(t *testing.T) {
	e := newEnv(t, func(c *Config) { c.Secure = true; c.SignInRateLimit = 0 })
	admin := e.registeredAdmin()
	e.addUser(admin.OrgID, "mallory", strongPassword)
	victim, attacker := e.client(), e.client()
	wantStatus(t, victim.signIn("admin.jones", strongPassword, ""), http.StatusSeeOther)
	wantStatus(t, attacker.signIn("mallory", strongPassword, ""), http.StatusSeeOther)
	real, planted := victim.cookie(sessionCookie), attacker.cookie(sessionCookie)
	if real == "" || planted == "" {
		t.Fatalf("no session cookies under TLS (victim %q, attacker %q)", real, planted)
	}
	id, _ := e.store.InstanceID(t.Context())
	hostName, plainName := instanceCookieName(sessionCookie, id, true, "/"), instanceCookieName(sessionCookie, id, false, "/")

	signedInAs := func(cookies string) string {
		req := httptest.NewRequest(http.MethodGet, "/messages", nil)
		req.Host = testHost
		req.Header.Set("Cookie", cookies)
		resp, err := e.app.Test(req, -1)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return "signed out"
		}
		return response{Response: resp, body: string(b)}.doc(t).Find(`[data-testid="signed-in-as"]`).Text()
	}
	for _, tc := range []struct{ name, cookies, want string }{
		{"planted first", plainName + "=" + planted + "; " + hostName + "=" + real, "admin.jones"},
		{"planted last", hostName + "=" + real + "; " + plainName + "=" + planted, "admin.jones"},
		{"planted alone", plainName + "=" + planted, "signed out"},
		{"planted as __Secure-", "__Secure-" + plainName + "=" + planted, "signed out"},
	} {
		if got := signedInAs(tc.cookies); !strings.Contains(got, tc.want) {
			t.Errorf("%s: the browser is signed in as %q, want %q", tc.name, got, tc.want)
		}
	}

	// The CSRF seed: a visitor's real seed beside one the attacker chose,
	// and a form carrying the attacker's token: refused, in either order.
	visitor := e.client()
	visitor.get("/login")
	seed := visitor.cookie(csrfCookie)
	const chosen = "AAAAAAAAAAAAAAAAAAAAAA"
	csrfHost, csrfPlain := instanceCookieName(csrfCookie, id, true, "/"), instanceCookieName(csrfCookie, id, false, "/")
	for _, cookies := range []string{
		csrfPlain + "=" + chosen + "; " + csrfHost + "=" + seed,
		csrfHost + "=" + seed + "; " + csrfPlain + "=" + chosen,
	} {
		form := url.Values{"user_id": {"admin.jones"}, "password": {"wrong"}, csrfField: {e.csrfFor(chosen)}}
		req := httptest.NewRequest(http.MethodPost, "/login", strings.NewReader(form.Encode()))
		req.Host = testHost
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("Cookie", cookies)
		resp, err := e.app.Test(req, -1)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusForbidden {
			t.Errorf("a form with the planted CSRF seed's token (cookies %q) = %d, want 403", cookies, resp.StatusCode)
		}
	}
}
