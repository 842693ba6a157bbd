package handlers

import (
	"bytes"
	"path"
	"strings"

	"github.com/gofiber/fiber/v2"
	"github.com/gofiber/fiber/v2/utils"

	"github.com/cqrs-local/cqrs-signin/assets"
)

// immutableCachePolicy is for an asset asked for by its content-hashed
// name: that name never holds other bytes, so a browser keeps it a year
// without asking again.
const immutableCachePolicy = "public, max-age=31536000, immutable"

// serveAsset answers an embedded asset (the path already normalised by
// assetPath): by its hashed name, cached for a year; by its plain name,
// cached for an hour with its hash as a validator. The body is the
// build's brotli or gzip copy when the browser accepts one, with Vary
// saying so. Text types name their charset: app.css puts non-ASCII
// characters in `content:`, and a browser guessing another encoding showed
// the policy's ticks as mojibake.
func serveAsset(c *fiber.Ctx) error {
	if c.Method() != fiber.MethodGet && c.Method() != fiber.MethodHead {
		return c.Next()
	}
	a, hashed := assets.Lookup(strings.TrimPrefix(c.Path(), "/assets/"))
	if a == nil {
		return fiber.ErrNotFound
	}
	h := &c.Response().Header
	if hashed {
		h.Set(fiber.HeaderCacheControl, immutableCachePolicy)
	} else {
		h.Set(fiber.HeaderCacheControl, assetCachePolicy)
	}
	if a.HasBrotli || a.HasGzip {
		h.Add(fiber.HeaderVary, fiber.HeaderAcceptEncoding)
	}
	etag := `W/"` + a.Hash + `"`
	h.Set(fiber.HeaderETag, etag)
	if inm := c.Get(fiber.HeaderIfNoneMatch); inm != "" && etagListHas(inm, etag) {
		return c.SendStatus(fiber.StatusNotModified)
	}
	ct := utils.GetMIME(path.Ext(a.Name))
	if strings.HasPrefix(ct, "text/") || strings.HasPrefix(ct, fiber.MIMEApplicationJavaScript) ||
		strings.HasPrefix(ct, "image/svg+xml") || strings.HasPrefix(ct, fiber.MIMEApplicationJSON) {
		ct += "; charset=utf-8"
	}
	h.SetContentType(ct)
	body, encoding := a.Body(preferredEncoding(c.Request().Header.Peek(fiber.HeaderAcceptEncoding)))
	if encoding != assets.Identity {
		h.Set(fiber.HeaderContentEncoding, encoding)
	}
	c.Status(fiber.StatusOK)
	c.Response().SetBodyRaw(body)
	return nil
}

// etagListHas reports whether an If-None-Match list holds etag (weakly
// compared: the W/ prefix is ignored) or is "*".
func etagListHas(list, etag string) bool {
	want := strings.TrimPrefix(etag, "W/")
	for tag := range strings.SplitSeq(list, ",") {
		tag = strings.TrimSpace(tag)
		if tag == "*" || strings.TrimPrefix(tag, "W/") == want {
			return true
		}
	}
	return false
}

// preferredEncoding picks brotli, then gzip, from an Accept-Encoding
// header; a coding with q=0 is refused, "*" accepts any.
func preferredEncoding(header []byte) string {
	br, gz := false, false
	for len(header) > 0 {
		var item []byte
		item, header, _ = bytes.Cut(header, []byte{','})
		coding, params, _ := bytes.Cut(item, []byte{';'})
		coding = bytes.ToLower(bytes.TrimSpace(coding))
		if refused(params) {
			continue
		}
		switch string(coding) {
		case "br":
			br = true
		case "gzip", "x-gzip":
			gz = true
		case "*":
			br, gz = true, true
		}
	}
	switch {
	case br:
		return assets.Brotli
	case gz:
		return assets.Gzip
	}
	return assets.Identity
}

// refused is true for parameters carrying q=0 (or 0.0, 0.00, 0.000).
func refused(params []byte) bool {
	for len(params) > 0 {
		var p []byte
		p, params, _ = bytes.Cut(params, []byte{';'})
		k, v, ok := bytes.Cut(bytes.TrimSpace(p), []byte{'='})
		if ok && string(bytes.ToLower(bytes.TrimSpace(k))) == "q" {
			v = bytes.TrimSpace(v)
			return len(v) > 0 && v[0] == '0' && len(bytes.Trim(v[1:], ".0")) == 0
		}
	}
	return false
}

// uncompressedPage skips compressing an answer: an asset (its compressed
// copy is made at build time) or any answer over HTTPS. Every page carries
// a CSRF token tied to the browser's cookie and session, and some pages
// repeat what the address asked (the Login page's next=); compressed under
// TLS, their length would let a network attacker who can make the browser
// ask for chosen addresses guess the token a character at a time (BREACH).
// Plain HTTP hides nothing from that attacker anyway, so there, on
// localhost and the classroom's network, pages of 200 bytes or more
// (fasthttp's threshold) go compressed.
func uncompressedPage(c *fiber.Ctx) bool {
	return strings.HasPrefix(c.Path(), "/assets/") || c.Secure()
}
