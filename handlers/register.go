package handlers

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"strconv"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/cqrs-local/cqrs-signin/cqrs"
	"github.com/cqrs-local/cqrs-signin/policy"
	"github.com/cqrs-local/cqrs-signin/secret"
	"github.com/cqrs-local/cqrs-signin/views"
)

// LinkStore is what the emailed links (registration, unlock, reset) need from the store.
type LinkStore interface {
	LinkUser(hash []byte, purpose cqrs.LinkPurpose) (cqrs.Link, cqrs.User, error)
	SetPasswordWithLink(linkHash []byte, purpose cqrs.LinkPurpose, newHash string, notify *cqrs.Email, events ...cqrs.AuditEvent) (cqrs.User, error)
	PasswordHistory(userID uint64) ([]string, error)
	Organisation(id uint64) (cqrs.Organisation, error)
}

// linkFlow is a page reached from an emailed single-use link where the user
// chooses a password: registration (the job aid's Security Information
// screen) and the unlock / forgotten-password reset.
type linkFlow struct {
	purpose cqrs.LinkPurpose
	path    string // "/register" or "/reset"
	cookie  string
	// refused explains an unknown, used or expired link.
	refused func(expired bool) error
	// done is where success leads.
	done string
}

const (
	linkCookie    = "cqrs_link"
	resetCookie   = "cqrs_reset"
	doneCookie    = "cqrs_done"
	linkCookieTTL = 30 * time.Minute
	securityTitle = "Security Information"
)

var (
	registration  = linkFlow{purpose: cqrs.LinkRegister, path: "/register", cookie: linkCookie, refused: registrationRefused, done: "/register/complete"}
	passwordReset = linkFlow{purpose: cqrs.LinkReset, path: "/reset", cookie: resetCookie, refused: resetRefused, done: "/reset/complete"}
)

func registrationRefused(expired bool) error {
	if expired {
		return refuse(fiber.StatusGone, "This registration link has expired",
			"Registration links work for a limited time. Ask your CQRS User Administrator to send you a new registration email.")
	}
	// A used link is the usual case (the email opened again after
	// registering): say first what a registered person does. The same
	// words for an unknown link, so the page tells nobody which it was.
	return refuse(fiber.StatusNotFound, "This registration link cannot be used",
		"The link is not valid or has already been used. Each link works once.",
		"If you have already registered, you do not need it any more: sign in on the CQRS Login page with your User ID and the password you chose.",
		"If you have not registered yet, ask your CQRS User Administrator to send you a new registration email.")
}

func resetRefused(expired bool) error {
	if expired {
		return refuse(fiber.StatusGone, "This link has expired",
			"Links to unlock your account or reset your password work for a limited time. Ask for a new one from the CQRS Login page (Unlock Account or Forgotten Password), or ask your CQRS User Administrator.")
	}
	return refuse(fiber.StatusNotFound, "This link cannot be used",
		"The link is not valid or has already been used. Each link works once.",
		"Ask for a new one from the CQRS Login page (Unlock Account or Forgotten Password), or ask your CQRS User Administrator.")
}

// page opens the emailed link: the token moves from the URL into a
// short-lived cookie (303 to a URL without it, so it stays out of history
// and Referer headers), then the Security Information screen is shown.
func (a *app) linkPage(f linkFlow) fiber.Handler {
	return func(c *fiber.Ctx) error {
		if token := c.Query("token"); token != "" {
			a.setTokenCookie(c, f.cookie, f.path, token, linkCookieTTL)
			c.Set("Referrer-Policy", "no-referrer")
			return c.Redirect(f.path, fiber.StatusSeeOther)
		}
		_, u, err := a.linkUser(c, f)
		if err != nil {
			return err
		}
		return render(c, fiber.StatusOK, views.SecurityInformationPage(a.securityModel(c, f, u, a.policyBox("", nil, false), nil)))
	}
}

