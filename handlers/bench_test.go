package handlers

import (
	"net/url"
	"testing"

	"github.com/valyala/fasthttp"

	"github.com/cqrs-local/cqrs-signin/secret"
)

// BenchmarkLegacySignIn is one whole legacy sign-in through the app, with
// the real argon2id parameters: the figure is bound by the hash.
func BenchmarkLegacySignIn(b *testing.B) {
	e := newEnv(b)
	e.hasher = secret.NewHasher(secret.OWASP, 0, 0)
	app, err := New(nilLogger(), e.cfgForRebuild(), Deps{Stores: storesOf(e.store), Backup: e.store, Training: e.store, Hasher: e.hasher})
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
	h := e.app.Handler()
	// The jar is read once: its lookup is the test client's work, not the page's.
	cookies := c.jar.Cookies(&url.URL{Scheme: "http", Host: testHost, Path: "/login"})
	var ctx fasthttp.RequestCtx
	b.ReportAllocs()
	for b.Loop() {
		ctx.Request.Reset()
		ctx.Response.Reset()
		ctx.Request.SetRequestURI("/login")
		ctx.Request.Header.SetHost(testHost)
		for _, ck := range cookies {
			ctx.Request.Header.SetCookie(ck.Name, ck.Value)
		}
		h(&ctx)
		if ctx.Response.StatusCode() != 200 {
			b.Fatalf("status %d", ctx.Response.StatusCode())
		}
	}
	b.ReportMetric(float64(len(ctx.Response.Body())), "bytes/page")
}
