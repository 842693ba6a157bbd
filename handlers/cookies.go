package handlers

import (
	"strings"
	"sync"

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

// siteWideCookies are the cookies set for the whole site (Path=/): under
// TLS they carry __Host-, which the browser accepts only from this host's
// secure pages and never with a Domain, so one of them arriving as
// __Secure- was planted (by a sibling host's Domain cookie).
var siteWideCookies = [...]string{sessionCookie, csrfCookie, jobAidCookie}

// baseCookieName is the plain name of one of this instance's cookies, and
// false for anyone else's. Under TLS only the prefixed names are this
// instance's: a plain-HTTP page on another port of the host, or anyone
// injecting into an HTTP answer on the network, can set the unprefixed name
// and so plant their session or CSRF seed (cookie tossing). Without TLS the
// prefixed names cannot be ours. It takes the name as the request holds it
// (bytes) as well as a string, so checking a cookie copies nothing.
func baseCookieName[Name string | []byte](name Name, instance string, secure bool) (Name, bool) {
	prefix := ""
	for _, p := range [...]string{"__Host-", "__Secure-"} {
		if len(name) >= len(p) && string(name[:len(p)]) == p {
			prefix, name = p, name[len(p):]
			break
		}
	}
	if secure != (prefix != "") {
		return name[:0], false
	}
	cut := len(name) - len(instance) - 1
	if cut <= 0 || name[cut] != '-' || string(name[cut+1:]) != instance {
		return name[:0], false
	}
	if prefix == "__Secure-" {
		for _, base := range siteWideCookies {
			if string(name[:cut]) == base {
				return name[:0], false
			}
		}
	}
	return name[:cut], true
}

// cookieScratch holds one request's own cookies while the request's
// cookie list is cleared and refilled: their names and values packed in
// buf, each one's end in ends. Pooled, so renaming allocates nothing.
type cookieScratch struct {
	buf  []byte
	ends []int
}

var cookieScratches = sync.Pool{New: func() any { return new(cookieScratch) }}

// namespaceCookies renames cookies in (to their plain names, dropping
// other instances') and out (to this instance's names). It runs first
// after recover, so errors are rendered here, before the renaming.
func (a *app) namespaceCookies(c *fiber.Ctx) error {
	in := &c.Request().Header
	mine := cookieScratches.Get().(*cookieScratch)
	mine.buf, mine.ends = mine.buf[:0], mine.ends[:0]
	in.VisitAllCookie(func(k, v []byte) {
		if base, ok := baseCookieName(k, a.instance, a.cfg.Secure); ok {
			mine.buf = append(mine.buf, base...)
			mine.ends = append(mine.ends, len(mine.buf))
			mine.buf = append(mine.buf, v...)
			mine.ends = append(mine.ends, len(mine.buf))
		}
	})
	in.DelAllCookies()
	for i, start := 0, 0; i < len(mine.ends); i += 2 {
		nameEnd, valueEnd := mine.ends[i], mine.ends[i+1]
		in.SetCookieBytesKV(mine.buf[start:nameEnd], mine.buf[nameEnd:valueEnd])
		start = valueEnd
	}
	cookieScratches.Put(mine)

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
