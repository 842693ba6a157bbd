package handlers

import (
	"context"
	"encoding/hex"
	"errors"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/cqrs-local/cqrs-signin/cqrs"
	"github.com/cqrs-local/cqrs-signin/secret"
	"github.com/cqrs-local/cqrs-signin/views"
)

// SessionStore keeps signed-in sessions.
type SessionStore interface {
	DeleteExpiredSessions(ctx context.Context, idle, absolute time.Duration) (int, error)
	HeaderInfo(ctx context.Context, userID, orgID uint64) (cqrs.Organisation, int, error)
	Session(ctx context.Context, hash []byte, idle, absolute time.Duration) (cqrs.Session, cqrs.User, error)
	SignedIn(ctx context.Context, userID uint64, sessionHash, replacedSession []byte, events ...cqrs.AuditEvent) (cqrs.User, error)
	RotateSession(ctx context.Context, old, fresh []byte) error
}

const (
	sessionCookie = "cqrs_session"
	localUser     = "user"
	localSessHash = "session-hash"
)

// loadSession finds the signed-in user from the session cookie. The cookie
// value is only ever looked up by its hash; an unknown value is ignored
// (and never adopted: sign-in always makes a new one).
func (a *app) loadSession(c *fiber.Ctx) error {
	token := c.Cookies(sessionCookie)
	if token == "" {
		return c.Next()
	}
	hash := secret.HashToken(token)
	// The stored LastSeen lags by up to cqrs.SessionTouchEvery, so the
	// store keeps the session that much longer and the exact idle rule is
	// applied here, to the last page this instance served.
	sess, u, err := a.sessions.Session(c.UserContext(), hash, a.cfg.SessionIdle+cqrs.SessionTouchEvery, a.cfg.SessionAbsolute)
	if err == nil && !a.activity.active(hash, sess.LastSeen, a.cfg.Now(), a.cfg.SessionIdle) {
		if err = a.signIn.DeleteSession(c.UserContext(), hash); err == nil {
			err = cqrs.ErrExpired
		}
	}
	switch {
	case errors.Is(err, cqrs.ErrNotFound), errors.Is(err, cqrs.ErrExpired):
		a.clearCookie(c, sessionCookie, "/")
		return c.Next()
	case err != nil:
		return err
	}
	c.Locals(localUser, u)
	c.Locals(localSessHash, hash)
	c.Locals(localSessionID, hex.EncodeToString(hash))
	return c.Next()
}

// currentUser is the signed-in user, if any.
func currentUser(c *fiber.Ctx) (cqrs.User, bool) {
	u, ok := c.Locals(localUser).(cqrs.User)
	return u, ok
}

func currentSession(c *fiber.Ctx) []byte {
	h, _ := c.Locals(localSessHash).([]byte)
	return h
}

// requireSignedIn sends a signed-out visitor to the login page, remembering
// where they were going.
func (a *app) requireSignedIn(c *fiber.Ctx) error {
	if _, ok := currentUser(c); ok {
		return c.Next()
	}
	next := "/messages"
	if c.Method() == fiber.MethodGet {
		next = string(c.Request().URI().RequestURI())
	}
	to := "/login?next=" + url.QueryEscape(next)
	if isHTMX(c) {
		c.Set("HX-Redirect", to)
		return c.SendStatus(fiber.StatusUnauthorized)
	}
	return c.Redirect(to, fiber.StatusSeeOther)
}

// requireAdmin lets only User Administrators and the system administrator on.
func (a *app) requireAdmin(c *fiber.Ctx) error {
	u, ok := currentUser(c)
	if !ok || (u.Role != cqrs.RoleSystemAdmin && u.Role != cqrs.RoleUserAdmin) {
		return refuse(fiber.StatusForbidden, "You cannot do that", "Only a CQRS User Administrator can use this page.")
	}
	return c.Next()
}

// safeNext keeps a post-sign-in destination on this site: a path, never a
// scheme, host, protocol-relative "//" or a backslash browsers treat as "/".
func safeNext(next string) string {
	const home = "/messages"
	if next == "" || !strings.HasPrefix(next, "/") || strings.HasPrefix(next, "//") ||
		strings.ContainsAny(next, "\\\r\n\t") || hasControl(next) {
		return home
	}
	u, err := url.Parse(next)
	if err != nil || u.Scheme != "" || u.Host != "" || u.User != nil || strings.HasPrefix(u.Path, "//") {
		return home
	}
	if strings.HasPrefix(next, "/login") || strings.HasPrefix(next, "/signout") {
		return home
	}
	return next
}

