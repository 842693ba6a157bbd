package handlers

import (
	"context"
	"encoding/base64"
	"errors"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"
	qrcode "github.com/skip2/go-qrcode"

	"github.com/cqrs-local/cqrs-signin/cqrs"
	"github.com/cqrs-local/cqrs-signin/secret"
	"github.com/cqrs-local/cqrs-signin/views"
)

// SecondFactorStore is what the second step of a legacy sign-in and the
// pages about it need from the store. The sealed secret reaches only the
// sign-in step (which alone opens it); the account and administration
// pages see a SecondFactorStatus.
type SecondFactorStore interface {
	PendingSignIn(ctx context.Context, hash []byte) (cqrs.PendingSignIn, *cqrs.SecondFactor, error)
	OfferSecondFactor(ctx context.Context, hash, sealed []byte) (cqrs.PendingSignIn, error)
	SecondFactorSignIn(ctx context.Context, a cqrs.SecondFactorAttempt) (cqrs.SignInResult, error)
	SecondFactorStatus(ctx context.Context, userID uint64) (cqrs.SecondFactorStatus, error)
	ReplaceRecoveryCodes(ctx context.Context, userID uint64, hashes [][]byte, events ...cqrs.AuditEvent) error
	ResetSecondFactor(ctx context.Context, userID uint64, notify *cqrs.Email, events ...cqrs.AuditEvent) (cqrs.User, error)
	PasskeyStore
}

const (
	secondFactorPath = "/login/second-factor"
	// pendingCookie carries the token of a sign-in waiting for its second
	// factor, only to the second step's page.
	pendingCookie = "cqrs_pending"
	// secondFactorFailed is the one answer to every refused code, whatever
	// was wrong (a wrong code, a used one, a locked account).
	secondFactorFailed  = "The code is not right. Type the code your authenticator app shows now, or one of your recovery codes, and try again."
	authenticatorIssuer = "CQRS"
)

// sealContext binds a sealed secret to its owner's record: moved to
// another person's, it does not open.
func sealContext(userID uint64) string { return "cqrs totp " + strconv.FormatUint(userID, 10) }

// newSealer is the sealer for cfg, when the setting asks anyone for a
// second factor; it needs the key main keeps outside the database.
func newSealer(cfg Config, st SecondFactorStore) (*secret.Sealer, error) {
	if cfg.SecondFactor == "" || cfg.SecondFactor == cqrs.SecondFactorOff {
		return nil, nil
	}
	if st == nil {
		return nil, errors.New("the second-factor setting needs a store that keeps second factors")
	}
	return secret.NewSealer(cfg.SecondFactorKey)
}

// startSecondFactor answers a right password for an account the setting
// covers: the pending sign-in's cookie, and on to the second step.
func (a *app) startSecondFactor(c *fiber.Ctx, token string) error {
	c.Cookie(&fiber.Cookie{Name: pendingCookie, Value: token, Path: secondFactorPath, HTTPOnly: true, Secure: a.cfg.Secure,
		SameSite: fiber.CookieSameSiteStrictMode, SessionOnly: true})
	to := secondFactorPath
	if next := safeNext(c.FormValue("next")); next != "/messages" {
		to += "?next=" + url.QueryEscape(next)
	}
	return redirect(c, to)
}

// pendingSignIn is the request's sign-in waiting for its second factor;
// gone or over, the answer says to start again.
func (a *app) pendingSignIn(c *fiber.Ctx) ([]byte, cqrs.PendingSignIn, *cqrs.SecondFactor, error) {
	token := c.Cookies(pendingCookie)
	if token == "" || a.sealer == nil {
		return nil, cqrs.PendingSignIn{}, nil, errSecondStepOver
	}
	hash := secret.HashToken(token)
	p, f, err := a.secondFactor.PendingSignIn(c.UserContext(), hash)
	if errors.Is(err, cqrs.ErrExpired) {
		return nil, cqrs.PendingSignIn{}, nil, errSecondStepOver
	}
	return hash, p, f, err
}

var errSecondStepOver = refuse(fiber.StatusGone, "Sign in again",
	"The time to give your code has run out, or this sign-in has ended (the browser was closed, or you have signed in since). Nothing was changed: sign in again from the CQRS Login page.")

