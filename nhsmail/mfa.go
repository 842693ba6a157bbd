package nhsmail

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"math/big"
	"net/http"
	"slices"
	"strings"
	"time"

	qrcode "github.com/skip2/go-qrcode"

	"github.com/cqrs-local/cqrs-signin/cqrs"
	"github.com/cqrs-local/cqrs-signin/secret"
	"github.com/cqrs-local/cqrs-signin/views"
)

// The simulator's second step: Microsoft Authenticator push with number
// matching, or a code by text message, after the password. The browser that
// typed the password holds a cookie naming its pending sign-in; the "phone"
// is a page at an unguessable link derived from that cookie, so only the
// browser that typed the password (and whoever it shows the link or QR code
// to) can answer that one sign-in's prompt.

const (
	// MFAAnswerWithin is how long a prompt or a texted code can be answered,
	// on the provider's (the training) clock; NHSmail gives about a minute.
	MFAAnswerWithin = time.Minute
	// mfaKeep is how long a pending sign-in is kept unless it ends sooner,
	// so that a late look is told it timed out rather than that nothing is
	// known of it, even after the trainer moves the training clock on by
	// 72 hours or 14 days. Past its deadline nothing in it can be used.
	mfaKeep = 30 * 24 * time.Hour
	// maxCodeAttempts is how many wrong texted codes end the sign-in.
	maxCodeAttempts = 3
	// stayChoiceLifespan is how long "Don't show this again" is remembered.
	stayChoiceLifespan = 365 * 24 * time.Hour
)

// How a session was signed in (RFC 8176 values, as Entra ID sends them).
var (
	amrPassword = []string{"pwd"}
	amrMFA      = []string{"pwd", "mfa"}
)

// mfaACRValues are the acr_values entries that ask for multi-factor
// authentication: the OpenID PAPE multi-factor policy and a short "mfa".
var mfaACRValues = []string{"http://schemas.openid.net/pape/policies/2007/06/multi-factor", "mfa"}

// errMFAEnrolmentRequired is Entra ID's answer when an application asks for
// MFA and the account has no method registered.
var errMFAEnrolmentRequired = refusal("interaction_required",
	"AADSTS50079: Due to a configuration change made by your administrator, or because you moved to a new location, you must enroll in multi-factor authentication to access the application.")

// Outcomes of a pending sign-in's second step.
const (
	mfaWaiting  = ""
	mfaApproved = "approved"
	mfaDenied   = "denied"
	mfaReported = "reported"
	mfaMismatch = "mismatch"
	mfaTooMany  = "too-many"
)

// pendingMFA is a sign-in whose password was right, waiting for its
// second step.
type pendingMFA struct {
	AccountID uint64    `json:"account_id"`
	Query     string    `json:"query"`
	Private   bool      `json:"private"`
	Started   time.Time `json:"started"`  // the password was checked (provider clock)
	Deadline  time.Time `json:"deadline"` // the prompt or code can be answered until
	Method    string    `json:"method"`
	Number    string    `json:"number"` // two digits, shown on the sign-in page
	Code      string    `json:"code"`   // six digits, "texted" to the phone page
	Outcome   string    `json:"outcome"`
	Attempts  int       `json:"attempts"` // wrong codes typed
	// Drill is the trainer's control this sign-in meets, "" for none.
	Drill string `json:"drill,omitempty"`
	// Setup: the account must set up Authenticator first ("More
	// information required"); SetupStarted once Next is selected,
	// Registered once the phone added the account, SetupDone once the
	// person saw the set-up succeed.
	Setup        bool `json:"setup,omitempty"`
	SetupStarted bool `json:"setup_started,omitempty"`
	Registered   bool `json:"registered,omitempty"`
	SetupDone    bool `json:"setup_done,omitempty"`
}

// stage is where a waiting second step is, for the page that polls it:
// "more-info", "register" or "" (the prompt or the code).
func (pending pendingMFA) stage() string {
	switch {
	case pending.Setup && !pending.SetupStarted:
		return "more-info"
	case pending.Setup && !pending.Registered:
		return "register"
	}
	return ""
}

func (p *Provider) mfaCookieName() string  { return p.cfg.SessionCookie + "_mfa" }
func (p *Provider) stayCookieName() string { return p.cfg.SessionCookie + "_stay" }