// startSession makes a brand-new session ID for the user (replacing any the
// browser had) and sets its cookie. The events are recorded with the
// session, in its transaction.
func (a *app) startSession(c *fiber.Ctx, u cqrs.User, events ...cqrs.AuditEvent) (cqrs.User, error) {
	token := secret.NewToken()
	var replaced []byte
	if old := c.Cookies(sessionCookie); old != "" {
		replaced = secret.HashToken(old)
	}
	hash := secret.HashToken(token)
	u, err := a.sessions.SignedIn(c.UserContext(), u.ID, hash, replaced, events...)
	if err != nil {
		return cqrs.User{}, err
	}
	a.activity.active(hash, time.Time{}, a.cfg.Now(), a.cfg.SessionIdle)
	a.setSessionCookie(c, token)
	return u, nil
}

// setSessionCookie hands the browser its new session token.
func (a *app) setSessionCookie(c *fiber.Ctx, token string) {
	c.Cookie(&fiber.Cookie{Name: sessionCookie, Value: token, Path: "/", HTTPOnly: true, Secure: a.cfg.Secure,
		SameSite: fiber.CookieSameSiteLaxMode, SessionOnly: true})
}

// signedInPage is the layout model with the header's account area.
func (a *app) signedInPage(c *fiber.Ctx, title string) (views.Page, error) {
	u, ok := currentUser(c)
	if !ok {
		return a.page(c, title), nil
	}
	org, unread, err := a.sessions.HeaderInfo(c.UserContext(), u.ID, u.OrgID)
	if err != nil {
		return views.Page{}, err
	}
	return a.pageWithHeader(c, title, u, org, unread), nil
}

// pageWithHeader is signedInPage for a handler that has just read the
// header's organisation and unread count itself, so they are not read
// twice.
func (a *app) pageWithHeader(c *fiber.Ctx, title string, u cqrs.User, org cqrs.Organisation, unread int) views.Page {
	p := a.page(c, title)
	p.User = &views.SignedInUser{
		Name: u.FullName(), UserID: u.UserID, Organisation: org.Name + " (" + org.ODSCode + ")",
		UnreadMessages: unread, IsAdmin: u.Role == cqrs.RoleSystemAdmin || u.Role == cqrs.RoleUserAdmin,
		ClassBoard: a.runsTheClass(u),
	}
	return p
}

// sweepSessions deletes expired sessions every interval until ctx ends.
func (a *app) sweepSessions(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if _, err := a.sessions.DeleteExpiredSessions(ctx, a.cfg.SessionIdle+cqrs.SessionTouchEvery, a.cfg.SessionAbsolute); err != nil {
				a.log.Warn("sweeping sessions", "err", err)
			}
			a.activity.forgetIdle(a.cfg.Now(), a.cfg.SessionIdle)
			if a.nhsmail != nil {
				if _, err := a.nhsmail.DeleteExpiredNHSmailSessions(ctx); err != nil {
					a.log.Warn("sweeping NHSmail simulator sessions", "err", err)
				}
			}
		}
	}
}

// sessionActivity is when this instance last served each session a page:
// the exact start of its idle time, which the store records only now and
// then (see cqrs.SessionTouchEvery), kept in memory so pages write nothing.
// A session this instance has not served (another instance's, or from
// before a restart) is judged by its stored LastSeen.
type sessionActivity struct {
	mu   sync.Mutex
	last map[[32]byte]time.Time
}

// active reports whether the session is within its idle limit at now,
// from the later of its stored LastSeen and the last page served here,
// and if so records now as its last activity.
func (s *sessionActivity) active(hash []byte, stored, now time.Time, idle time.Duration) bool {
	if len(hash) != 32 {
		return now.Sub(stored) < idle
	}
	key := [32]byte(hash)
	s.mu.Lock()
	defer s.mu.Unlock()
	last := stored
	if seen, ok := s.last[key]; ok && seen.After(last) {
		last = seen
	}
	if !last.IsZero() && now.Sub(last) >= idle {
		delete(s.last, key)
		return false
	}
	if s.last == nil {
		s.last = map[[32]byte]time.Time{}
	}
	s.last[key] = now
	return true
}

// forgetIdle drops the sessions idle at now, so the map holds only live
// ones.
func (s *sessionActivity) forgetIdle(now time.Time, idle time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for k, last := range s.last {
		if now.Sub(last) >= idle {
			delete(s.last, k)
		}
	}
}