// linkUser finds the user behind the flow's cookie, or the page that
// explains why the link cannot be used.
func (a *app) linkUser(c *fiber.Ctx, f linkFlow) ([]byte, cqrs.User, error) {
	token := c.Cookies(f.cookie)
	if token == "" {
		return nil, cqrs.User{}, f.refused(false)
	}
	hash := secret.HashToken(token)
	_, u, err := a.links.LinkUser(hash, f.purpose)
	// The link's own refusal page (expired, or unknown or used), audited, not the general answer.
	switch {
	case errors.Is(err, cqrs.ErrExpired):
		if err := a.audit(c, cqrs.AuditEvent{Type: evLinkRefused, Method: string(f.purpose), Detail: "expired"}); err != nil {
			return nil, cqrs.User{}, err
		}
		return nil, cqrs.User{}, f.refused(true)
	case errors.Is(err, cqrs.ErrNotFound):
		if err := a.audit(c, cqrs.AuditEvent{Type: evLinkRefused, Method: string(f.purpose), Detail: "unknown or already used"}); err != nil {
			return nil, cqrs.User{}, err
		}
		return nil, cqrs.User{}, f.refused(false)
	case err != nil:
		return nil, cqrs.User{}, err
	}
	if u.Status == cqrs.StatusDisabled {
		if err := a.audit(c, cqrs.AuditEvent{Type: evLinkRefused, Subject: u.UserID, OrgID: u.OrgID, Method: string(f.purpose), Detail: "account disabled"}); err != nil {
			return nil, cqrs.User{}, err
		}
		return nil, cqrs.User{}, refuse(fiber.StatusForbidden, "This account is disabled",
			"The link cannot be used while the account is disabled. Contact your CQRS User Administrator.")
	}
	return hash, u, nil
}

// linkPolicy notes that the 72-hour minimum does not apply to a password
// set from an emailed link.
func linkPolicy(box views.PolicyBox) views.PolicyBox {
	for i := range box.Lines {
		if box.Lines[i].Code == string(policy.CodeMinimumAge) {
			box.Lines[i].Note = "does not apply to a password set from an emailed link"
		}
	}
	return box
}

func (a *app) securityModel(c *fiber.Ctx, f linkFlow, u cqrs.User, box views.PolicyBox, errs views.Errors) views.SecurityInformationModel {
	box = linkPolicy(box)
	return views.SecurityInformationModel{
		Page:     a.page(c, securityTitle),
		Action:   f.path,
		CheckURL: f.path + "/check",
		UserID:   u.UserID,
		Policy:   box,
		Errors:   errs,
	}
}

// linkCheck is HTMX's as-you-type check of the cheap rules.
func (a *app) linkCheck(f linkFlow) fiber.Handler {
	return func(c *fiber.Ctx) error {
		token := c.Cookies(f.cookie)
		_, u, err := a.links.LinkUser(secret.HashToken(token), f.purpose)
		if token == "" || errors.Is(err, cqrs.ErrNotFound) || errors.Is(err, cqrs.ErrExpired) || (err == nil && u.Status == cqrs.StatusDisabled) {
			// A check that lands after the submit used the link (it fires
			// 150 ms after typing), or for a link that cannot be used:
			// nothing to swap, nobody refused. The form's own submit
			// explains a link that cannot be used.
			return c.SendStatus(fiber.StatusNoContent)
		}
		if err != nil {
			return err
		}
		box, err := a.livePolicyBox(c, u)
		if err != nil {
			return err
		}
		return render(c, fiber.StatusOK, views.PolicyBoxFragment(linkPolicy(box)))
	}
}

