package handlers

import (
	"errors"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/gofiber/fiber/v2/middleware/limiter"

	"github.com/cqrs-local/cqrs-signin/store"
	"github.com/cqrs-local/cqrs-signin/views"
)

// signInFailed is the one message for every failed legacy sign-in, in the
// documents' words, so no answer tells which User IDs exist.
const signInFailed = "Incorrect user ID or password. Type the correct user ID and password, and try again."

const (
	maxPasswordInput = 256 // longer than any valid password; bounds hashing work
	signedOutNotice  = "You have signed out."
	loginTitle       = "CQRS Login"
)

func (a *app) loginModel(c *fiber.Ctx, userID, errMsg, notice string) views.LoginModel {
	return views.LoginModel{
		Page:   a.page(c, loginTitle),
		UserID: userID,
		Error:  errMsg,
		Notice: notice,
		Next:   safeNext(c.Query("next", c.FormValue("next"))),
		Help:   a.cfg.HelpDesk,
	}
}

// loginPage is the CQRS Login page (job aid step 3).
func (a *app) loginPage(c *fiber.Ctx) error {
	if _, ok := currentUser(c); ok {
		return c.Redirect(safeNext(c.Query("next")), fiber.StatusSeeOther)
	}
	notice := ""
	if c.Query("signed_out") == "1" {
		notice = signedOutNotice
	}
	return render(c, fiber.StatusOK, views.LoginPage(a.loginModel(c, "", "", notice)))
}

// addressLimiter allows max requests per client address per minute (0: no
// limit) and answers the rest with 429, Retry-After and a page.
func addressLimiter(max int, heading, text string) fiber.Handler {
	return limiter.New(limiter.Config{
		Max:               max,
		Expiration:        time.Minute,
		LimiterMiddleware: limiter.SlidingWindow{},
		Next:              func(c *fiber.Ctx) bool { return max <= 0 },
		LimitReached: func(c *fiber.Ctx) error {
			c.Set("Retry-After", "60")
			return refuse(fiber.StatusTooManyRequests, heading, text)
		},
	})
}

// signInLimiter bounds sign-in attempts per client address.
func (a *app) signInLimiter() fiber.Handler {
	return addressLimiter(a.cfg.SignInRateLimit, "Too many sign-in attempts",
		"There have been too many attempts to sign in from this computer. Wait a minute, then try again.")
}

// legacySignIn checks User ID and password. Every failure gets the same
// status and page, and an unknown User ID costs the same argon2id work as a
// known one (a dummy hash) and the same write (the audit entry). A locked
// account says so only to someone who typed its right password.
func (a *app) legacySignIn(c *fiber.Ctx) error {
	userID := trimSpace(c.FormValue("user_id"))
	password := c.FormValue("password")
	if len(userID) > maxUserID*4 || len(password) > maxPasswordInput {
		userID, password = userID[:min(len(userID), maxUserID*4)], ""
	}
	u, err := a.store.UserByUserID(userID)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return err
	}
	hash := u.PasswordHash
	if userID == "" || password == "" {
		hash = "" // still hash, so an empty field is not a faster answer
	}
	ok, err := a.hasher.Verify(c.Context(), password, hash)
	if err != nil {
		return err
	}
	switch {
	case ok && u.Status == store.StatusActive && !u.LockedAt.IsZero():
		a.audit(c, store.AuditEvent{Type: evSignInLocked, Subject: u.UserID, OrgID: u.OrgID, Method: "legacy"})
		return render(c, fiber.StatusForbidden, views.LockedPage(a.page(c, "Your account is locked"), a.cfg.HelpDesk))
	case !ok || u.Status != store.StatusActive:
		if _, err := a.store.RecordSignInFailure(userID, a.cfg.LockAfter, store.AuditEvent{
			Type: evSignInFailed, Subject: userID, IP: c.IP(), Method: "legacy", Detail: "User ID or password incorrect, or account not active",
		}); err != nil {
			return err
		}
		return render(c, fiber.StatusUnauthorized, views.LoginPage(a.loginModel(c, userID, signInFailed, "")))
	}
	if _, err := a.startSession(c, u); err != nil {
		return err
	}
	a.audit(c, store.AuditEvent{Type: evSignIn, Actor: u.UserID, Subject: u.UserID, OrgID: u.OrgID, Method: "legacy"})
	return redirect(c, safeNext(c.FormValue("next")))
}

// signOut ends the session on the server, not just in the browser.
func (a *app) signOut(c *fiber.Ctx) error {
	if h := currentSession(c); h != nil {
		if err := a.store.DeleteSession(h); err != nil {
			return err
		}
		u, _ := currentUser(c)
		a.audit(c, store.AuditEvent{Type: evSignOut, Subject: u.UserID, OrgID: u.OrgID})
	}
	a.clearCookie(c, sessionCookie, "/")
	if a.nhsmailServer != nil {
		// On a shared classroom computer the next person must not arrive
		// signed in to the embedded NHSmail as the last one.
		a.clearCookie(c, "nhsmail_session", "/nhsmail")
	}
	return redirect(c, "/login?signed_out=1")
}

// helpPage is Contact Us: the CQRS help desk's details.
func (a *app) helpPage(c *fiber.Ctx) error {
	p, err := a.signedInPage(c, "Contact Us")
	if err != nil {
		return err
	}
	return render(c, fiber.StatusOK, views.HelpPage(p, a.cfg.HelpDesk))
}
