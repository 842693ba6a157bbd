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

// signInLimiter bounds sign-in attempts per client address.
func (a *app) signInLimiter() fiber.Handler {
	return limiter.New(limiter.Config{
		Max:               a.cfg.SignInRateLimit,
		Expiration:        time.Minute,
		LimiterMiddleware: limiter.SlidingWindow{},
		Next:              func(c *fiber.Ctx) bool { return a.cfg.SignInRateLimit <= 0 },
		LimitReached: func(c *fiber.Ctx) error {
			c.Set("Retry-After", "60")
			return refuse(fiber.StatusTooManyRequests, "Too many sign-in attempts",
				"There have been too many attempts to sign in from this computer. Wait a minute, then try again.")
		},
	})
}

// legacySignIn checks User ID and password. Every failure gets the same
// status and page, and an unknown User ID costs the same argon2id work as a
// known one (a dummy hash) and the same write (a failure record).
func (a *app) legacySignIn(c *fiber.Ctx) error {
	userID := trimSpace(c.FormValue("user_id"))
	password := c.FormValue("password")
	fail := func() error {
		if _, err := a.store.RecordSignInFailure(userID); err != nil {
			return err
		}
		a.log.Info("sign-in refused", "method", "legacy", "ip", c.IP())
		return render(c, fiber.StatusUnauthorized, views.LoginPage(a.loginModel(c, userID, signInFailed, "")))
	}
	if userID == "" || password == "" || len(userID) > maxUserID*4 || len(password) > maxPasswordInput {
		// Still hash, so an empty field is not a faster answer.
		if _, err := a.hasher.Verify(c.Context(), password, ""); err != nil {
			return err
		}
		return fail()
	}
	u, err := a.store.UserByUserID(userID)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return err
	}
	ok, err := a.hasher.Verify(c.Context(), password, u.PasswordHash)
	if err != nil {
		return err
	}
	if !ok || u.Status != store.StatusActive {
		return fail()
	}
	if _, err := a.startSession(c, u); err != nil {
		return err
	}
	a.log.Info("signed in", "method", "legacy", "user_id", u.UserID)
	return redirect(c, safeNext(c.FormValue("next")))
}

// signOut ends the session on the server, not just in the browser.
func (a *app) signOut(c *fiber.Ctx) error {
	if h := currentSession(c); h != nil {
		if err := a.store.DeleteSession(h); err != nil {
			return err
		}
	}
	a.clearCookie(c, sessionCookie, "/")
	return redirect(c, "/login?signed_out=1")
}

// ssoStart is the NHSmail Sign In button.
func (a *app) ssoStart(c *fiber.Ctx) error {
	return refuse(fiber.StatusServiceUnavailable, "NHSmail sign-in is not configured",
		"This CQRS system has no NHSmail single sign-on set up.",
		"If you do not have an NHSmail account, or until NHSmail sign-in is set up, please use your legacy login: your User ID and password on the CQRS Login page.")
}

// helpPage is Contact Us: the CQRS help desk's details.
func (a *app) helpPage(c *fiber.Ctx) error {
	p, err := a.signedInPage(c, "Contact Us")
	if err != nil {
		return err
	}
	return render(c, fiber.StatusOK, views.HelpPage(p, a.cfg.HelpDesk))
}
