package handlers

import (
	"context"
	"errors"
	"strings"
	"sync"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/gofiber/fiber/v2/middleware/limiter"

	"github.com/cqrs-local/cqrs-signin/cqrs"
	"github.com/cqrs-local/cqrs-signin/secret"
	"github.com/cqrs-local/cqrs-signin/views"
)

// SignInStore is what the legacy sign-in needs from the store.
type SignInStore interface {
	DeleteSession(ctx context.Context, hash []byte, events ...cqrs.AuditEvent) error
	LegacySignIn(ctx context.Context, a cqrs.SignInAttempt) (cqrs.SignInResult, error)
	UserByUserID(ctx context.Context, userID string) (cqrs.User, error)
}

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
		// The Help panel shows only the links, never the site's own
		// contact details: no read of the help desk on every Login page.
		Help: a.cfg.HelpDesk,
		// Every failure says how the lockout works, so the page is the
		// same whether or not the account is locked.
		LockAfter: a.cfg.LockAfter,
		Passkey:   a.passkeyLoginOffered(c),
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

// RateCounter counts requests per key in fixed windows (a minute for the
// address limits, an hour for reset emails per account), in the database,
// so that instances sharing it share one limit. It returns the window's
// count including this request.
type RateCounter interface {
	CountHit(ctx context.Context, key string, window time.Time) (int, error)
}

// sharedLimiter is addressLimiter counted by a.rates, when the app has one
// (instances sharing a database); without, the count is this process's.
// The window is fixed (the clock's minute), not sliding: at most twice max
// across a window's edge.
func (a *app) sharedLimiter(name string, max int, heading, text string) fiber.Handler {
	if a.rates == nil {
		return addressLimiter(max, heading, text)
	}
	return func(c *fiber.Ctx) error {
		if max <= 0 {
			return c.Next()
		}
		n, err := a.rates.CountHit(c.UserContext(), name+" "+c.IP(), a.cfg.Now().Truncate(time.Minute))
		if err != nil {
			return err
		}
		if n > max {
			c.Set("Retry-After", "60")
			return refuse(fiber.StatusTooManyRequests, heading, text)
		}
		return c.Next()
	}
}

// signInLimiter bounds sign-in attempts per client address.
func (a *app) signInLimiter() fiber.Handler {
	return a.sharedLimiter("sign-in", a.cfg.SignInRateLimit, "Too many sign-in attempts",
		"There have been too many attempts to sign in from this computer. Wait a minute, then try again.")
}

// legacySignIn checks User ID and password. Attempts on one account queue
// (signInQueue), and the decision is taken in the store transaction that
// re-reads the failure count and the lock, so a parallel burst cannot
// outrun the lockout. Every failure gets the same status and page, a
// locked account's included, whatever the password (its owner is told by
// email); an unknown User ID costs the same argon2id work (a dummy hash)
// and the same write (the audit entry).
func (a *app) legacySignIn(c *fiber.Ctx) error {
	userID := trimSpace(c.FormValue("user_id"))
	password := c.FormValue("password")
	if len(userID) > maxUserID*4 || len(password) > maxPasswordInput {
		userID, password = userID[:min(len(userID), maxUserID*4)], ""
	}
	release, err := a.signInQueue.wait(c.UserContext(), strings.ToLower(userID), a.cfg.SignInQueueWait)
	if err != nil {
		return err
	}
	defer release()
	u, err := a.signIn.UserByUserID(c.UserContext(), userID)
	if err != nil && !errors.Is(err, cqrs.ErrNotFound) {
		return err
	}
	hash := u.PasswordHash
	if userID == "" || password == "" {
		hash = "" // still hash, so an empty field is not a faster answer
	}
	ok, err := a.hasher.Verify(c.UserContext(), password, hash)
	if err != nil {
		return err
	}
	token := secret.NewToken()
	var replaced []byte
	if old := c.Cookies(sessionCookie); old != "" {
		replaced = secret.HashToken(old)
	}
	res, err := a.signIn.LegacySignIn(c.UserContext(), cqrs.SignInAttempt{
		UserID: userID, CheckedHash: hash, PasswordOK: ok, LockAfter: a.cfg.LockAfter,
		SessionHash: secret.HashToken(token), ReplacedSession: replaced, IP: c.IP(), Method: "legacy",
		LockNotice: a.lockedEmail(c.UserContext()), LinkTTL: a.cfg.ResetLinkTTL, SecondFactor: a.cfg.SecondFactor,
	})
	if err != nil {
		return err
	}
	if res.LockedNow {
		a.wakeMailer()
	}
	if res.SecondFactorDue {
		return a.startSecondFactor(c, token)
	}
	if !res.SignedIn {
		return render(c, fiber.StatusUnauthorized, views.LoginPage(a.loginModel(c, userID, signInFailed, "")))
	}
	a.setSessionCookie(c, token)
	return redirect(c, a.landing(res.User, safeNext(c.FormValue("next"))))
}

