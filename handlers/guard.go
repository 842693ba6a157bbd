package handlers

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"hash"
	"net"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/gofiber/fiber/v2"
)

// The guard every page relies on: security headers, the Host allowlist,
// cross-site request refusal and CSRF tokens, in one place.

const (
	localCSRF        = "csrf"
	csrfCookie       = "cqrs_csrf"
	csrfField        = "csrf_token"
	csrfHeader       = "X-CSRF-Token"
	contentSecurity  = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; font-src 'self'; connect-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'"
	assetCachePolicy = "public, max-age=3600"
)

// securityHeaders go on every answer, pages and assets alike.
func securityHeaders(c *fiber.Ctx) error {
	setSecurityHeaders(c)
	return c.Next()
}

// securityHeaderList is every answer's security headers, as the bytes
// fasthttp keeps (names already canonical), made once rather than
// converted and normalised on every request.
var securityHeaderList = [...][2][]byte{
	{[]byte("Content-Security-Policy"), []byte(contentSecurity)},
	{[]byte("X-Content-Type-Options"), []byte("nosniff")},
	{[]byte("Referrer-Policy"), []byte("same-origin")},
	{[]byte("X-Frame-Options"), []byte("DENY")},
	{[]byte("Cross-Origin-Opener-Policy"), []byte("same-origin")},
	{[]byte("Permissions-Policy"), []byte("camera=(), microphone=(), geolocation=()")},
}

var cacheControlHeader, noStore = []byte(fiber.HeaderCacheControl), []byte("no-store")

// setSecurityHeaders is securityHeaders for answers made outside the
// middleware chain too: the error handler calls it, since Fiber answers a
// too-large body (413) or header (431) before any middleware runs.
func setSecurityHeaders(c *fiber.Ctx) {
	h := &c.Response().Header
	for _, kv := range securityHeaderList {
		h.SetCanonical(kv[0], kv[1])
	}
	if !strings.HasPrefix(c.Path(), "/assets/") {
		setPageHeaders(c)
	}
}

// simulatorHeaders runs around the embedded NHSmail simulator, which sets
// its own security headers (its Content-Security-Policy allows its forms'
// answers to go to the applications' redirect URIs): the adaptor adds them
// beside the app's, so each name that arrives twice keeps the simulator's
// value only, and every answer carries one header of each kind.
func simulatorHeaders(c *fiber.Ctx) error {
	err := c.Next()
	h := &c.Response().Header
	for _, name := range [...]string{fiber.HeaderContentSecurityPolicy, fiber.HeaderXContentTypeOptions, fiber.HeaderReferrerPolicy,
		fiber.HeaderXFrameOptions, "Cross-Origin-Opener-Policy", fiber.HeaderPermissionsPolicy, fiber.HeaderCacheControl} {
		if values := h.PeekAll(name); len(values) > 1 {
			last := string(values[len(values)-1])
			h.Del(name) // Set alone would replace only the first
			h.Set(name, last)
		}
	}
	return err
}

// strictTransport is the Strict-Transport-Security header, where it
// belongs (see Config.HSTS).
func (a *app) strictTransport(c *fiber.Ctx) error {
	a.setStrictTransport(c)
	return c.Next()
}

// hstsValue is a year: browsers then go straight to HTTPS for the host.
var hstsHeader, hstsValue = []byte(fiber.HeaderStrictTransportSecurity), []byte("max-age=31536000")

func (a *app) setStrictTransport(c *fiber.Ctx) {
	if !a.cfg.HSTS {
		return
	}
	host := string(c.Request().Host())
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	host = strings.Trim(host, "[]")
	if host == "" || net.ParseIP(host) != nil || strings.EqualFold(host, "localhost") || strings.HasSuffix(strings.ToLower(host), ".localhost") {
		return
	}
	c.Response().Header.SetCanonical(hstsHeader, hstsValue)
}

// setPageHeaders keeps pages (which can show personal details and tokens)
// out of every cache.
func setPageHeaders(c *fiber.Ctx) {
	c.Response().Header.SetCanonical(cacheControlHeader, noStore)
}

// hostAllowed refuses any Host header the app does not serve, before
// routing: a DNS-rebinding page on another name cannot talk to us.
func (a *app) hostAllowed(c *fiber.Ctx) error {
	host := string(c.Request().Host())
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	host = strings.ToLower(strings.Trim(host, "[]"))
	if host == "" && healthPath(c.Path()) {
		return c.Next()
	}
	for _, allowed := range a.cfg.Hosts {
		if host == strings.ToLower(strings.Trim(allowed, "[]")) {
			return c.Next()
		}
	}
	return refuse(fiber.StatusForbidden, "This address is not served here",
		"This CQRS system does not answer to the host name in the address. Use the address printed when it started.")
}

// safeMethod reports methods that change nothing.
func safeMethod(m string) bool {
	return m == fiber.MethodGet || m == fiber.MethodHead || m == fiber.MethodOptions
}

