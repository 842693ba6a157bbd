package handlers

import (
	"strings"

	"github.com/gofiber/fiber/v2"
)

// assetHeaders caches the embedded assets briefly and names the charset of
// the text ones: app.css puts non-ASCII characters in `content:`, and a
// browser guessing another encoding showed the policy's ticks as mojibake.
func assetHeaders(c *fiber.Ctx) error {
	c.Set(fiber.HeaderCacheControl, assetCachePolicy)
	if err := c.Next(); err != nil {
		return err
	}
	ct := string(c.Response().Header.ContentType())
	textual := strings.HasPrefix(ct, "text/") || strings.HasPrefix(ct, fiber.MIMEApplicationJavaScript) ||
		strings.HasPrefix(ct, "image/svg+xml") || strings.HasPrefix(ct, fiber.MIMEApplicationJSON)
	if textual && !strings.Contains(strings.ToLower(ct), "charset=") {
		c.Response().Header.SetContentType(ct + "; charset=utf-8")
	}
	return nil
}