// defaultSignInQueueWait bounds how long an attempt waits for the ones
// before it on the same account; past it the answer is "busy, try again",
// as when every hashing slot is taken (main's hasher waits as long).
const defaultSignInQueueWait = 2 * time.Second

// accountQueue lets one holder per key in at a time, in turn: the legacy
// sign-ins of one account check their password and decide one after
// another, so each sees every failure before it. Keys with nobody waiting
// are dropped, so the map holds only the accounts in use.
type accountQueue struct {
	mu    sync.Mutex
	turns map[string]*accountTurn
}

type accountTurn struct {
	token chan struct{} // holds one value while someone has the turn
	users int           // holders and waiters
}

// wait takes key's turn, waiting at most max (then secret.ErrBusy, so the
// answer is the usual 503 with Retry-After), and returns its release.
func (q *accountQueue) wait(ctx context.Context, key string, max time.Duration) (func(), error) {
	q.mu.Lock()
	if q.turns == nil {
		q.turns = map[string]*accountTurn{}
	}
	t := q.turns[key]
	if t == nil {
		t = &accountTurn{token: make(chan struct{}, 1)}
		q.turns[key] = t
	}
	t.users++
	q.mu.Unlock()
	leave := func() {
		q.mu.Lock()
		if t.users--; t.users == 0 {
			delete(q.turns, key)
		}
		q.mu.Unlock()
	}
	timer := time.NewTimer(max)
	defer timer.Stop()
	select {
	case t.token <- struct{}{}:
		return func() { <-t.token; leave() }, nil
	case <-timer.C:
		leave()
		return nil, secret.ErrBusy
	case <-ctx.Done():
		leave()
		return nil, ctx.Err()
	}
}

// signOut ends the session on the server, not just in the browser.
func (a *app) signOut(c *fiber.Ctx) error {
	if h := currentSession(c); h != nil {
		u, _ := currentUser(c)
		if err := a.signIn.DeleteSession(c.UserContext(), h, a.event(c, cqrs.AuditEvent{Type: evSignOut, Subject: u.UserID, OrgID: u.OrgID})); err != nil {
			return err
		}
	}
	a.clearCookie(c, sessionCookie, "/")
	if a.nhsmailServer != nil {
		// On a shared classroom computer the next person must not arrive
		// signed in to the embedded NHSmail as the last one.
		a.clearCookie(c, a.nhsmailServer.SessionCookieName(), "/nhsmail")
	}
	return redirect(c, "/login?signed_out=1")
}

// helpPage is Contact Us: the CQRS help desk's details.
func (a *app) helpPage(c *fiber.Ctx) error {
	p, err := a.signedInPage(c, "Contact Us")
	if err != nil {
		return err
	}
	return render(c, fiber.StatusOK, views.HelpPage(p, a.helpDesk(c.UserContext())))
}