// linkSubmit enforces the whole policy, then sets the password, consumes
// the link and records history in one transaction. A reset also unlocks the
// account, ends every session and tells the owner by email.
func (a *app) linkSubmit(f linkFlow) fiber.Handler {
	return func(c *fiber.Ctx) error {
		hash, u, err := a.linkUser(c, f)
		if err != nil {
			return err
		}
		pw, confirm := c.FormValue("password"), c.FormValue("confirm_password")
		errs, box, err := a.checkNewPassword(c, u, pw, confirm, true)
		if err != nil {
			return err
		}
		if len(errs) > 0 {
			m := a.securityModel(c, f, u, box, errs)
			if isHTMX(c) {
				return render(c, fiber.StatusUnprocessableEntity, views.SecurityInformationForm(m))
			}
			return render(c, fiber.StatusUnprocessableEntity, views.SecurityInformationPage(m))
		}
		encoded, err := a.hasher.Hash(c.UserContext(), pw)
		if err != nil {
			return err
		}
		wasLocked := !u.LockedAt.IsZero()
		var notify *cqrs.Email
		if f.purpose == cqrs.LinkReset {
			e := a.passwordResetEmail(u, a.cfg.Now())
			notify = &e
		}
		// The events are about the link's user, whom the store fills in.
		events := []cqrs.AuditEvent{a.event(c, cqrs.AuditEvent{Type: evLinkUsed, Method: string(f.purpose)})}
		if f.purpose == cqrs.LinkReset {
			events = append(events, a.event(c, cqrs.AuditEvent{Type: evPasswordReset, Method: "link", Detail: "every session ended"}))
			if wasLocked {
				events = append(events, a.event(c, cqrs.AuditEvent{Type: evUnlock, Method: "link"}))
			}
		} else {
			events = append(events, a.event(c, cqrs.AuditEvent{Type: evPasswordSet, Method: "registration"}))
		}
		u, err = a.links.SetPasswordWithLink(hash, f.purpose, encoded, notify, events...)
		// The link's own refusal page: the link was used or expired while the form was filled in.
		switch {
		case errors.Is(err, cqrs.ErrExpired):
			return f.refused(true)
		case errors.Is(err, cqrs.ErrNotFound):
			return f.refused(false)
		case err != nil:
			return err
		}
		a.wakeMailer()
		a.log.Info("password set from link", "purpose", f.purpose, "user_id", u.UserID)
		a.clearCookie(c, f.cookie, f.path)
		a.setTokenCookie(c, doneCookie, f.done, a.doneProof(f, u.UserID, a.cfg.Now().Add(doneTTL)), doneTTL)
		return redirect(c, f.done)
	}
}

// doneTTL bounds how long after the change its confirmation can be shown.
const doneTTL = 5 * time.Minute

// linkComplete confirms the password, once, right after it was set, and
// leads to the CQRS Login page. The proof is a signed, short-lived cookie
// that only the browser that set the password holds; anyone typing the
// address (or reloading the page) is sent to the CQRS Login page instead
// of being told a password changed.
func (a *app) linkComplete(f linkFlow) fiber.Handler {
	return func(c *fiber.Ctx) error {
		userID, ok := a.checkDoneProof(f, c.Cookies(doneCookie))
		if !ok {
			return c.Redirect("/login", fiber.StatusSeeOther)
		}
		a.clearCookie(c, doneCookie, f.done)
		heading := "Your password has been set"
		if f.purpose == cqrs.LinkReset {
			heading = "Your password has been changed"
		}
		return render(c, fiber.StatusOK, views.PasswordSetPage(a.page(c, heading), heading, userID, f.purpose == cqrs.LinkRegister))
	}
}

// doneProof is the completion cookie's value: the User ID and an expiry,
// signed with the app's key for this flow.
func (a *app) doneProof(f linkFlow, userID string, until time.Time) string {
	body := base64.RawURLEncoding.EncodeToString([]byte(userID)) + "." + strconv.FormatInt(until.Unix(), 10)
	return body + "." + a.doneMAC(f, body)
}

func (a *app) doneMAC(f linkFlow, body string) string {
	mac := hmac.New(sha256.New, a.csrfKey)
	mac.Write([]byte("done\x00" + string(f.purpose) + "\x00" + body))
	return base64.RawURLEncoding.EncodeToString(mac.Sum(nil))
}

