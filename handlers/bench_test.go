package handlers

import (
	"net/url"
	"testing"

	"github.com/cqrs-local/cqrs-signin/secret"
)

// BenchmarkLegacySignIn is one whole legacy sign-in through the app, with
// the real argon2id parameters: the figure is bound by the hash.
func BenchmarkLegacySignIn(b *testing.B) {
	e := newEnv(b)
	e.hasher = secret.NewHasher(secret.OWASP, 0, 0)
	app, err := New(nilLogger(), e.cfgForRebuild(), e.deps(Deps{Hasher: e.hasher}))
	if err != nil {
		b.Fatal(err)
	}
	e.app = app
	e.registeredAdmin() // its password hashed with the real parameters
	b.ReportAllocs()
	b.ResetTimer()
	seed := "AAAAAAAAAAAAAAAAAAAAAA"
	form := url.Values{"user_id": {"admin.jones"}, "password": {strongPassword}, "csrf_token": {e.csrfFor(seed)}}
	for b.Loop() {
		c := e.client()
		c.setCookie(csrfCookie, seed)
		if r := c.post("/login", form); r.StatusCode != 303 {
			b.Fatalf("status %d", r.StatusCode)
		}
	}
}

// BenchmarkLoginPage serves the CQRS Login page through the app's handler
// directly (no network), with the CSRF cookie a returning browser holds,
// to profile the page's own cost (no hashing).
func BenchmarkLoginPage(b *testing.B) {
	e := newEnv(b)
	c := e.client()
	if r := c.get("/login"); r.StatusCode != 200 {
		b.Fatalf("status %d", r.StatusCode)
	}
	newDirectPage(e, c, "/login").benchmark(b)
}