// phoneToken is the phone link's token for a pending sign-in, by its key
// (the SHA-256 of the browser's secret cookie): an HMAC under the
// provider's key, so it is unguessable, differs from the cookie, and the
// waiting page (and, in training mode, the learner's own page) can show it
// again.
func (p *Provider) phoneToken(key []byte) string {
	mac := hmac.New(sha256.New, p.csrfKey)
	mac.Write([]byte("nhsmail-phone\x00"))
	mac.Write(key)
	return base64.RawURLEncoding.EncodeToString(mac.Sum(nil))
}

func randomDigits(n int) string {
	max := big.NewInt(1)
	for range n {
		max.Mul(max, big.NewInt(10))
	}
	v, err := rand.Int(rand.Reader, max)
	if err != nil {
		panic(fmt.Sprintf("nhsmail: crypto/rand failed: %v", err))
	}
	return fmt.Sprintf("%0*d", n, v)
}

// startMFA keeps the sign-in pending and sends the browser to the waiting
// page. Nothing is signed in yet. drill is the trainer's control this
// sign-in meets ("" for none): a prompt that is denied or sent to
// Authenticator even when the account has no method, or the set-up of
// Authenticator first.
func (p *Provider) startMFA(w http.ResponseWriter, r *http.Request, query string, acct cqrs.NHSmailAccount, private bool, drill string) {
	token := secret.NewToken()
	now := p.cfg.Now()
	number := randomDigits(2)
	for number[0] == '0' { // a two-digit number, 10 to 99
		number = randomDigits(2)
	}
	pending := pendingMFA{AccountID: acct.ID, Query: query, Private: private, Started: now, Deadline: now.Add(MFAAnswerWithin),
		Method: acct.MFAMethod, Number: number, Code: randomDigits(6), Drill: drill}
	if drill == cqrs.MFADrillDeny || drill == cqrs.MFADrillPhoneChanged || pending.Method == cqrs.MFANone {
		pending.Method = cqrs.MFAAuthenticator
	}
	if drill == cqrs.MFADrillPhoneChanged {
		pending.Setup, pending.Deadline = true, now.Add(mfaSetupWithin)
	}
	key := secret.HashToken(token)
	err := p.dir.UpdateNHSmailState(r.Context(), func(tx cqrs.NHSmailStateTx) error {
		if err := tx.Put(stateMFA, key, pending, tx.Now().Add(mfaKeep)); err != nil {
			return err
		}
		if err := tx.Put(stateMFAAccount, accountKey(acct.ID), key, tx.Now().Add(mfaKeep)); err != nil {
			return err
		}
		return tx.Put(stateMFAPhone, secret.HashToken(p.phoneToken(key)), key, tx.Now().Add(mfaKeep))
	})
	if err != nil {
		p.serverError(w, r, "start MFA", err)
		return
	}
	http.SetCookie(w, p.cookie(p.mfaCookieName(), token))
	http.Redirect(w, r, p.prefix+"/mfa", http.StatusSeeOther)
}

// browserMFA is the browser's pending sign-in, by its cookie.
func (p *Provider) browserMFA(r *http.Request) (token string, pending pendingMFA, ok bool, err error) {
	c, cerr := r.Cookie(p.mfaCookieName())
	if cerr != nil || c.Value == "" {
		return "", pending, false, nil
	}
	err = p.dir.ViewNHSmailState(r.Context(), func(tx cqrs.NHSmailStateTx) error {
		return tx.Get(stateMFA, secret.HashToken(c.Value), &pending)
	})
	if errors.Is(err, cqrs.ErrNotFound) {
		return "", pending, false, nil
	}
	return c.Value, pending, err == nil, err
}

// endMFA forgets a pending sign-in and the browser's cookie for it.
func (p *Provider) endMFA(ctx context.Context, w http.ResponseWriter, token string) error {
	key := secret.HashToken(token)
	err := p.dir.UpdateNHSmailState(ctx, func(tx cqrs.NHSmailStateTx) error {
		if err := tx.Delete(stateMFA, key); err != nil {
			return err
		}
		return tx.Delete(stateMFAPhone, secret.HashToken(p.phoneToken(key)))
	})
	c := p.cookie(p.mfaCookieName(), "")
	c.MaxAge = -1
	http.SetCookie(w, c)
	return err
}

