package handlers

import (
	"encoding/base64"
	"encoding/json"
	"time"

	"github.com/gofiber/fiber/v2"
)

// A POST that changes something answers with a redirect (POST-redirect-
// GET), so reloading the page it leads to sends nothing again. What the
// result page must show once (a count, a new client's secret) rides to it
// in a flash: a short-lived cookie scoped to that page, read and cleared
// by its GET. It holds only what the page shows this same browser.

const (
	flashCookie = "cqrs_flash"
	flashTTL    = 5 * time.Minute
)

// setFlash keeps v for the next GET of path.
func (a *app) setFlash(c *fiber.Ctx, path string, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	c.Cookie(&fiber.Cookie{Name: flashCookie, Value: base64.RawURLEncoding.EncodeToString(b), Path: path, HTTPOnly: true,
		Secure: a.cfg.Secure, SameSite: fiber.CookieSameSiteStrictMode, Expires: time.Now().Add(flashTTL)})
	return nil
}

// takeFlash reads and clears the flash of path into v; false when there
// is none (or it does not decode: a flash is a courtesy, never trusted).
func (a *app) takeFlash(c *fiber.Ctx, path string, v any) bool {
	raw := c.Cookies(flashCookie)
	if raw == "" {
		return false
	}
	c.Cookie(&fiber.Cookie{Name: flashCookie, Value: "", Path: path, HTTPOnly: true, Secure: a.cfg.Secure,
		SameSite: fiber.CookieSameSiteStrictMode, Expires: time.Unix(1, 0), MaxAge: -1})
	b, err := base64.RawURLEncoding.DecodeString(raw)
	return err == nil && json.Unmarshal(b, v) == nil
}
