package handlers

import (
	"net/url"
	"testing"

	"github.com/valyala/fasthttp"
)

// BenchmarkMessageCentrePage serves the signed-in message centre through
// the app's handler directly (no network), to profile the page's own cost.
func BenchmarkMessageCentrePage(b *testing.B) {
	e := newEnv(b)
	e.registeredAdmin()
	c := e.client()
	if r := c.signIn("admin.jones", strongPassword, ""); r.StatusCode != 303 {
		b.Fatalf("sign-in: %d", r.StatusCode)
	}
	h := e.app.Handler()
	// The jar is read once: its lookup is the test client's work, not the page's.
	cookies := c.jar.Cookies(&url.URL{Scheme: "http", Host: testHost, Path: "/messages"})
	var ctx fasthttp.RequestCtx
	b.ReportAllocs()
	for b.Loop() {
		ctx.Request.Reset()
		ctx.Response.Reset()
		ctx.Request.SetRequestURI("/messages")
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