// outcome is the pending sign-in's state now: an unanswered prompt past its
// deadline has timed out, and one the trainer made denied is denied once
// it has been on the page a moment.
func (p *Provider) outcome(pending pendingMFA) string {
	now := p.cfg.Now()
	switch {
	case pending.Outcome != mfaWaiting:
		return pending.Outcome
	case pending.Drill == cqrs.MFADrillDeny && !now.Before(pending.Started.Add(drillDenyAfter)):
		return mfaDenied
	case now.After(pending.Deadline):
		return "timeout"
	}
	return mfaWaiting
}

// mfaExpired is the page for a browser with no pending sign-in.
func (p *Provider) mfaExpired(w http.ResponseWriter, r *http.Request) {
	p.message(w, r, http.StatusBadRequest, "This sign-in request has expired",
		"Go back to CQRS and select Sign In again.")
}

// mfaPage is GET /mfa: the waiting page, the code page, "Stay signed in?"
// or the page for how the second step ended.
func (p *Provider) mfaPage(w http.ResponseWriter, r *http.Request) {
	token, pending, ok, err := p.browserMFA(r)
	if err != nil {
		p.serverError(w, r, "MFA", err)
		return
	}
	if !ok {
		p.mfaExpired(w, r)
		return
	}
	p.showMFA(w, r, token, pending, "")
}

// showMFA renders what the pending sign-in needs next; codeError is the
// message for a wrong texted code.
func (p *Provider) showMFA(w http.ResponseWriter, r *http.Request, token string, pending pendingMFA, codeError string) {
	acct, err := p.dir.NHSmailAccount(r.Context(), pending.AccountID)
	if err != nil && !errors.Is(err, cqrs.ErrNotFound) {
		p.serverError(w, r, "account", err)
		return
	}
	ar, aerr := p.parseAuthorize(r.Context(), pending.Query)
	p.allowFormAction(w, ar)
	if aerr != nil {
		p.authorizeError(w, r, ar, aerr)
		return
	}
	if err != nil || acct.Disabled || acct.Locked {
		p.endMFA(r.Context(), w, token)
		p.authorizeError(w, r, ar, refusal("access_denied", "The account can no longer sign in."))
		return
	}
	switch outcome := p.outcome(pending); outcome {
	case mfaApproved:
		if pending.Setup && !pending.SetupDone {
			p.render(w, r, http.StatusOK, views.NHSmailSetupPage(views.NHSmailSetupModel{Stage: "done",
				Action: p.prefix + "/mfa/setup", CSRFToken: p.csrfToken(p.csrfSeed(w, r), "setup", token), Email: acct.Email}))
			return
		}
		if choice, err := r.Cookie(p.stayCookieName()); err == nil && (choice.Value == "yes" || choice.Value == "no") {
			p.finishMFA(w, r, token, pending, acct, ar, choice.Value == "yes")
			return
		}
		p.render(w, r, http.StatusOK, views.NHSmailStaySignedInPage(views.NHSmailStayModel{
			Action: p.prefix + "/mfa/stay", CSRFToken: p.csrfToken(p.csrfSeed(w, r), "stay", token), Email: acct.Email}))
	case mfaWaiting:
		phone := p.prefix + "/phone/" + p.phoneToken(secret.HashToken(token))
		var qr string
		if png, err := qrcode.Encode(requestOrigin(r)+phone, qrcode.Medium, 256); err == nil {
			qr = "data:image/png;base64," + base64.StdEncoding.EncodeToString(png)
		}
		if stage := pending.stage(); stage != "" {
			p.render(w, r, http.StatusOK, views.NHSmailSetupPage(views.NHSmailSetupModel{Stage: stage,
				Action: p.prefix + "/mfa/setup", ContinueAction: p.prefix + "/mfa", StatusURL: p.prefix + "/mfa/status?stage=" + stage,
				CSRFToken: p.csrfToken(p.csrfSeed(w, r), "setup", token), ContinueCSRFToken: p.csrfToken(p.csrfSeed(w, r), "mfa", token),
				Email: acct.Email, PhoneURL: phone, PhoneQR: qr, OtherAccountURL: p.prefix + "/authorize?" + pending.Query, JobAid: p.cfg.JobAid}))
			return
		}
		m := views.NHSmailMFAModel{
			Action: p.prefix + "/mfa", StatusURL: p.prefix + "/mfa/status", CSRFToken: p.csrfToken(p.csrfSeed(w, r), "mfa", token),
			Email: acct.Email, Method: pending.Method, Number: pending.Number, PhoneURL: phone, PhoneQR: qr, PhoneMasked: maskedPhone(acct),
			CodeError: codeError, JobAid: p.cfg.JobAid, TryItOut: pending.Setup,
		}
		status := http.StatusOK
		if codeError != "" {
			status = http.StatusUnauthorized
		}
		p.render(w, r, status, views.NHSmailMFAPage(m))
	default:
		if err := p.endMFA(r.Context(), w, token); err != nil {
			p.serverError(w, r, "end MFA", err)
			return
		}
		again := &views.NHSmailLink{URL: p.prefix + "/authorize?" + pending.Query, Text: "Sign in again"}
		heading, paragraphs := mfaEndWords(outcome, pending.Method)
		p.messageWithLink(w, r, http.StatusUnauthorized, heading, again, paragraphs...)
	}
}