// origin is this site's origin as the browser sees it.
func (a *app) origin(c *fiber.Ctx) string {
	if a.cfg.PublicOrigin != "" {
		return a.cfg.PublicOrigin
	}
	scheme := "http"
	if a.cfg.Secure {
		scheme = "https"
	}
	return scheme + "://" + string(c.Request().Host())
}

// crossSite refuses state-changing requests from other sites: the Fetch
// Metadata header when the browser sends it (other ports on localhost are
// "same-site" but are other people's apps), and an exact Origin match.
func (a *app) crossSite(c *fiber.Ctx) error {
	if safeMethod(c.Method()) {
		return c.Next()
	}
	switch c.Get("Sec-Fetch-Site") {
	case "cross-site", "same-site":
		return refuse(fiber.StatusForbidden, "This request came from another site", "Nothing was saved. Use the form on this site.")
	}
	if o := c.Get(fiber.HeaderOrigin); o != "" && o != a.origin(c) {
		return refuse(fiber.StatusForbidden, "This request came from another site", "Nothing was saved. Use the form on this site.")
	}
	return c.Next()
}

// validUTF8 refuses query strings and form values that are not valid UTF-8
// (after percent-decoding), so nothing malformed reaches the store.
func validUTF8(c *fiber.Ctx) error {
	valid := true
	check := func(k, v []byte) {
		if !utf8.Valid(k) || !utf8.Valid(v) {
			valid = false
		}
	}
	c.Request().URI().QueryArgs().VisitAll(check)
	if !safeMethod(c.Method()) {
		if strings.HasPrefix(string(c.Request().Header.ContentType()), fiber.MIMEApplicationForm) {
			c.Request().PostArgs().VisitAll(check)
		} else if !utf8.Valid(c.Body()) {
			valid = false
		}
	}
	if !valid {
		return refuse(fiber.StatusBadRequest, "The request could not be read",
			"It contained characters that are not valid text. Nothing was saved.")
	}
	return c.Next()
}

// csrf gives every browser a random cookie and every form a token derived
// from it (and the session, once signed in) with the app's secret key. A
// state-changing request must bring back a token that matches.
func (a *app) csrf(c *fiber.Ctx) error {
	// The seed is read where the request holds it, not copied: it is only
	// hashed.
	seed := c.Request().Header.Cookie(csrfCookie)
	fresh := false
	if len(seed) != 22 { // 16 random bytes, base64url without padding
		b := make([]byte, 16)
		rand.Read(b)
		value := base64.RawURLEncoding.EncodeToString(b)
		fresh = true
		c.Cookie(&fiber.Cookie{Name: csrfCookie, Value: value, Path: "/", HTTPOnly: true, Secure: a.cfg.Secure, SameSite: fiber.CookieSameSiteLaxMode, Expires: time.Now().Add(365 * 24 * time.Hour)})
		seed = []byte(value)
	}
	want := a.csrfToken(string(seed), sessionBinding(c))
	c.Locals(localCSRF, want)
	if safeMethod(c.Method()) {
		return c.Next()
	}
	// Signing out always works: a session ended elsewhere (a trainer
	// locked the learner, an administrator disabled them, it expired)
	// leaves the page's token bound to it. Without a session, signing out
	// only clears this browser's cookies, which no forged form gains from.
	if c.Path() == "/signout" && sessionBinding(c) == "" {
		return c.Next()
	}
	got := c.FormValue(csrfField)
	if got == "" {
		got = c.Get(csrfHeader)
	}
	if fresh || !hmac.Equal([]byte(got), []byte(want)) {
		return refuse(fiber.StatusForbidden, "Your form has expired",
			"For your security the form could not be accepted. Nothing was saved. Go back, reload the page and try again.")
	}
	return c.Next()
}

func (a *app) csrfToken(seed, binding string) string {
	m, _ := a.csrfMACs.Get().(*csrfMAC)
	if m == nil {
		m = &csrfMAC{mac: hmac.New(sha256.New, a.csrfKey)}
	}
	defer a.csrfMACs.Put(m)
	m.mac.Reset()
	m.msg = append(append(append(append(m.msg[:0], "csrf\x00"...), seed...), 0), binding...)
	m.mac.Write(m.msg)
	m.token = base64.RawURLEncoding.AppendEncode(m.token[:0], m.mac.Sum(m.sum[:0]))
	return string(m.token)
}

// csrfMAC is one HMAC of the CSRF key with room for its message, sum and
// token, kept in a pool and reused: every page computes a token, and a
// fresh HMAC is five allocations.
type csrfMAC struct {
	mac   hash.Hash
	msg   []byte
	sum   [sha256.Size]byte
	token []byte
}

// sessionBinding ties CSRF tokens to the signed-in session, so a token
// seen before sign-in is useless after it.
func sessionBinding(c *fiber.Ctx) string {
	s, _ := c.Locals(localSessionID).(string)
	return s
}
