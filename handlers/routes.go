package handlers

import (
	"io/fs"
	"path"
	"strings"

	"github.com/gofiber/fiber/v2"
	"github.com/gofiber/fiber/v2/middleware/compress"
	"github.com/gofiber/fiber/v2/middleware/recover"

	"github.com/cqrs-local/cqrs-signin/assets"
)

const localSessionID = "session-id"

// routes lists every route in one place.
func (a *app) routes(f *fiber.App) {
	f.Use(recover.New(), a.requestContext, a.closeWhileDraining, a.fromProxy)
	// Pages reach people over HTTPS when the public address is https,
	// whatever the proxy tells this instance: never compressed then (BREACH).
	publicTLS := strings.HasPrefix(a.cfg.PublicOrigin, "https:")
	f.Use(compress.New(compress.Config{Level: compress.LevelBestSpeed, Next: func(c *fiber.Ctx) bool { return publicTLS || uncompressedPage(c) }}))
	f.Use(a.namespaceCookies)
	f.Use(securityHeaders, a.strictTransport, a.hostAllowed)
	if a.cfg.Training {
		f.Use(a.training.WatchLearners) // the class board's view of each learner
	}

	f.Use("/assets", assetPath, serveAsset)

	f.Get("/healthz", a.health)
	f.Get("/readyz", a.ready)
	f.Get("/internal/backup", a.instanceBackup)

	// The embedded NHSmail simulator is another site in all but address: it
	// does its own CSRF checks, and its token endpoint is called server to
	// server, so it is mounted before this app's CSRF guard.
	if a.nhsmailServer != nil {
		f.All("/nhsmail/*", validUTF8, simulatorHeaders, a.serveSimulator)
	}

	f.Use(a.crossSite, validUTF8, a.loadSession, a.csrf)

	f.Get("/", a.home)
	f.Get("/help", a.helpPage)

	// The CQRS Login page: NHSmail single sign-on and the legacy login.
	f.Get("/login", a.loginPage)
	f.Post("/login", a.signInLimiter(), a.legacySignIn)
	f.Get("/sso/start", a.signInLimiter(), a.ssoStart)
	f.Get("/sso/callback", a.ssoCallback)
	f.Get(ssoNoAccountPath, a.ssoNoAccountPage)
	f.Get(ssoLockedPath, a.ssoLockedPage)
	f.Get(ssoLinkedElsewherePath, a.ssoLinkedElsewherePage)
	f.Get("/forgotten", a.forgottenPage)
	f.Post("/forgotten", a.resetLimiter(), a.forgottenSubmit)
	f.Post("/signout", a.signOut)
	// The second step after a right password, when --second-factor covers the account.
	f.Get(secondFactorPath, a.secondFactorPage)
	f.Post(secondFactorPath, a.signInLimiter(), a.secondFactorSubmit)
	// Passkeys at the second step: the ceremony's options (JSON, for
	// passkey.js), then the browser's answer with the form.
	f.Post(passkeyStepOptions, a.secondStepPasskeyOptions)
	f.Post(passkeyStepPath, a.signInLimiter(), a.secondStepPasskey)
	// A passkey alone, from the Login page (the setting on, at an address
	// that can use passkeys).
	f.Post(passkeyLoginOptions, a.signInLimiter(), a.passkeyLoginOptionsHandler)
	f.Post(passkeyLoginPath, a.signInLimiter(), a.passkeyLogin)

	// First run: the one-time set-up page.
	f.Get("/setup", a.setupPage)
	f.Post("/setup", a.setupSubmit)

	// The emailed links to the Security Information screen: registration,
	// and unlock / forgotten password.
	// (Each path is the flow's own path or done page, see register.go.)
	f.Get("/register", a.linkPage(registration))
	f.Post("/register", a.linkSubmit(registration))
	f.Post("/register/check", a.linkCheck(registration))
	f.Get("/register/complete", a.linkComplete(registration))
	f.Get("/reset", a.linkPage(passwordReset))
	f.Post("/reset", a.linkSubmit(passwordReset))
	f.Post("/reset/check", a.linkCheck(passwordReset))
	f.Get("/reset/complete", a.linkComplete(passwordReset))

	// Signed in: the message centre and the account page. (A Group with
	// middleware would also catch unknown paths, so each route names it.)
	signedIn, admin := a.requireSignedIn, a.requireAdmin
	f.Get("/messages", signedIn, a.messageCentre)
	f.Post("/messages/send", signedIn, admin, a.broadcast)
	f.Get("/messages/:id", signedIn, a.openMessage)
	f.Get("/messages/:id/delete", signedIn, a.confirmDeleteMessage)
	f.Post("/messages/:id/delete", signedIn, a.deleteMessage)
	f.Get("/account", signedIn, a.accountPage)
	f.Post("/account/password", signedIn, a.changePassword)
	f.Post("/account/password/check", signedIn, a.accountCheck)
	f.Get("/account/second-factor", signedIn, a.secondFactorAccountPage)
	f.Get(recoveryCodesPath, signedIn, a.recoveryCodesPage)
	f.Post(recoveryCodesPath, signedIn, a.newRecoveryCodes)
	f.Get(passkeysPath, signedIn, a.passkeysPage)
	f.Post(passkeyAccountOption, signedIn, a.passkeyRegisterOptions)
	f.Post(passkeysPath, signedIn, a.passkeyRegister)
	f.Post(passkeysPath+"/:id/name", signedIn, a.renamePasskey)
	f.Get(passkeysPath+"/:id/remove", signedIn, a.confirmRemovePasskey)
	f.Post(passkeysPath+"/:id/remove", signedIn, a.removePasskey)

	// Administration: users of the administrator's organisation (all, for
	// the system administrator), organisations, and the local mailbox.
	sysAdmin := a.requireSystemAdmin
	f.Get("/admin", signedIn, admin, func(c *fiber.Ctx) error { return c.Redirect("/admin/users", fiber.StatusSeeOther) })
	f.Get("/admin/users", signedIn, admin, a.adminUsers)
	f.Get("/admin/users/new", signedIn, admin, a.newUserPage)
	f.Post("/admin/users", signedIn, admin, a.createUser)
	f.Get("/admin/users/:id", signedIn, admin, a.userDetail)
	f.Post("/admin/users/:id", signedIn, admin, a.updateUser)
	f.Get("/admin/users/:id/disable", signedIn, admin, a.confirmUserAction("disable"))
	f.Post("/admin/users/:id/disable", signedIn, admin, a.userAction("disabled", a.disableUser))
	f.Post("/admin/users/:id/enable", signedIn, admin, a.userAction("enabled", a.enableUser))
	f.Post("/admin/users/:id/unlock", signedIn, admin, a.userAction("unlocked", a.unlockUser))
	f.Post("/admin/users/:id/resend", signedIn, admin, a.userAction("resent", a.resendInvitation))
	f.Get("/admin/users/:id/unlink", signedIn, admin, a.confirmUserAction("unlink"))
	f.Post("/admin/users/:id/unlink", signedIn, admin, a.userAction("unlinked", a.unlinkNHSmail))
	f.Get("/admin/users/:id/revoke", signedIn, admin, a.confirmUserAction("revoke"))
	f.Post("/admin/users/:id/revoke", signedIn, admin, a.userAction("revoked", a.revokeInvitation))
	f.Post("/admin/users/:id/reset", signedIn, admin, a.userAction("reset", a.startPasswordReset))
	f.Get("/admin/users/:id/second-factor/reset", signedIn, admin, a.confirmSecondFactorReset)
	f.Post("/admin/users/:id/second-factor/reset", signedIn, admin, a.userAction("second-factor-reset", a.resetSecondFactor))
	f.Get("/admin/organisations", signedIn, sysAdmin, a.organisations)
	f.Post("/admin/organisations", signedIn, sysAdmin, a.createOrganisation)
	f.Get("/admin/organisations/:id", signedIn, sysAdmin, a.organisation)
	f.Post("/admin/organisations/:id", signedIn, sysAdmin, a.updateOrganisation)
	if a.nhsmail != nil {
		f.Get("/admin/nhsmail", signedIn, sysAdmin, a.nhsmailDirectory)
		f.Post("/admin/nhsmail", signedIn, sysAdmin, a.createNHSmailAccount)
		f.Post("/admin/nhsmail/signing-key", signedIn, sysAdmin, a.rotateNHSmailSigningKey)
		f.Get("/admin/nhsmail/applications", signedIn, sysAdmin, a.nhsmailApplications)
		f.Post("/admin/nhsmail/applications", signedIn, sysAdmin, a.createNHSmailApplication)
		f.Get("/admin/nhsmail/applications/:client/delete", signedIn, sysAdmin, a.confirmDeleteNHSmailApplication)
		f.Post("/admin/nhsmail/applications/:client/delete", signedIn, sysAdmin, a.deleteNHSmailApplication)
		f.Post("/admin/nhsmail/:id/password", signedIn, sysAdmin, a.setNHSmailPassword)
		f.Get("/admin/nhsmail/:id/disabled", signedIn, sysAdmin, a.confirmDisableNHSmailAccount)
		f.Post("/admin/nhsmail/:id/disabled", signedIn, sysAdmin, a.nhsmailFlag(nhsmailDisabled))
		f.Post("/admin/nhsmail/:id/locked", signedIn, sysAdmin, a.nhsmailFlag(nhsmailLocked))
		f.Post("/admin/nhsmail/:id/consent", signedIn, sysAdmin, a.nhsmailFlag(nhsmailConsent))
		f.Post("/admin/nhsmail/:id/mfa", signedIn, sysAdmin, a.setNHSmailMFA)
	}
	f.Get("/admin/helpdesk", signedIn, sysAdmin, a.helpDeskPage)
	f.Post("/admin/helpdesk", signedIn, sysAdmin, a.saveHelpDesk)
	f.Get("/admin/backup", signedIn, sysAdmin, a.adminBackup)
	f.Get("/admin/audit", signedIn, admin, a.auditPage)
	f.Get("/admin/audit.csv", signedIn, admin, a.auditCSV)
	f.Get("/mailbox", a.requireMailbox, a.mailbox)
	f.Get("/mailbox/:id", a.requireMailbox, a.mailboxEmail)

	// Training mode (only with --training; outside it each of these is "Page
	// not found"): see package training.
	if a.cfg.Training {
		a.training.Routes(f)
	}

	f.Use(func(c *fiber.Ctx) error { return fiber.ErrNotFound })
}