// mfaEndWords are the words Microsoft's sign-in page shows when the second
// step ends without a sign-in.
func mfaEndWords(outcome, method string) (string, []string) {
	switch outcome {
	case "timeout":
		if method == cqrs.MFAText {
			return "Your code has expired", []string{"The code we texted you can no longer be used.", "Sign in again to get a new code."}
		}
		return "We didn't hear from you", []string{"We sent an identity verification request to your Microsoft Authenticator app, but we didn't receive a response in time.", "Sign in again to send another request."}
	case mfaDenied:
		return "Request denied", []string{"The sign-in request was denied in the Microsoft Authenticator app.", "If it was you, sign in again and approve the request."}
	case mfaReported:
		return "Request denied", []string{"The sign-in request was reported as not yours (\"No, it's not me\"). Your NHSmail administrator has been told.", "If it was you after all, sign in again and approve the request."}
	case mfaMismatch:
		return "Request denied", []string{"The number entered in the Microsoft Authenticator app didn't match the number shown when you signed in.", "Sign in again, and enter the number shown on the sign-in page."}
	case mfaTooMany:
		return "You've entered the wrong code too many times", []string{"You didn't enter the expected verification code, so we stopped this sign-in.", "Sign in again to get a new code."}
	}
	return "This sign-in request has expired", []string{"Go back to CQRS and select Sign In again."}
}

// mfaStatus is GET /mfa/status, polled by the waiting page: 204 while the
// prompt waits, then HX-Redirect to the page for what happened.
func (p *Provider) mfaStatus(w http.ResponseWriter, r *http.Request) {
	_, pending, ok, err := p.browserMFA(r)
	if err != nil {
		p.serverError(w, r, "MFA status", err)
		return
	}
	if ok && p.outcome(pending) == mfaWaiting && pending.stage() == r.URL.Query().Get("stage") {
		w.WriteHeader(http.StatusNoContent)
		return
	}
	w.Header().Set("HX-Redirect", p.prefix+"/mfa")
	w.WriteHeader(http.StatusOK)
}

// mfaForm checks a form posted from the browser's pending second step
// (same origin, a pending step, the form's CSRF token) and returns the
// step; when it returns !ok it has answered.
func (p *Provider) mfaForm(w http.ResponseWriter, r *http.Request, form string) (string, pendingMFA, bool) {
	if !p.sameOrigin(r) {
		p.crossSite(w, r)
		return "", pendingMFA{}, false
	}
	token, pending, ok, err := p.browserMFA(r)
	if err != nil {
		p.serverError(w, r, "MFA", err)
		return "", pendingMFA{}, false
	}
	if !ok {
		p.mfaExpired(w, r)
		return "", pendingMFA{}, false
	}
	if !p.csrfValid(r, form, token) {
		p.formExpired(w, r, pending.Query)
		return "", pendingMFA{}, false
	}
	return token, pending, true
}