// secondFactorPage is the second step: set up the authenticator app (the
// first time), or give a code from it.
func (a *app) secondFactorPage(c *fiber.Ctx) error {
	if _, ok := currentUser(c); ok && c.Cookies(pendingCookie) == "" {
		return c.Redirect(safeNext(c.Query("next")), fiber.StatusSeeOther)
	}
	hash, p, f, err := a.pendingSignIn(c)
	if err != nil {
		return err
	}
	return a.renderSecondFactor(c, fiber.StatusOK, hash, p, f, nil)
}

func (a *app) renderSecondFactor(c *fiber.Ctx, status int, hash []byte, p cqrs.PendingSignIn, f *cqrs.SecondFactor, errs views.Errors) error {
	m := views.SecondFactorModel{Page: a.page(c, "Second step"), Account: p.Account, Next: safeNext(c.Query("next", c.FormValue("next"))),
		Errors: errs, LockAfter: a.cfg.LockAfter}
	if len(errs) > 0 {
		m.Page.Title = "Second step"
	}
	var err error
	if m.Passkey, err = a.passkeyStep(c, p, f); err != nil {
		return err
	}
	if f == nil {
		m.Enrol = true
		if len(p.Enrolling) == 0 {
			key, _, err := secret.NewTOTPKey(authenticatorIssuer, p.Account)
			if err != nil {
				return err
			}
			if p, err = a.secondFactor.OfferSecondFactor(c.UserContext(), hash, a.sealer.Seal([]byte(key), sealContext(p.UserID))); err != nil {
				return err
			}
		}
		key, err := a.sealer.Open(p.Enrolling, sealContext(p.UserID))
		if err != nil {
			return err
		}
		address := (&url.URL{Scheme: "otpauth", Host: "totp", Path: "/" + authenticatorIssuer + ":" + p.Account,
			RawQuery: url.Values{"secret": {string(key)}, "issuer": {authenticatorIssuer}, "algorithm": {"SHA1"}, "digits": {"6"}, "period": {"30"}}.Encode()}).String()
		png, err := qrcode.Encode(address, qrcode.Medium, 240)
		if err != nil {
			return err
		}
		m.QR = "data:image/png;base64," + base64.StdEncoding.EncodeToString(png)
		m.Key = groupsOfFour(string(key))
	}
	return render(c, status, views.SecondFactorPage(m))
}

// groupsOfFour spaces a key for reading and typing.
func groupsOfFour(s string) string {
	var b strings.Builder
	for i, r := range s {
		if i > 0 && i%4 == 0 {
			b.WriteByte(' ')
		}
		b.WriteRune(r)
	}
	return b.String()
}