// assetPath serves an asset by its normalised path ("/assets/./css//x.css"
// is "/assets/css/x.css"). A path that normalises to a folder, to nothing
// embedded or outside the assets is not found.
func assetPath(c *fiber.Ctx) error {
	name := strings.TrimPrefix(path.Clean("/"+strings.TrimPrefix(c.Path(), "/assets")), "/")
	if !fs.ValidPath(name) || name == "." {
		return fiber.ErrNotFound
	}
	if a, _ := assets.Lookup(name); a == nil {
		return fiber.ErrNotFound
	}
	c.Path("/assets/" + name)
	return c.Next()
}

// health answers the single-instance probe: a second launch asks whether a
// CQRS instance already serves this data file.
// home sends a first-time visitor to the right start.
func (a *app) home(c *fiber.Ctx) error {
	hasUsers, err := a.setup.HasUsers(c.UserContext())
	if err != nil {
		return err
	}
	if _, ok := currentUser(c); ok {
		return c.Redirect("/messages", fiber.StatusSeeOther)
	}
	if !hasUsers {
		return refuseBeforeSetUp(fiber.StatusServiceUnavailable, "CQRS is waiting to be set up",
			"Open the set-up link printed in the window where CQRS was started. It can be used once, to create the first administrator.")
	}
	return c.Redirect("/login", fiber.StatusSeeOther)
}