// checkDoneProof returns the User ID of a valid, unexpired proof.
func (a *app) checkDoneProof(f linkFlow, proof string) (string, bool) {
	i := strings.LastIndexByte(proof, '.')
	if i < 0 || !hmac.Equal([]byte(proof[i+1:]), []byte(a.doneMAC(f, proof[:i]))) {
		return "", false
	}
	encoded, expiry, _ := strings.Cut(proof[:i], ".")
	until, err := strconv.ParseInt(expiry, 10, 64)
	if err != nil || !a.cfg.Now().Before(time.Unix(until, 0)) {
		return "", false
	}
	userID, err := base64.RawURLEncoding.DecodeString(encoded)
	if err != nil {
		return "", false
	}
	return string(userID), true
}

// checkNewPassword applies the whole policy (the stored-hash rules too) and
// the confirmation, returning per-field problems and the policy box to show.
// reset is true for a password set through an emailed link, where the
// 72-hour minimum does not apply.
func (a *app) checkNewPassword(c *fiber.Ctx, u cqrs.User, pw, confirm string, reset bool) (views.Errors, views.PolicyBox, error) {
	var errs views.Errors
	if pw == "" {
		errs = append(errs, views.FieldError{Field: "password", Message: "Enter a password."})
		if confirm == "" {
			errs = append(errs, views.FieldError{Field: "confirm_password", Message: "Confirm your password."})
		}
		return errs, a.policyBox("", nil, false), nil
	}
	in, err := a.policyInput(u, pw)
	if err != nil {
		return nil, views.PolicyBox{}, err
	}
	in.LastChanged, in.Now, in.Reset = u.PasswordChanged, u.Clock(a.cfg.Now()), reset // the user's own clock (training)
	// The stored-hash rules cost an argon2id computation per hash, so they
	// run only when the cheap rules pass.
	violations, err := a.checkPolicy(c.UserContext(), in, true)
	if err != nil {
		return nil, views.PolicyBox{}, err
	}
	if len(violations) == 0 {
		var err error
		if in.SameAsCurrent, err = a.hasher.VerifyAny(c.UserContext(), pw, nonEmpty(u.PasswordHash)); err != nil {
			return nil, views.PolicyBox{}, err
		}
		history, err := a.links.PasswordHistory(u.ID)
		if err != nil {
			return nil, views.PolicyBox{}, err
		}
		if in.SameAsPrevious, err = a.hasher.VerifyAny(c.UserContext(), pw, history); err != nil {
			return nil, views.PolicyBox{}, err
		}
	}
	if violations, err = a.checkPolicy(c.UserContext(), in, false); err != nil {
		return nil, views.PolicyBox{}, err
	}
	for _, v := range violations {
		msg := v.Message
		if v.Code == policy.CodeCategories {
			msg = completeCategories(msg)
		}
		if v.Reason != "" {
			msg += " " + v.Reason
		}
		errs = append(errs, views.FieldError{Field: "password", Message: msg})
		if v.Code == policy.CodeMinimumAge {
			errs = append(errs, views.FieldError{Field: "password", Message: "You can change your password again after " +
				policy.ChangeAllowedAt(u.PasswordChanged).Format(timeFormat) + "."})
		}
	}
	switch {
	case confirm == "":
		errs = append(errs, views.FieldError{Field: "confirm_password", Message: "Confirm your password."})
	case confirm != pw:
		errs = append(errs, views.FieldError{Field: "confirm_password", Message: "Confirm Password must match Password."})
	}
	return errs, withoutMet(a.policyBox(pw, violations, true)), nil
}

// withoutMet is the policy box shown beside a refused form: its password
// fields come back empty (a password is never echoed), so no rule is shown
// met beside them; the rules the refused password broke stay marked, as
// its error messages say.
func withoutMet(box views.PolicyBox) views.PolicyBox {
	var clear func(lines []views.PolicyLine) []views.PolicyLine
	clear = func(lines []views.PolicyLine) []views.PolicyLine {
		out := make([]views.PolicyLine, len(lines))
		for i, line := range lines {
			if line.State == views.RuleMet {
				line.State = views.RuleUnchecked
			}
			line.Sub = clear(line.Sub)
			out[i] = line
		}
		return out
	}
	box.Lines = clear(box.Lines)
	return box
}

