package handlers

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/cqrs-local/cqrs-signin/cqrs"
	"github.com/cqrs-local/cqrs-signin/secret"
	"github.com/cqrs-local/cqrs-signin/views"
)

// ForgottenStore is what "Unlock Account or Forgotten Password" needs from the store.
type ForgottenStore interface {
	SendLink(ctx context.Context, userID uint64, purpose cqrs.LinkPurpose, linkHash []byte, ttl time.Duration, email cqrs.Email, events ...cqrs.AuditEvent) (cqrs.User, error)
	UserByEmail(ctx context.Context, email string) (cqrs.User, error)
	UserByUserID(ctx context.Context, userID string) (cqrs.User, error)
}

// resetSent is the one answer to every request, so it never tells whether
// an account matched.
const resetSent = "If an account matches what you entered, we have sent an email to its address with a link to unlock the account and choose a new password. The link works once, for a limited time."

// accountThrottle remembers recent reset emails per account, so nobody can
// flood someone's inbox through the form.
type accountThrottle struct {
	mu     sync.Mutex
	recent map[uint64][]time.Time
}

func (t *accountThrottle) allow(id uint64, now time.Time, perHour int) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.recent == nil {
		t.recent = map[uint64][]time.Time{}
	}
	kept := t.recent[id][:0]
	for _, at := range t.recent[id] {
		if now.Sub(at) < time.Hour {
			kept = append(kept, at)
		}
	}
	if len(kept) >= perHour {
		t.recent[id] = kept
		return false
	}
	t.recent[id] = append(kept, now)
	return true
}

// resetAllowed reports whether another reset email may go to the account
// this hour. With a.rates (instances sharing a database) the count is the
// database's, per clock hour; else this process's, over the last hour. A
// count that cannot be read refuses: no email, the same answer.
func (a *app) resetAllowed(ctx context.Context, id uint64) bool {
	now := a.cfg.Now()
	if a.rates == nil {
		return a.resetThrottle.allow(id, now, a.cfg.ResetRequestsPerHour)
	}
	n, err := a.rates.CountHit(ctx, "reset-account "+strconv.FormatUint(id, 10), now.Truncate(time.Hour))
	if err != nil {
		a.log.Error("reset count", "err", err)
		return false
	}
	return n <= a.cfg.ResetRequestsPerHour
}

func (a *app) forgottenPage(c *fiber.Ctx) error {
	m := views.ForgottenModel{Page: a.page(c, "Unlock Account or Forgotten Password")}
	if c.Query("sent") != "" {
		m.Sent = resetSent
	}
	return render(c, fiber.StatusOK, views.ForgottenPage(m))
}

func (a *app) resetLimiter() fiber.Handler {
	return a.sharedLimiter("reset", a.cfg.ResetRateLimit, "Too many requests",
		"There have been too many requests from this computer. Wait a minute, then try again.")
}

// forgottenSubmit sends a reset link when the User ID or email matches an
// account that can use one, and answers the same way whatever happened.
func (a *app) forgottenSubmit(c *fiber.Ctx) error {
	who := trimSpace(c.FormValue("who"))
	if who == "" || len(who) > maxEmail {
		return render(c, fiber.StatusUnprocessableEntity, views.ForgottenPage(views.ForgottenModel{
			Page: a.page(c, "Unlock Account or Forgotten Password"), Who: who,
			Errors: views.Errors{{Field: "who", Message: "Enter your User ID or email address."}}}))
	}
	var (
		u   cqrs.User
		err error
	)
	if strings.Contains(who, "@") {
		u, err = a.forgotten.UserByEmail(c.UserContext(), who)
	} else {
		u, err = a.forgotten.UserByUserID(c.UserContext(), who)
	}
	if err != nil && !errors.Is(err, cqrs.ErrNotFound) {
		return err
	}
	event := cqrs.AuditEvent{Type: evResetRequested, Subject: who, Method: "link"}
	switch {
	case err != nil:
		event.Detail = "no matching account"
	case u.Status == cqrs.StatusDisabled:
		event.Subject, event.OrgID, event.Detail = u.UserID, u.OrgID, "account disabled: no email sent"
	case u.PasswordHash == "":
		event.Subject, event.OrgID, event.Detail = u.UserID, u.OrgID, "not registered yet: no email sent"
	case !a.resetAllowed(c.UserContext(), u.ID):
		event.Subject, event.OrgID, event.Detail = u.UserID, u.OrgID, "too many requests for this account: no email sent"
	default:
		token := secret.NewToken()
		email := a.resetEmail(c.UserContext(), u, token, u.Clock(a.cfg.Now()).Add(a.cfg.ResetLinkTTL))
		sent := a.event(c, cqrs.AuditEvent{Type: evLinkSent, Subject: u.UserID, OrgID: u.OrgID, Method: "link", Detail: "unlock / forgotten password"})
		if _, err := a.forgotten.SendLink(c.UserContext(), u.ID, cqrs.LinkReset, secret.HashToken(token), a.cfg.ResetLinkTTL, email, sent); err != nil {
			return err
		}
		a.wakeMailer()
		event.Type = "" // recorded with the link
	}
	// Every path writes one audit entry in one transaction (the email's
	// with its link), so timing does not tell them apart.
	if event.Type != "" {
		if err := a.audit(c, event); err != nil {
			return err
		}
	}
	// POST-redirect-GET: a reload shows the answer again and sends no
	// second email. Every request gets this same redirect.
	return redirect(c, "/forgotten?sent=1")
}
