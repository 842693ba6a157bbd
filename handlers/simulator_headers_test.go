package handlers

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
)

// TestSimulatorAnswersCarryEachHeaderOnce: the embedded NHSmail simulator
// sets its own security headers; through the app each answer still has one
// header of each kind, the simulator's where both set it.
func TestSimulatorAnswersCarryEachHeaderOnce(t *testing.T) {
	e := newAccessEnv(t)
	c := e.client()
	for _, path := range []string{"/nhsmail/.well-known/openid-configuration", "/nhsmail/jwks", "/nhsmail/authorize?client_id=cqrs",
		"/nhsmail/no-such-page", "/nhsmail/userinfo"} {
		r := c.get(path)
		for _, name := range []string{"Content-Security-Policy", "X-Content-Type-Options", "Referrer-Policy", "X-Frame-Options",
			"Cross-Origin-Opener-Policy", "Permissions-Policy", "Cache-Control"} {
			if got := r.Header.Values(name); len(got) != 1 {
				t.Errorf("GET %s (%d): %d %s headers %q, want one", path, r.StatusCode, len(got), name, got)
			}
		}
		if csp := r.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "form-action") {
			t.Errorf("GET %s: the CSP %q is not the simulator's", path, csp)
		}
	}
	if got := c.get("/nhsmail/jwks").Header.Get("Cache-Control"); got != "public, max-age=300" {
		t.Errorf("the JWKS's Cache-Control is %q, want the simulator's", got)
	}
}

// TestRedirectURIHostsMustBeHostNames: a redirect URI whose host is not a
// host name or an IP address (";" would add a directive to the
// simulator's Content-Security-Policy) is refused and registers nothing.
func TestRedirectURIHostsMustBeHostNames(t *testing.T) {
	e := newSimulatorAdminEnv(t)
	const page = "/admin/nhsmail/applications"
	for _, bad := range []string{"https://evil.example;sandbox/cb", "https://evil.example;script-src%20*/cb", "https://evil.example,x/cb",
		"https://evil_example.org/cb", "https://-evil.example/cb", "https://evil..example/cb", "https://evil.example:0/cb",
		"https://evil.example:99999/cb", "https://evil.example:/cb", "https://'self'/cb", "https://*.example/cb", "https://evil.example%3Bsandbox/cb"} {
		form := url.Values{"name": {"Rota"}, "redirect_uris": {bad}, "type": {"public"}, "csrf_token": {e.sys.csrf(page)}}
		r := e.sys.post(page, form)
		if r.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(r.body, "redirect URI") {
			t.Errorf("%q: %d, want 422 naming the redirect URI", bad, r.StatusCode)
		}
		if apps, _ := e.store.NHSmailApplications(t.Context()); len(apps) != 0 {
			t.Fatalf("%q registered an application", bad)
		}
	}
	for _, good := range []string{"https://rota.example.org:8443/cb", "https://[2001:db8::1]/cb", "http://[::1]:53682/cb", "https://10.0.0.5/cb"} {
		form := url.Values{"name": {"Rota"}, "redirect_uris": {good}, "type": {"public"}, "csrf_token": {e.sys.csrf(page)}}
		if r := e.sys.post(page, form); r.StatusCode >= 400 {
			t.Errorf("%q refused: %d", good, r.StatusCode)
		}
	}
}

// TestStrictTransportSecurityOnASitesHostName: with a site's own
// certificate (HSTS) the answers to its host name carry
// Strict-Transport-Security; to an IP address or localhost, or with the
// self-made certificate, they do not.
func TestStrictTransportSecurityOnASitesHostName(t *testing.T) {
	hsts := func(e *testEnv, h string) string {
		return e.client().get("/login", host(h)).Header.Get("Strict-Transport-Security")
	}
	site := newEnv(t, func(c *Config) {
		c.Secure, c.HSTS = true, true
		c.Hosts = append(c.Hosts, "cqrs.example.org", "10.0.0.5")
	})
	site.registeredAdmin()
	if got := hsts(site, "cqrs.example.org"); got != "max-age=31536000" {
		t.Errorf("a host name under --tls-cert: Strict-Transport-Security %q", got)
	}
	if got := site.client().get("/no-such-page", host("cqrs.example.org:8443")).Header.Get("Strict-Transport-Security"); got == "" {
		t.Error("an error page for the host name has no Strict-Transport-Security")
	}
	for _, h := range []string{"10.0.0.5", "127.0.0.1:8420", "localhost:8420", "[::1]:8420"} {
		if got := hsts(site, h); got != "" {
			t.Errorf("%s: Strict-Transport-Security %q, want none on an address or localhost", h, got)
		}
	}
	selfMade := newEnv(t, func(c *Config) { c.Secure = true; c.Hosts = append(c.Hosts, "cqrs.example.org") })
	if got := hsts(selfMade, "cqrs.example.org"); got != "" {
		t.Errorf("with the self-made certificate: Strict-Transport-Security %q", got)
	}
}