// mfaAnswer is POST /mfa: "Continue" on the waiting page (for a browser
// without JavaScript) or a texted code typed.
func (p *Provider) mfaAnswer(w http.ResponseWriter, r *http.Request) {
	token, pending, ok := p.mfaForm(w, r, "mfa")
	if !ok {
		return
	}
	if pending.Method != cqrs.MFAText || p.outcome(pending) != mfaWaiting {
		http.Redirect(w, r, p.prefix+"/mfa", http.StatusSeeOther)
		return
	}
	// Spaces and dashes a pasted code may carry are not the code's.
	typed := strings.Map(func(r rune) rune {
		if r == ' ' || r == '-' {
			return -1
		}
		return r
	}, r.PostForm.Get("code"))
	wrong := false
	err := p.dir.UpdateNHSmailState(r.Context(), func(tx cqrs.NHSmailStateTx) error {
		key := secret.HashToken(token)
		if err := tx.Get(stateMFA, key, &pending); err != nil {
			return err
		}
		if pending.Outcome != mfaWaiting {
			return nil
		}
		if hmac.Equal([]byte(typed), []byte(pending.Code)) {
			pending.Outcome = mfaApproved
		} else {
			wrong = true
			pending.Attempts++
			if pending.Attempts >= maxCodeAttempts {
				pending.Outcome = mfaTooMany
			}
		}
		return tx.Put(stateMFA, key, pending, tx.Now().Add(mfaKeep))
	})
	if errors.Is(err, cqrs.ErrNotFound) {
		p.mfaExpired(w, r)
		return
	}
	if err != nil {
		p.serverError(w, r, "MFA code", err)
		return
	}
	if wrong && pending.Outcome == mfaWaiting {
		p.showMFA(w, r, token, pending, "You didn't enter the expected verification code. Please try again.")
		return
	}
	http.Redirect(w, r, p.prefix+"/mfa", http.StatusSeeOther)
}

// mfaSetup is POST /mfa/setup: Next on "More information required", and
// Done once the set-up has succeeded.
func (p *Provider) mfaSetup(w http.ResponseWriter, r *http.Request) {
	token, _, ok := p.mfaForm(w, r, "setup")
	if !ok {
		return
	}
	err := p.dir.UpdateNHSmailState(r.Context(), func(tx cqrs.NHSmailStateTx) error {
		key := secret.HashToken(token)
		var pending pendingMFA
		if err := tx.Get(stateMFA, key, &pending); err != nil {
			return err
		}
		switch outcome := p.outcome(pending); {
		case !pending.Setup:
			return nil
		case outcome == mfaWaiting && !pending.SetupStarted:
			pending.SetupStarted = true
		case outcome == mfaApproved && !pending.SetupDone:
			pending.SetupDone = true
		default:
			return nil
		}
		return tx.Put(stateMFA, key, pending, tx.Now().Add(mfaKeep))
	})
	if errors.Is(err, cqrs.ErrNotFound) {
		p.mfaExpired(w, r)
		return
	}
	if err != nil {
		p.serverError(w, r, "MFA set-up", err)
		return
	}
	http.Redirect(w, r, p.prefix+"/mfa", http.StatusSeeOther)
}

// mfaStay is POST /mfa/stay: the answer to "Stay signed in?".
func (p *Provider) mfaStay(w http.ResponseWriter, r *http.Request) {
	token, pending, ok := p.mfaForm(w, r, "stay")
	if !ok {
		return
	}
	if p.outcome(pending) != mfaApproved {
		http.Redirect(w, r, p.prefix+"/mfa", http.StatusSeeOther)
		return
	}
	stay := r.PostForm.Get("stay")
	if stay != "yes" && stay != "no" {
		p.message(w, r, http.StatusBadRequest, "The request could not be read", "Select Yes or No.")
		return
	}
	if r.PostForm.Get("dont_show") != "" {
		c := p.cookie(p.stayCookieName(), stay)
		c.MaxAge = int(stayChoiceLifespan / time.Second)
		http.SetCookie(w, c)
	}
	acct, err := p.dir.NHSmailAccount(r.Context(), pending.AccountID)
	if err != nil && !errors.Is(err, cqrs.ErrNotFound) {
		p.serverError(w, r, "account", err)
		return
	}
	ar, aerr := p.parseAuthorize(r.Context(), pending.Query)
	p.allowFormAction(w, ar)
	if aerr != nil {
		p.authorizeError(w, r, ar, aerr)
		return
	}
	if err != nil || acct.Disabled || acct.Locked {
		p.endMFA(r.Context(), w, token)
		p.authorizeError(w, r, ar, refusal("access_denied", "The account can no longer sign in."))
		return
	}
	p.finishMFA(w, r, token, pending, acct, ar, stay == "yes")
}