// policyInput is what the policy needs to know about u to judge pw: the
// hardened policy refuses the user's names and organisation too.
func (a *app) policyInput(u cqrs.User, pw string) (policy.Input, error) {
	in := policy.Input{Password: pw, UserID: u.UserID, FirstName: u.FirstName, LastName: u.LastName}
	if u.OrgID != 0 {
		org, err := a.links.Organisation(u.OrgID)
		if err != nil && !errors.Is(err, cqrs.ErrNotFound) {
			return policy.Input{}, err
		}
		in.Organisation, in.ODSCode = org.Name, org.ODSCode
	}
	return in, nil
}

// livePolicyBox is the Password Policy box ticked for the password the
// form sent, as the user types: the rules that need no stored hashes.
func (a *app) livePolicyBox(c *fiber.Ctx, u cqrs.User) (views.PolicyBox, error) {
	in, err := a.policyInput(u, c.FormValue("password"))
	if err != nil {
		return views.PolicyBox{}, err
	}
	violations, err := a.checkPolicy(c.UserContext(), in, true)
	if err != nil {
		return views.PolicyBox{}, err
	}
	return a.policyBox(in.Password, violations, false), nil
}

// checkPolicy applies the policy in force (only its live rules when live).
// The hardened policy's strength estimate is CPU-heavy, so it runs in one of
// the hasher's slots, bounded like a hash; the CQRS rules are cheap.
// completeCategories finishes the categories rule's sentence, which the
// policy box completes with its list of the four, for the error summary,
// where it stands alone: "… four categories: uppercase characters (A...Z),
// lowercase …".
func completeCategories(msg string) string {
	cats := policy.Categories()
	for i, c := range cats {
		cats[i] = strings.ToLower(c[:1]) + c[1:]
	}
	return strings.TrimSuffix(msg, ":") + ": " + strings.Join(cats, ", ") + "."
}

func (a *app) checkPolicy(ctx context.Context, in policy.Input, live bool) (violations []policy.Violation, err error) {
	check := a.cfg.PasswordPolicy.Check
	if live {
		check = a.cfg.PasswordPolicy.CheckLive
	}
	if a.cfg.PasswordPolicy.Name() != policy.NameHardened {
		return check(in), nil
	}
	err = a.hasher.Do(ctx, func() { violations = check(in) })
	return violations, err
}

func nonEmpty(s string) []string {
	if s == "" {
		return nil
	}
	return []string{s}
}

// policyBox shapes the Password Policy box of the policy in force: live
// rules ticked for what was typed, stored-hash rules shown once the form was
// submitted.
func (a *app) policyBox(pw string, violations []policy.Violation, submitted bool) views.PolicyBox {
	typed := pw != ""
	state := func(code policy.Code, checked bool) views.RuleState {
		switch {
		case !checked:
			return views.RuleUnchecked
		case policy.Violates(violations, code):
			return views.RuleNotMet
		default:
			return views.RuleMet
		}
	}
	var box views.PolicyBox
	for _, r := range a.cfg.PasswordPolicy.Rules() {
		line := views.PolicyLine{Code: string(r.Code), Text: r.Text, OnSubmit: !r.Live}
		for _, v := range violations {
			if v.Code == r.Code {
				line.Reason = v.Reason
			}
		}
		if r.Live {
			line.State = state(r.Code, typed)
		} else {
			line.State = state(r.Code, typed && submitted)
		}
		if r.Code == policy.CodeCategories {
			met := policy.CategoriesMet(pw)
			for i, text := range policy.Categories() {
				sub := views.PolicyLine{Code: "category-" + string(rune('1'+i)), Text: text}
				if typed {
					sub.State = views.RuleNotMet
					if met[i] {
						sub.State = views.RuleMet
					}
				}
				line.Sub = append(line.Sub, sub)
			}
		}
		box.Lines = append(box.Lines, line)
	}
	return box
}