// secondFactorSubmit checks an answer to the second step. The app opens
// the secret and finds the code's time step; the store decides, in the
// transaction that re-reads the failure count, the lock and the last step
// accepted, so a burst of codes can neither outrun the lockout nor use a
// code twice. A wrong answer counts as a wrong password does.
func (a *app) secondFactorSubmit(c *fiber.Ctx) error {
	hash, p, f, err := a.pendingSignIn(c)
	if err != nil {
		return err
	}
	// The account's turn, shared with its password attempts: one decision
	// at a time, each seeing every failure before it (and on PostgreSQL no
	// burst of transactions waiting on the account's row holds every
	// connection while the one that locks it needs another for its email).
	release, err := a.signInQueue.wait(c.UserContext(), strings.ToLower(p.Account), a.cfg.SignInQueueWait)
	if err != nil {
		return err
	}
	defer release()
	if hash, p, f, err = a.pendingSignIn(c); err != nil { // as it is now, after the turns before this one
		return err
	}
	code := trimSpace(c.FormValue("code"))
	if len(code) > 32 {
		code = ""
	}
	now := a.cfg.AuthenticatorNow()
	token := secret.NewToken()
	attempt := cqrs.SecondFactorAttempt{PendingHash: hash, SessionHash: secret.HashToken(token), LockAfter: a.cfg.LockAfter,
		IP: c.IP(), LockNotice: a.lockedEmail(c.UserContext()), LinkTTL: a.cfg.ResetLinkTTL}
	var recoveryCodes []string
	switch {
	case f == nil:
		attempt.Kind, attempt.CheckedSealed = cqrs.SecondFactorEnrol, p.Enrolling
		if key, err := a.sealer.Open(p.Enrolling, sealContext(p.UserID)); err == nil {
			attempt.Step = secret.TOTPStep(string(key), code, now)
		}
		recoveryCodes = secret.NewRecoveryCodes(cqrs.RecoveryCodeCount)
		attempt.RecoveryCodes = hashRecoveryCodes(recoveryCodes)
	case secret.IsRecoveryCode(code):
		attempt.Kind, attempt.RecoveryHash = cqrs.SecondFactorRecovery, secret.HashRecoveryCode(code)
	default:
		attempt.Kind, attempt.CheckedSealed = cqrs.SecondFactorCode, f.Sealed
		key, err := a.sealer.Open(f.Sealed, sealContext(p.UserID))
		if len(f.Sealed) == 0 {
			// Passkeys only: no code can match.
		} else if err != nil {
			// Sealed under another key (a restored backup without its
			// key file): no code can match; recovery codes still work.
			a.log.Warn("second factor does not open with this key", "user_id", p.Account)
		} else {
			attempt.Step = secret.TOTPStep(string(key), code, now)
		}
	}
	res, err := a.secondFactor.SecondFactorSignIn(c.UserContext(), attempt)
	if errors.Is(err, cqrs.ErrExpired) {
		return errSecondStepOver
	}
	if err != nil {
		return err
	}
	if res.LockedNow {
		a.wakeMailer()
	}
	if !res.SignedIn {
		errs := views.Errors{{Field: "code", Message: secondFactorFailed}}
		return a.renderSecondFactor(c, fiber.StatusUnauthorized, hash, p, f, errs)
	}
	a.clearCookie(c, pendingCookie, secondFactorPath)
	a.setSessionCookie(c, token)
	next := a.landing(res.User, safeNext(c.Query("next", c.FormValue("next"))))
	switch {
	case recoveryCodes != nil:
		return a.showRecoveryCodes(c, recoveryCodes, next)
	case attempt.Kind == cqrs.SecondFactorRecovery:
		return redirect(c, "/account/second-factor")
	}
	return redirect(c, next)
}

func hashRecoveryCodes(codes []string) [][]byte {
	hashes := make([][]byte, len(codes))
	for i, code := range codes {
		hashes[i] = secret.HashRecoveryCode(code)
	}
	return hashes
}

// secondFactorAccountPage is a person's own second factor: when they set
// it up, how many recovery codes are left (warning when few), new codes.
func (a *app) secondFactorAccountPage(c *fiber.Ctx) error {
	u, _ := currentUser(c)
	p, err := a.signedInPage(c, "Second step at sign-in")
	if err != nil {
		return err
	}
	m := views.SecondFactorAccountModel{Page: p, Required: a.cfg.SecondFactor.Covers(u)}
	if a.secondFactor != nil {
		st, err := a.secondFactor.SecondFactorStatus(c.UserContext(), u.ID)
		if err != nil {
			return err
		}
		if !st.Enrolled.IsZero() {
			m.Enrolled = u.Clock(st.Enrolled).Format(timeFormat)
			m.CodesLeft, m.Low, m.App = st.RecoveryCodesLeft, st.RecoveryCodesLeft <= cqrs.RecoveryCodesLow, st.App
		}
		keys, err := a.secondFactor.Passkeys(c.UserContext(), u.ID)
		if err != nil {
			return err
		}
		m.Passkeys = len(keys)
	}
	return render(c, fiber.StatusOK, views.SecondFactorAccountPage(m))
}

// newRecoveryCodes replaces a person's recovery codes with new ones, shown
// once in the answer; the old ones stop working in the same transaction.
func (a *app) newRecoveryCodes(c *fiber.Ctx) error {
	u, _ := currentUser(c)
	if a.secondFactor == nil {
		return fiber.ErrNotFound
	}
	codes := secret.NewRecoveryCodes(cqrs.RecoveryCodeCount)
	err := a.secondFactor.ReplaceRecoveryCodes(c.UserContext(), u.ID, hashRecoveryCodes(codes),
		a.event(c, cqrs.AuditEvent{Type: cqrs.AuditRecoveryCodesNew, Subject: u.UserID, OrgID: u.OrgID, Method: "account"}))
	if errors.Is(err, cqrs.ErrNotFound) {
		return refuse(fiber.StatusConflict, "You have no authenticator app set up", "There are no recovery codes to replace. Nothing was changed.")
	}
	if err != nil {
		return err
	}
	return a.showRecoveryCodes(c, codes, "/account/second-factor")
}