// finishMFA signs the browser in to the simulator after both steps: the
// session outlives the browser when the person said to stay signed in or
// ticked "This is a private computer".
func (p *Provider) finishMFA(w http.ResponseWriter, r *http.Request, token string, pending pendingMFA, acct cqrs.NHSmailAccount, ar *authorizeRequest, stay bool) {
	if err := p.endMFA(r.Context(), w, token); err != nil {
		p.serverError(w, r, "end MFA", err)
		return
	}
	if err := p.startSession(w, r, acct.ID, pending.Private || stay, amrMFA); err != nil {
		p.serverError(w, r, "start session", err)
		return
	}
	if acct.ConsentRequired {
		p.askConsent(w, r, ar, pending.Query, acct, pending.Started, amrMFA)
		return
	}
	p.issueCode(w, r, ar, acct, pending.Started, amrMFA)
}

// phonePending finds the pending sign-in a phone link is for.
func (p *Provider) phonePending(ctx context.Context, phoneToken string) (key []byte, pending pendingMFA, ok bool, err error) {
	if phoneToken == "" {
		return nil, pending, false, nil
	}
	err = p.dir.ViewNHSmailState(ctx, func(tx cqrs.NHSmailStateTx) error {
		if err := tx.Get(stateMFAPhone, secret.HashToken(phoneToken), &key); err != nil {
			return err
		}
		return tx.Get(stateMFA, key, &pending)
	})
	if errors.Is(err, cqrs.ErrNotFound) {
		return nil, pending, false, nil
	}
	return key, pending, err == nil, err
}

// phone is GET and POST /phone/{token}: the page that plays the person's
// phone for one pending sign-in.
func (p *Provider) phone(w http.ResponseWriter, r *http.Request, phoneToken string) {
	w.Header().Set("Referrer-Policy", "no-referrer") // the path is the capability
	key, pending, ok, err := p.phonePending(r.Context(), phoneToken)
	if err != nil {
		p.serverError(w, r, "phone", err)
		return
	}
	if !ok {
		p.render(w, r, http.StatusNotFound, views.NHSmailPhonePage(views.NHSmailPhoneModel{State: "none"}))
		return
	}
	acct, err := p.dir.NHSmailAccount(r.Context(), pending.AccountID)
	if err != nil {
		p.serverError(w, r, "account", err)
		return
	}
	m := views.NHSmailPhoneModel{Action: p.prefix + "/phone/" + phoneToken, Email: acct.Email, Method: pending.Method,
		CSRFToken: p.csrfToken(p.csrfSeed(w, r), "phone", phoneToken), ClientName: "CQRS"}
	if ar, aerr := p.parseAuthorize(r.Context(), pending.Query); aerr == nil {
		m.ClientName = ar.client.name
	}
	if r.Method == http.MethodPost {
		if !p.sameOrigin(r) {
			p.crossSite(w, r)
			return
		}
		if !p.csrfValid(r, "phone", phoneToken) {
			p.message(w, r, http.StatusForbidden, "This page has expired", "Reload the page and answer again.")
			return
		}
		if pending, err = p.answerPrompt(r.Context(), key, acct, r.PostForm.Get("decision"), r.PostForm.Get("number")); err != nil {
			if errors.Is(err, cqrs.ErrNotFound) {
				p.render(w, r, http.StatusNotFound, views.NHSmailPhonePage(views.NHSmailPhoneModel{State: "none"}))
				return
			}
			p.serverError(w, r, "phone answer", err)
			return
		}
	}
	switch outcome := p.outcome(pending); {
	case outcome == mfaWaiting && pending.Drill == cqrs.MFADrillTimeout:
		// The trainer's "times out": nothing reaches this phone.
		m.State = "silent"
	case outcome == mfaWaiting && pending.Setup && !pending.Registered:
		m.State = "setup"
	case pending.Method == cqrs.MFAText:
		m.State, m.Code = "text", pending.Code
		if outcome != mfaWaiting {
			m.State = "answered"
		}
	case outcome == mfaWaiting:
		m.State = "prompt"
	case outcome == "timeout":
		m.State = "timeout"
	default:
		m.State, m.Outcome = "answered", outcome
	}
	p.render(w, r, http.StatusOK, views.NHSmailPhonePage(m))
}

