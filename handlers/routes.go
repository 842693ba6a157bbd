package handlers

import (
	"io/fs"
	"net/http"

	"github.com/gofiber/fiber/v2"
	"github.com/gofiber/fiber/v2/middleware/filesystem"
	"github.com/gofiber/fiber/v2/middleware/recover"

	"github.com/cqrs-local/cqrs-signin/assets"
)

const localSessionID = "session-id"

// routes lists every route in one place.
func (a *app) routes(f *fiber.App) {
	f.Use(recover.New())
	f.Use(securityHeaders, a.hostAllowed)

	static, _ := fs.Sub(assets.Static, "static")
	f.Use("/assets", func(c *fiber.Ctx) error {
		c.Set("Cache-Control", assetCachePolicy)
		return c.Next()
	}, filesystem.New(filesystem.Config{Root: http.FS(static)}))

	f.Get("/healthz", a.health)

	f.Use(a.crossSite, validUTF8, a.csrf)

	f.Get("/", a.home)

	// First run: the one-time set-up page.
	f.Get("/setup", a.setupPage)
	f.Post("/setup", a.setupSubmit)

	// Registration: the emailed link to the Security Information screen.
	f.Get("/register", a.registerPage)
	f.Post("/register", a.registerSubmit)
	f.Post("/register/check", a.registerCheck)
	f.Get("/register/complete", a.registerComplete)

	f.Use(func(c *fiber.Ctx) error { return fiber.ErrNotFound })
}

// health answers the single-instance probe: a second launch asks whether a
// CQRS instance already serves this data file.
func (a *app) health(c *fiber.Ctx) error {
	return c.JSON(fiber.Map{"service": "cqrs-signin", "version": a.cfg.Version})
}

// home sends a first-time visitor to the right start.
func (a *app) home(c *fiber.Ctx) error {
	n, err := a.store.CountUsers()
	if err != nil {
		return err
	}
	if n == 0 {
		return refuse(fiber.StatusServiceUnavailable, "CQRS is waiting to be set up",
			"Open the set-up link printed in the window where CQRS was started. It can be used once, to create the first administrator.")
	}
	return c.Redirect("/login", fiber.StatusSeeOther)
}