// recoveryCodesPath shows new recovery codes, once.
const recoveryCodesPath = "/account/second-factor/recovery-codes"

// shownRecoveryCodes are new codes on their way to the page that shows
// them: only their hashes are kept, so this is the one time they exist.
type shownRecoveryCodes struct {
	Codes    []string `json:"codes"`
	Continue string   `json:"continue"`
}

// showRecoveryCodes answers the POST that made new codes with a redirect
// to the page that shows them (POST-redirect-GET), the codes riding in
// its flash: a reload of that page then sends nothing again (no second
// code spent, no new set made) and shows them no more.
func (a *app) showRecoveryCodes(c *fiber.Ctx, codes []string, next string) error {
	if err := a.setFlash(c, recoveryCodesPath, shownRecoveryCodes{Codes: codes, Continue: next}); err != nil {
		return err
	}
	return redirect(c, recoveryCodesPath)
}

// recoveryCodesPage shows the codes just made, once; afterwards it leads to
// the account's second-factor page, which says how many are left.
func (a *app) recoveryCodesPage(c *fiber.Ctx) error {
	var shown shownRecoveryCodes
	if !a.takeFlash(c, recoveryCodesPath, &shown) || len(shown.Codes) == 0 {
		return redirect(c, "/account/second-factor")
	}
	p, err := a.signedInPage(c, "Your recovery codes")
	if err != nil {
		return err
	}
	c.Set(fiber.HeaderCacheControl, "no-store")
	return render(c, fiber.StatusOK, views.RecoveryCodesPage(views.RecoveryCodesModel{Page: p, Codes: shown.Codes, Continue: safeNext(shown.Continue)}))
}

// resetSecondFactor is a User Administrator's (or the system
// administrator's) reset of a person's second factor: it is forgotten,
// the owner is told by email, and they set up their app again at their
// next sign-in. Nobody sees the secret or the codes.
func (a *app) resetSecondFactor(c *fiber.Ctx, admin, u cqrs.User, event userEvent) error {
	if a.secondFactor == nil {
		return fiber.ErrNotFound
	}
	// Only a factor set up is reset: a second press (Back to the page as it
	// was, a double click, another administrator) changes nothing and
	// sends the owner no second email.
	st, err := a.secondFactor.SecondFactorStatus(c.UserContext(), u.ID)
	if err != nil {
		return err
	}
	if st.Enrolled.IsZero() {
		return refuse(fiber.StatusConflict, "There is no second step to reset",
			u.FullName()+" has no second step set up (no authenticator app and no passkey): it has been reset already, or was never set up. Nothing was changed.")
	}
	email := a.secondFactorResetEmail(c.UserContext(), u, admin)
	_, err = a.secondFactor.ResetSecondFactor(c.UserContext(), u.ID, &email, event(cqrs.AuditSecondFactorReset, "authenticator app, passkeys and recovery codes forgotten"))
	return err
}

// defaultAuthenticatorNow is the authenticator's clock: the real one,
// whatever the training clock says, as the phone's is.
func defaultAuthenticatorNow() time.Time { return time.Now() }

// secondFactorResetEmail tells the owner their second factor was reset:
// if they did not ask for it, someone may be about to set up their own.
func (a *app) secondFactorResetEmail(ctx context.Context, to, by cqrs.User) cqrs.Email {
	return a.composeEmail(ctx, "second-factor-reset", to, "The second step of your CQRS sign-in was reset", views.EmailModel{
		Before: []string{
			"The authenticator app, passkeys and recovery codes of your CQRS account (User ID " + to.UserID + ") were reset by " + by.FullName() + " on " + a.cfg.Now().Format(timeFormat) + ". Your old codes no longer work.",
			"The next time you sign in with your User ID and password, you will set up your second step again: an authenticator app or a passkey.",
			notYou,
		},
	}, "")
}