// answerPrompt records the phone's answer to an Authenticator prompt that
// is still waiting: Approve with the right number approves, with another
// number refuses, Deny denies and "No, it's not me" denies and reports. A
// prompt the trainer made denied is denied whatever the answer, and one
// they made time out never arrives. During the set-up after "More
// information required", "Add account" registers the phone, and the
// approval of its first prompt makes Authenticator the account's method.
func (p *Provider) answerPrompt(ctx context.Context, key []byte, acct cqrs.NHSmailAccount, decision, number string) (pendingMFA, error) {
	var pending pendingMFA
	reported, registered := false, false
	err := p.dir.UpdateNHSmailState(ctx, func(tx cqrs.NHSmailStateTx) error {
		if err := tx.Get(stateMFA, key, &pending); err != nil {
			return err
		}
		if pending.Method != cqrs.MFAAuthenticator || p.outcome(pending) != mfaWaiting || pending.Drill == cqrs.MFADrillTimeout {
			return nil
		}
		if pending.Setup && !pending.Registered {
			if decision != "register" {
				return nil
			}
			// The set-up's test prompt gets the usual time to answer.
			pending.SetupStarted, pending.Registered, pending.Deadline = true, true, p.cfg.Now().Add(MFAAnswerWithin)
			return tx.Put(stateMFA, key, pending, tx.Now().Add(mfaKeep))
		}
		switch decision {
		case "approve":
			pending.Outcome = mfaMismatch
			if strings.TrimSpace(number) == pending.Number {
				pending.Outcome = mfaApproved
				registered = pending.Setup
			}
			if pending.Drill == cqrs.MFADrillDeny {
				pending.Outcome = mfaDenied
			}
		case "deny":
			pending.Outcome = mfaDenied
		case "report":
			pending.Outcome, reported = mfaReported, true
		default:
			return nil
		}
		return tx.Put(stateMFA, key, pending, tx.Now().Add(mfaKeep))
	})
	if err == nil && reported {
		err = p.dir.Audit(ctx, cqrs.AuditEvent{Type: cqrs.AuditNHSmailMFAReported, Subject: acct.Email, Method: "nhsmail-simulator",
			Detail: "a sign-in prompt was answered \"No, it's not me\""})
	}
	if err == nil && registered {
		if err = p.dir.SetNHSmailMFA(ctx, acct.ID, cqrs.MFAAuthenticator); err == nil {
			err = p.dir.Audit(ctx, cqrs.AuditEvent{Type: cqrs.AuditNHSmailMFARegistered, Subject: acct.Email, Method: "nhsmail-simulator",
				Detail: "Microsoft Authenticator set up after \"More information required\""})
		}
	}
	return pending, err
}

// maskedPhone is the account's simulated mobile number as the sign-in page
// shows it: only the last two digits, from Ofcom's drama range.
func maskedPhone(acct cqrs.NHSmailAccount) string {
	return fmt.Sprintf("+44 XXXXXXXX%02d", acct.ID%100)
}

// requestOrigin is the scheme and host the browser used, so the QR code
// leads a phone on the same network to the address the learner opened.
func requestOrigin(r *http.Request) string {
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	return scheme + "://" + r.Host
}

// sessionAMR is how the browser's simulator session was signed in.
func (p *Provider) sessionAMR(r *http.Request) []string {
	c, err := r.Cookie(p.cfg.SessionCookie)
	if err != nil || c.Value == "" {
		return nil
	}
	var amr []string
	if err := p.dir.ViewNHSmailState(r.Context(), func(tx cqrs.NHSmailStateTx) error {
		return tx.Get(stateSessionAMR, secret.HashToken(c.Value), &amr)
	}); err != nil {
		return amrPassword
	}
	return slices.Clip(amr)
}
