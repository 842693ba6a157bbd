package handlers

import (
	"strings"

	"github.com/gofiber/fiber/v2"
)

// Browsers do not tell cookies apart by port, so two instances on one
// computer (a trainer's --training beside a real site, both on 127.0.0.1) would
// overwrite each other's session and CSRF cookies and sign each other out.
// Every cookie this app and its NHSmail simulator set is therefore renamed,
// on the way out, to carry this instance's id from the database, and only
// this instance's cookies are let in, under their plain names: handlers
// keep using "cqrs_session" and never see another instance's cookies.

// instanceCookieName is the name the browser keeps the cookie base under.
// Under TLS a cookie for the whole site gets the __Host- prefix (the
// browser then refuses it from other hosts and insecure pages), a cookie
// for one path __Secure- (which __Host- does not allow).
func instanceCookieName(base, instance string, secure bool, path string) string {
	name := base + "-" + instance
	switch {
	case secure && path == "/":
		return "__Host-" + name
	case secure:
		return "__Secure-" + name
	}
	return name
}

// baseCookieName is the plain name of one of this instance's cookies, and
// false for anyone else's.
func baseCookieName(name, instance string) (string, bool) {
	name = strings.TrimPrefix(strings.TrimPrefix(name, "__Host-"), "__Secure-")
	base, ok := strings.CutSuffix(name, "-"+instance)
	return base, ok && base != ""
}

// namespaceCookies renames cookies in (to their plain names, dropping
// other instances') and out (to this instance's names). It runs first
// after recover, so errors are rendered here, before the renaming.
func (a *app) namespaceCookies(c *fiber.Ctx) error {
	in := &c.Request().Header
	var mine [][2]string
	in.VisitAllCookie(func(k, v []byte) {
		if base, ok := baseCookieName(string(k), a.instance); ok {
			mine = append(mine, [2]string{base, string(v)})
		}
	})
	in.DelAllCookies()
	for _, kv := range mine {
		in.SetCookie(kv[0], kv[1])
	}

	if err := c.Next(); err != nil {
		if err := c.App().ErrorHandler(c, err); err != nil {
			return err
		}
	}

	out := &c.Response().Header
	var lines []string
	out.VisitAllCookie(func(k, v []byte) {
		line := string(v) // the whole Set-Cookie value: name=value; attributes
		rest, _ := strings.CutPrefix(line, string(k))
		secure, path := false, "/"
		for _, attr := range strings.Split(rest, ";")[1:] {
			key, val, _ := strings.Cut(strings.TrimSpace(attr), "=")
			switch strings.ToLower(key) {
			case "secure":
				secure = true
			case "path":
				path = val
			}
		}
		lines = append(lines, instanceCookieName(string(k), a.instance, secure, path)+rest)
	})
	out.DelAllCookies()
	for _, line := range lines {
		out.Add(fiber.HeaderSetCookie, line)
	}
	return nil
}
