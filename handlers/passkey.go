package handlers

import (
	"context"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"net"
	"net/url"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/go-webauthn/webauthn/protocol"
	"github.com/go-webauthn/webauthn/webauthn"
	"github.com/gofiber/fiber/v2"

	"github.com/cqrs-local/cqrs-signin/cqrs"
	"github.com/cqrs-local/cqrs-signin/secret"
	"github.com/cqrs-local/cqrs-signin/views"
)

// PasskeyStore is what passkeys need from the store: the ceremonies begun
// (kept server-side, so every instance on PostgreSQL sees them), a
// person's passkeys, and the second step's decision.
type PasskeyStore interface {
	SavePasskeyChallenge(ctx context.Context, ch cqrs.PasskeyChallenge) error
	TakePasskeyChallenge(ctx context.Context, owner []byte, purpose string) (cqrs.PasskeyChallenge, error)
	Passkeys(ctx context.Context, userID uint64) ([]cqrs.Passkey, error)
	AddPasskey(ctx context.Context, p cqrs.Passkey, events ...cqrs.AuditEvent) error
	RenamePasskey(ctx context.Context, userID uint64, id []byte, name string, events ...cqrs.AuditEvent) error
	RemovePasskey(ctx context.Context, userID uint64, id []byte, events ...cqrs.AuditEvent) (int, error)
	PasskeySignIn(ctx context.Context, a cqrs.PasskeyAttempt) (cqrs.SignInResult, error)
}

const (
	passkeysPath         = "/account/passkeys"
	passkeyStepPath      = secondFactorPath + "/passkey"
	passkeyStepOptions   = passkeyStepPath + "/options"
	passkeyAccountOption = passkeysPath + "/options"
	// passkeyFailed is the one answer to every refused passkey at the
	// second step, whatever was wrong (a bad signature, another person's
	// passkey, a locked account).
	passkeyFailed = "Your passkey was not accepted. Try again, or use your authenticator app or one of your recovery codes."
	// passkeyRequestOver: the ceremony's challenge is gone (used, replaced
	// by a newer one, or out of time); nothing was counted or changed.
	passkeyRequestOver = "The passkey request has run out or was already answered. Nothing was changed: choose the passkey button again."
)

// passkeySite is where this request's page may offer passkeys: the
// relying party's ID and origin, or why not (Why). It comes from the
// site's settings (--public-url, the certificate) and, without a public
// address, from the request's Host, which hostAllowed has already
// matched against the names the app serves; never from a forwarded header.
type passkeySite struct {
	RPID, Origin string
	Why          string
}

func (a *app) passkeySite(c *fiber.Ctx) passkeySite {
	if a.cfg.PublicOrigin != "" {
		u, err := url.Parse(a.cfg.PublicOrigin)
		if err != nil || u.Host == "" {
			return passkeySite{Why: "Passkeys are not offered: the site's public address could not be read."}
		}
		if u.Scheme != "https" {
			return passkeySite{Why: "Passkeys are not offered: the site's public address (" + a.cfg.PublicOrigin + ") is plain HTTP, and browsers offer passkeys only to secure (https) sites, or to localhost on the computer itself."}
		}
		return siteFor("https", u.Host, true)
	}
	scheme := "http"
	if a.cfg.Secure {
		scheme = "https"
	}
	// HSTS is set exactly when the site serves its own certificate
	// (--tls-cert); the other TLS is the classroom's self-made one.
	return siteFor(scheme, string(c.Request().Host()), a.cfg.HSTS)
}

// siteFor decides for an origin's scheme and host (with its port);
// trustedCert says an https origin's certificate is one browsers trust.
func siteFor(scheme, hostPort string, trustedCert bool) passkeySite {
	host := hostPort
	if h, _, err := net.SplitHostPort(hostPort); err == nil {
		host = h
	}
	host = strings.ToLower(strings.Trim(host, "[]"))
	local := host == "localhost" || strings.HasSuffix(host, ".localhost")
	switch {
	case host == "":
		return passkeySite{Why: "Passkeys are not offered: this address has no host name."}
	case net.ParseIP(host) != nil:
		return passkeySite{Why: "Passkeys are not offered at this address: " + host + " is a bare IP address, and browsers use passkeys only with a site under a host name. On the computer that runs CQRS, open it at localhost instead; otherwise use your authenticator app or a recovery code."}
	case scheme == "https" && !trustedCert:
		return passkeySite{Why: "Passkeys are not offered at this address: CQRS serves it with the certificate it made for itself, which browsers do not trust, and they use passkeys only with sites whose certificate they trust. Use your authenticator app or a recovery code."}
	case scheme == "http" && !local:
		return passkeySite{Why: "Passkeys are not offered at this address: it is plain HTTP under the name " + host + ", and browsers use passkeys only with secure (https) sites, or with localhost on the computer itself. Use your authenticator app or a recovery code."}
	}
	return passkeySite{RPID: host, Origin: scheme + "://" + strings.ToLower(hostPort)}
}

// relyingParties are the WebAuthn configurations made so far, one per
// origin (a site has one or two: its public address, localhost).
var relyingParties sync.Map

func relyingPartyFor(site passkeySite) (*webauthn.WebAuthn, error) {
	if w, ok := relyingParties.Load(site.Origin); ok {
		return w.(*webauthn.WebAuthn), nil
	}
	w, err := webauthn.New(&webauthn.Config{
		RPID:                  site.RPID,
		RPDisplayName:         "CQRS",
		RPOrigins:             []string{site.Origin},
		AttestationPreference: protocol.PreferNoAttestation,
		AuthenticatorSelection: protocol.AuthenticatorSelection{
			ResidentKey:      protocol.ResidentKeyRequirementPreferred,
			UserVerification: protocol.VerificationPreferred,
		},
	})
	if err != nil {
		return nil, err
	}
	actual, _ := relyingParties.LoadOrStore(site.Origin, w)
	return actual.(*webauthn.WebAuthn), nil
}

// passkeyUser is a CQRS account as the WebAuthn library sees it. The user
// handle is the account's number, which says nothing about the person.
type passkeyUser struct {
	id          uint64
	name        string
	displayName string
	credentials []webauthn.Credential
}

func (u passkeyUser) WebAuthnID() []byte {
	return binary.BigEndian.AppendUint64(nil, u.id)
}
func (u passkeyUser) WebAuthnName() string                       { return u.name }
func (u passkeyUser) WebAuthnDisplayName() string                { return u.displayName }
func (u passkeyUser) WebAuthnCredentials() []webauthn.Credential { return u.credentials }

func newPasskeyUser(id uint64, account, displayName string, keys []cqrs.Passkey) passkeyUser {
	u := passkeyUser{id: id, name: account, displayName: displayName}
	if u.displayName == "" {
		u.displayName = account
	}
	for _, k := range keys {
		var cred webauthn.Credential
		if json.Unmarshal(k.Credential, &cred) == nil {
			u.credentials = append(u.credentials, cred)
		}
	}
	return u
}

func descriptors(u passkeyUser) []protocol.CredentialDescriptor {
	var out []protocol.CredentialDescriptor
	for _, cred := range u.credentials {
		out = append(out, cred.Descriptor())
	}
	return out
}

// passkeyOptions is what the page's script asks the browser for: create a
// passkey, or sign with one.
type passkeyOptions struct {
	Mode      string `json:"mode"` // "create" or "get"
	PublicKey any    `json:"publicKey"`
}

// passkeyRefusal answers the script's request for options with a message
// it shows in the page's error summary.
func passkeyRefusal(c *fiber.Ctx, status int, message string) error {
	return c.Status(status).JSON(fiber.Map{"message": message})
}

// beginPasskey starts a ceremony for u on site and keeps its state,
// bound to owner (the hash of the session's or the pending sign-in's
// token), for the form's answer.
func (a *app) beginPasskey(c *fiber.Ctx, site passkeySite, u passkeyUser, owner []byte, purpose string) error {
	wa, err := relyingPartyFor(site)
	if err != nil {
		return err
	}
	var (
		opts passkeyOptions
		sd   *webauthn.SessionData
	)
	if purpose == cqrs.PasskeyAssert {
		var assertion *protocol.CredentialAssertion
		assertion, sd, err = wa.BeginLogin(u)
		if assertion != nil {
			opts = passkeyOptions{Mode: "get", PublicKey: assertion.Response}
		}
	} else {
		var creation *protocol.CredentialCreation
		creation, sd, err = wa.BeginRegistration(u, webauthn.WithExclusions(descriptors(u)))
		if creation != nil {
			opts = passkeyOptions{Mode: "create", PublicKey: creation.Response}
		}
	}
	if err != nil {
		return err
	}
	session, err := json.Marshal(sd)
	if err != nil {
		return err
	}
	err = a.secondFactor.SavePasskeyChallenge(c.UserContext(), cqrs.PasskeyChallenge{Owner: owner, Purpose: purpose, UserID: u.id, Session: session,
		Expires: a.cfg.Now().Add(cqrs.PasskeyChallengeLifespan)})
	if err != nil {
		return err
	}
	c.Set(fiber.HeaderCacheControl, "no-store")
	return c.JSON(opts)
}

// takePasskeyChallenge is the ceremony of owner and purpose, taken (it
// answers once) and checked to be for userID.
func (a *app) takePasskeyChallenge(c *fiber.Ctx, owner []byte, purpose string, userID uint64) (webauthn.SessionData, error) {
	var sd webauthn.SessionData
	ch, err := a.secondFactor.TakePasskeyChallenge(c.UserContext(), owner, purpose)
	if err != nil {
		return sd, err
	}
	if ch.UserID != userID || json.Unmarshal(ch.Session, &sd) != nil {
		return sd, cqrs.ErrExpired
	}
	return sd, nil
}

// registerCredential checks a new passkey's answer (attestation "none":
// its key, the challenge, origin and relying party).
func registerCredential(site passkeySite, u passkeyUser, sd webauthn.SessionData, raw string) (*webauthn.Credential, error) {
	wa, err := relyingPartyFor(site)
	if err != nil {
		return nil, err
	}
	parsed, err := protocol.ParseCredentialCreationResponseBytes([]byte(raw))
	if err != nil {
		return nil, err
	}
	return wa.CreateCredential(u, sd, parsed)
}

// --- The second step ---

// passkeyPurpose is the ceremony the second step offers someone: a first
// passkey when they have no second factor at all, their passkeys when
// they have some; none otherwise (an authenticator app only).
func passkeyPurpose(f *cqrs.SecondFactor, keys []cqrs.Passkey) string {
	switch {
	case f == nil && len(keys) == 0:
		return cqrs.PasskeyEnrol
	case len(keys) > 0:
		return cqrs.PasskeyAssert
	}
	return ""
}

// passkeyStep is the second step page's passkey part.
func (a *app) passkeyStep(c *fiber.Ctx, p cqrs.PendingSignIn, f *cqrs.SecondFactor) (views.PasskeyStep, error) {
	keys, err := a.secondFactor.Passkeys(c.UserContext(), p.UserID)
	if err != nil {
		return views.PasskeyStep{}, err
	}
	site := a.passkeySite(c)
	s := views.PasskeyStep{Why: site.Why, App: f != nil && len(f.Sealed) > 0}
	switch passkeyPurpose(f, keys) {
	case cqrs.PasskeyEnrol:
		s.Enrol = true
	case cqrs.PasskeyAssert:
		s.Has = true
	}
	return s, nil
}

// secondStepPasskeyOptions begins the second step's ceremony for the
// pending sign-in: a first passkey, or a signature from one of theirs.
func (a *app) secondStepPasskeyOptions(c *fiber.Ctx) error {
	hash, p, f, err := a.pendingSignIn(c)
	if err != nil {
		return passkeyRefusal(c, fiber.StatusGone, "The time to give your second step has run out, or you have signed in since. Sign in again from the CQRS Login page.")
	}
	site := a.passkeySite(c)
	if site.Why != "" {
		return passkeyRefusal(c, fiber.StatusConflict, site.Why)
	}
	keys, err := a.secondFactor.Passkeys(c.UserContext(), p.UserID)
	if err != nil {
		return err
	}
	purpose := passkeyPurpose(f, keys)
	if purpose == "" {
		return passkeyRefusal(c, fiber.StatusConflict, "You have no passkey set up. Use your authenticator app or a recovery code.")
	}
	return a.beginPasskey(c, site, newPasskeyUser(p.UserID, p.Account, "", keys), hash, purpose)
}

// secondStepPasskey checks the browser's passkey answer to the second
// step. The challenge is taken first (so an answer is checked once), the
// signature checked here, and the store decides, as for codes, in the
// transaction that re-reads the failure count and the lock: a refused
// passkey counts as a wrong password does.
func (a *app) secondStepPasskey(c *fiber.Ctx) error {
	_, p, _, err := a.pendingSignIn(c)
	if err != nil {
		return err
	}
	release, err := a.signInQueue.wait(c.UserContext(), strings.ToLower(p.Account), a.cfg.SignInQueueWait)
	if err != nil {
		return err
	}
	defer release()
	hash, p, f, err := a.pendingSignIn(c)
	if err != nil {
		return err
	}
	keys, err := a.secondFactor.Passkeys(c.UserContext(), p.UserID)
	if err != nil {
		return err
	}
	purpose := passkeyPurpose(f, keys)
	sd, err := a.takePasskeyChallenge(c, hash, purpose, p.UserID)
	if purpose == "" || errors.Is(err, cqrs.ErrExpired) {
		return a.renderSecondFactor(c, fiber.StatusUnprocessableEntity, hash, p, f, views.Errors{{Field: "passkey", Message: passkeyRequestOver}})
	}
	if err != nil {
		return err
	}
	site := a.passkeySite(c)
	if site.Why != "" {
		return a.renderSecondFactor(c, fiber.StatusUnprocessableEntity, hash, p, f, views.Errors{{Field: "passkey", Message: site.Why}})
	}
	u := newPasskeyUser(p.UserID, p.Account, "", keys)
	token := secret.NewToken()
	attempt := cqrs.PasskeyAttempt{PendingHash: hash, SessionHash: secret.HashToken(token), LockAfter: a.cfg.LockAfter,
		IP: c.IP(), LockNotice: a.lockedEmail(c.UserContext()), LinkTTL: a.cfg.ResetLinkTTL}
	raw := c.FormValue("credential")
	var recoveryCodes []string
	if purpose == cqrs.PasskeyEnrol {
		attempt.Kind = cqrs.PasskeyKindEnrol
		cred, err := registerCredential(site, u, sd, raw)
		if err == nil {
			attempt.Verified = true
			attempt.Passkey, err = passkeyOf(cred, defaultPasskeyName(c.Get(fiber.HeaderUserAgent)))
		}
		if err != nil {
			a.log.Info("passkey not registered at the second step", "user_id", p.Account, "err", err)
		}
		recoveryCodes = secret.NewRecoveryCodes(cqrs.RecoveryCodeCount)
		attempt.RecoveryCodes = hashRecoveryCodes(recoveryCodes)
	} else {
		attempt.Kind = cqrs.PasskeyKindUse
		cred, err := a.checkAssertion(site, u, sd, raw, &attempt)
		if err == nil {
			attempt.Verified = true
			attempt.CloneWarning = cred.Authenticator.CloneWarning
			attempt.Passkey.Credential, err = json.Marshal(cred)
		}
		if err != nil {
			a.log.Info("passkey not accepted at the second step", "user_id", p.Account, "err", err)
		}
		if attempt.CloneWarning {
			a.log.Warn("passkey's signature count went backwards: the authenticator may have been copied; refused", "user_id", p.Account)
		}
	}
	res, err := a.secondFactor.PasskeySignIn(c.UserContext(), attempt)
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
		return a.renderSecondFactor(c, fiber.StatusUnauthorized, hash, p, f, views.Errors{{Field: "passkey", Message: passkeyFailed}})
	}
	a.clearCookie(c, pendingCookie, secondFactorPath)
	a.setSessionCookie(c, token)
	next := a.landing(res.User, safeNext(c.FormValue("next")))
	if recoveryCodes != nil {
		return a.showRecoveryCodes(c, recoveryCodes, next)
	}
	return redirect(c, next)
}

// checkAssertion checks a passkey's signature against u's passkeys; the
// credential ID it names goes into attempt whatever the outcome, so the
// store re-reads that passkey.
func (a *app) checkAssertion(site passkeySite, u passkeyUser, sd webauthn.SessionData, raw string, attempt *cqrs.PasskeyAttempt) (*webauthn.Credential, error) {
	wa, err := relyingPartyFor(site)
	if err != nil {
		return nil, err
	}
	parsed, err := protocol.ParseCredentialRequestResponseBytes([]byte(raw))
	if err != nil {
		return nil, err
	}
	attempt.Passkey.ID = parsed.RawID
	return wa.ValidateLogin(u, sd, parsed)
}

func passkeyOf(cred *webauthn.Credential, name string) (cqrs.Passkey, error) {
	b, err := json.Marshal(cred)
	return cqrs.Passkey{ID: cred.ID, Name: name, Credential: b}, err
}

// defaultPasskeyName names a passkey its owner did not name after the
// browser and system it was made in ("Chrome on Windows").
func defaultPasskeyName(userAgent string) string {
	has := func(s string) bool { return strings.Contains(userAgent, s) }
	browser := ""
	switch {
	case has("Edg/"):
		browser = "Edge"
	case has("Firefox/"):
		browser = "Firefox"
	case has("Chrome/") || has("Chromium/") || has("HeadlessChrome/"):
		browser = "Chrome"
	case has("Safari/"):
		browser = "Safari"
	}
	system := ""
	switch {
	case has("Android"):
		system = "Android"
	case has("iPhone") || has("iPad"):
		system = "iOS"
	case has("Windows"):
		system = "Windows"
	case has("Mac OS X") || has("Macintosh"):
		system = "macOS"
	case has("CrOS"):
		system = "ChromeOS"
	case has("Linux"):
		system = "Linux"
	}
	switch {
	case browser != "" && system != "":
		return "Passkey in " + browser + " on " + system
	case browser != "":
		return "Passkey in " + browser
	case system != "":
		return "Passkey on " + system
	}
	return "Passkey"
}

// validatePasskeyName checks a name its owner typed (empty: none given).
func validatePasskeyName(name string) string {
	switch {
	case utf8.RuneCountInString(name) > cqrs.PasskeyNameMax:
		return "Enter a name of 60 characters or fewer."
	case hasControl(name) || !utf8.ValidString(name):
		return "Enter a name without special characters such as line breaks."
	}
	return ""
}

// --- The account's passkeys ---

// passkeysNotice rides to the passkeys page after a change.
type passkeysNotice struct {
	Notice string `json:"notice"`
}

// passkeyAccount is what the account's passkeys page and its changes
// read: the setting, whether the person has a second factor, theirs.
func (a *app) passkeyAccount(c *fiber.Ctx, u cqrs.User) (views.PasskeysModel, []cqrs.Passkey, error) {
	m := views.PasskeysModel{Required: a.sealer != nil && a.cfg.SecondFactor.Covers(u)}
	if a.secondFactor == nil {
		return m, nil, nil
	}
	st, err := a.secondFactor.SecondFactorStatus(c.UserContext(), u.ID)
	if err != nil {
		return m, nil, err
	}
	m.Enrolled = !st.Enrolled.IsZero()
	keys, err := a.secondFactor.Passkeys(c.UserContext(), u.ID)
	if err != nil {
		return m, nil, err
	}
	for _, k := range keys {
		row := views.PasskeyRow{ID: base64.RawURLEncoding.EncodeToString(k.ID), Name: k.Name, Added: u.Clock(k.Added).Format(timeFormat)}
		if !k.LastUsed.IsZero() {
			row.LastUsed = u.Clock(k.LastUsed).Format(timeFormat)
		}
		m.Keys = append(m.Keys, row)
	}
	m.Why = a.passkeySite(c).Why
	m.Full = len(keys) >= cqrs.MaxPasskeys
	m.CanAdd = m.Required && m.Enrolled && m.Why == "" && !m.Full
	return m, keys, nil
}

// passkeysPage lists a person's own passkeys: when each was added and
// last used, to rename or remove; and adds one.
func (a *app) passkeysPage(c *fiber.Ctx) error {
	var flash passkeysNotice
	a.takeFlash(c, passkeysPath, &flash)
	return a.renderPasskeys(c, fiber.StatusOK, flash.Notice, "", nil)
}

func (a *app) renderPasskeys(c *fiber.Ctx, status int, notice, name string, errs views.Errors) error {
	u, _ := currentUser(c)
	m, _, err := a.passkeyAccount(c, u)
	if err != nil {
		return err
	}
	if m.Page, err = a.signedInPage(c, "Your passkeys"); err != nil {
		return err
	}
	m.Notice, m.Name, m.Errors = notice, name, errs
	return render(c, status, views.PasskeysPage(m))
}

// passkeyRegisterOptions begins adding a passkey from the account page,
// bound to the session.
func (a *app) passkeyRegisterOptions(c *fiber.Ctx) error {
	u, _ := currentUser(c)
	m, keys, err := a.passkeyAccount(c, u)
	if err != nil {
		return err
	}
	switch {
	case m.Why != "":
		return passkeyRefusal(c, fiber.StatusConflict, m.Why)
	case !m.CanAdd:
		return passkeyRefusal(c, fiber.StatusConflict, "You cannot add a passkey now. Nothing was changed.")
	}
	return a.beginPasskey(c, a.passkeySite(c), newPasskeyUser(u.ID, u.UserID, u.FullName(), keys), currentSession(c), cqrs.PasskeyRegister)
}

// passkeyRegister keeps the passkey the browser made, under the name its
// owner gave (or one from their browser).
func (a *app) passkeyRegister(c *fiber.Ctx) error {
	u, _ := currentUser(c)
	name := trimSpace(c.FormValue("name"))
	if msg := validatePasskeyName(name); msg != "" {
		return a.renderPasskeys(c, fiber.StatusUnprocessableEntity, "", name, views.Errors{{Field: "name", Message: msg}})
	}
	m, keys, err := a.passkeyAccount(c, u)
	if err != nil {
		return err
	}
	if !m.CanAdd {
		return a.renderPasskeys(c, fiber.StatusConflict, "", name, views.Errors{{Field: "add-passkey", Message: "You cannot add a passkey now. Nothing was changed."}})
	}
	sd, err := a.takePasskeyChallenge(c, currentSession(c), cqrs.PasskeyRegister, u.ID)
	if errors.Is(err, cqrs.ErrExpired) {
		return a.renderPasskeys(c, fiber.StatusUnprocessableEntity, "", name, views.Errors{{Field: "add-passkey", Message: passkeyRequestOver}})
	}
	if err != nil {
		return err
	}
	cred, err := registerCredential(a.passkeySite(c), newPasskeyUser(u.ID, u.UserID, u.FullName(), keys), sd, c.FormValue("credential"))
	if err != nil {
		a.log.Info("passkey not registered", "user_id", u.UserID, "err", err)
		return a.renderPasskeys(c, fiber.StatusUnprocessableEntity, "", name, views.Errors{{Field: "add-passkey",
			Message: "Your browser's answer could not be checked, so no passkey was added. Choose Add a passkey to try again."}})
	}
	if name == "" {
		name = defaultPasskeyName(c.Get(fiber.HeaderUserAgent))
	}
	pk, err := passkeyOf(cred, name)
	if err != nil {
		return err
	}
	pk.UserID = u.ID
	err = a.secondFactor.AddPasskey(c.UserContext(), pk, a.event(c, cqrs.AuditEvent{Type: cqrs.AuditPasskeyRegistered, Subject: u.UserID, OrgID: u.OrgID,
		Method: "account", Detail: "passkey “" + name + "”"}))
	switch {
	case errors.Is(err, cqrs.ErrConflict):
		return a.renderPasskeys(c, fiber.StatusConflict, "", name, views.Errors{{Field: "add-passkey",
			Message: "This passkey is registered already, or you have as many passkeys as you may keep. Nothing was changed."}})
	case errors.Is(err, cqrs.ErrNotFound):
		return a.renderPasskeys(c, fiber.StatusConflict, "", name, views.Errors{{Field: "add-passkey",
			Message: "You have no second step set up, so no passkey was added. You will set one up the next time you sign in."}})
	case err != nil:
		return err
	}
	return a.passkeysDone(c, "Passkey “"+name+"” added. You can use it for the second step the next time you sign in.")
}

func (a *app) passkeysDone(c *fiber.Ctx, notice string) error {
	if err := a.setFlash(c, passkeysPath, passkeysNotice{Notice: notice}); err != nil {
		return err
	}
	return redirect(c, passkeysPath)
}

// ownPasskey is the signed-in person's passkey named by the address;
// "Page not found" for anyone else's, as for none.
func (a *app) ownPasskey(c *fiber.Ctx, u cqrs.User) (k cqrs.Passkey, all []cqrs.Passkey, err error) {
	id, err := base64.RawURLEncoding.DecodeString(c.Params("id"))
	if err != nil || len(id) == 0 || a.secondFactor == nil {
		return cqrs.Passkey{}, nil, fiber.ErrNotFound
	}
	all, err = a.secondFactor.Passkeys(c.UserContext(), u.ID)
	if err != nil {
		return cqrs.Passkey{}, nil, err
	}
	for _, k := range all {
		if string(k.ID) == string(id) {
			return k, all, nil
		}
	}
	return cqrs.Passkey{}, nil, fiber.ErrNotFound
}

// renamePasskey gives one of the person's passkeys the name they typed.
func (a *app) renamePasskey(c *fiber.Ctx) error {
	u, _ := currentUser(c)
	k, _, err := a.ownPasskey(c, u)
	if err != nil {
		return err
	}
	// The field is named after the passkey: a page lists several.
	field := "name-" + c.Params("id")
	name := trimSpace(c.FormValue(field))
	if name == "" {
		return a.renderPasskeys(c, fiber.StatusUnprocessableEntity, "", "", views.Errors{{Field: field, Message: "Enter a name for the passkey “" + k.Name + "”."}})
	}
	if msg := validatePasskeyName(name); msg != "" {
		return a.renderPasskeys(c, fiber.StatusUnprocessableEntity, "", "", views.Errors{{Field: field, Message: msg}})
	}
	err = a.secondFactor.RenamePasskey(c.UserContext(), u.ID, k.ID, name, a.event(c, cqrs.AuditEvent{Type: cqrs.AuditPasskeyRenamed,
		Subject: u.UserID, OrgID: u.OrgID, Method: "account", Detail: "“" + k.Name + "” to “" + name + "”"}))
	if errors.Is(err, cqrs.ErrNotFound) {
		return fiber.ErrNotFound
	}
	if err != nil {
		return err
	}
	return a.passkeysDone(c, "Passkey “"+k.Name+"” renamed “"+name+"”.")
}

// removePasskey forgets one of the person's passkeys. Their last one gone,
// with no authenticator app, their second factor goes with it: a site that
// asks them for one has them set it up again at their next sign-in.
// confirmRemovePasskey asks before a passkey is removed, as every action
// that cannot be undone asks: what goes with it (the last one of someone
// without an app takes their recovery codes, and the site may ask them to
// set up a second step again).
func (a *app) confirmRemovePasskey(c *fiber.Ctx) error {
	u, _ := currentUser(c)
	k, keys, err := a.ownPasskey(c, u)
	if err != nil {
		return err
	}
	st, err := a.secondFactor.SecondFactorStatus(c.UserContext(), u.ID)
	if err != nil {
		return err
	}
	paragraphs := []string{"It no longer signs you in to CQRS. The passkey stays on your device or in your password manager until you remove it there too."}
	if len(keys) == 1 && !st.App {
		last := "It is your last passkey and you have no authenticator app, so your recovery codes go with it."
		if a.cfg.SecondFactor.Covers(u) {
			last += " You will set up a second step the next time you sign in."
		}
		paragraphs = append(paragraphs, last)
	}
	heading := "Remove the passkey “" + k.Name + "”?"
	p, err := a.signedInPage(c, "Remove a passkey")
	if err != nil {
		return err
	}
	return render(c, fiber.StatusOK, views.ConfirmPage(views.ConfirmModel{Page: p, Heading: heading, Paragraphs: paragraphs,
		Action: passkeysPath + "/" + c.Params("id") + "/remove", Button: "Remove passkey", Warning: true, CancelURL: passkeysPath}))
}

// removePasskey removes one of the person's passkeys (asked first on
// confirmRemovePasskey's page).
func (a *app) removePasskey(c *fiber.Ctx) error {
	u, _ := currentUser(c)
	k, _, err := a.ownPasskey(c, u)
	if err != nil {
		return err
	}
	left, err := a.secondFactor.RemovePasskey(c.UserContext(), u.ID, k.ID, a.event(c, cqrs.AuditEvent{Type: cqrs.AuditPasskeyRemoved,
		Subject: u.UserID, OrgID: u.OrgID, Method: "account", Detail: "passkey “" + k.Name + "”"}))
	if errors.Is(err, cqrs.ErrNotFound) {
		return fiber.ErrNotFound
	}
	if err != nil {
		return err
	}
	notice := "Passkey “" + k.Name + "” removed. Remove it from your device or password manager too."
	if left == 0 {
		st, err := a.secondFactor.SecondFactorStatus(c.UserContext(), u.ID)
		if err != nil {
			return err
		}
		if st.Enrolled.IsZero() && a.sealer != nil && a.cfg.SecondFactor.Covers(u) {
			notice += " You have no second step now: you will set one up the next time you sign in."
		}
	}
	return a.passkeysDone(c, notice)
}

// --- Signing in with a passkey alone ---

const (
	passkeyLoginPath    = "/login/passkey"
	passkeyLoginOptions = passkeyLoginPath + "/options"
	// passkeyLoginCookie binds a passkey sign-in's challenge to the
	// browser that asked for it (there is no session yet).
	passkeyLoginCookie = "cqrs_passkey_login"
	// passkeyLoginFailed is the one answer to every refused passkey at the
	// Login page, whatever was wrong.
	passkeyLoginFailed = "Your passkey did not sign you in. Try again, or sign in with your User ID and password."
)

// passkeyLoginOffered: the Login page offers "Sign in with a passkey"
// where the setting asks for a second step (so people have passkeys) and
// this address can use them.
func (a *app) passkeyLoginOffered(c *fiber.Ctx) bool {
	return a.sealer != nil && a.secondFactor != nil && a.passkeySite(c).Why == ""
}

// passkeyLoginOptionsHandler begins a sign-in with any passkey the
// browser holds for this site (a discoverable credential), its owner
// verified by the authenticator (PIN, fingerprint, face): the passkey is
// then both factors.
func (a *app) passkeyLoginOptionsHandler(c *fiber.Ctx) error {
	if !a.passkeyLoginOffered(c) {
		return passkeyRefusal(c, fiber.StatusConflict, "Signing in with a passkey is not offered at this address. Sign in with your User ID and password.")
	}
	wa, err := relyingPartyFor(a.passkeySite(c))
	if err != nil {
		return err
	}
	assertion, sd, err := wa.BeginDiscoverableLogin(webauthn.WithUserVerification(protocol.VerificationRequired))
	if err != nil {
		return err
	}
	session, err := json.Marshal(sd)
	if err != nil {
		return err
	}
	token := secret.NewToken()
	err = a.secondFactor.SavePasskeyChallenge(c.UserContext(), cqrs.PasskeyChallenge{Owner: secret.HashToken(token), Purpose: cqrs.PasskeyLogin,
		Session: session, Expires: a.cfg.Now().Add(cqrs.PasskeyChallengeLifespan)})
	if err != nil {
		return err
	}
	c.Cookie(&fiber.Cookie{Name: passkeyLoginCookie, Value: token, Path: passkeyLoginPath, HTTPOnly: true, Secure: a.cfg.Secure,
		SameSite: fiber.CookieSameSiteStrictMode, SessionOnly: true})
	c.Set(fiber.HeaderCacheControl, "no-store")
	return c.JSON(passkeyOptions{Mode: "get", PublicKey: assertion.Response})
}

// passkeyLogin checks a passkey answer from the Login page. The user
// handle names the account; the signature is checked against that
// account's passkeys, and the store decides with the failure count and
// the lock, as for passwords: a refused passkey counts as a wrong
// password for the account it names.
func (a *app) passkeyLogin(c *fiber.Ctx) error {
	refused := func(status int, msg string) error {
		m := a.loginModel(c, "", "", "")
		m.Passkey, m.PasskeyError = a.passkeyLoginOffered(c), msg
		return render(c, status, views.LoginPage(m))
	}
	if !a.passkeyLoginOffered(c) {
		return refused(fiber.StatusConflict, "Signing in with a passkey is not offered at this address. Sign in with your User ID and password.")
	}
	token := c.Cookies(passkeyLoginCookie)
	if token == "" {
		return refused(fiber.StatusUnprocessableEntity, passkeyRequestOver)
	}
	a.clearCookie(c, passkeyLoginCookie, passkeyLoginPath)
	ch, err := a.secondFactor.TakePasskeyChallenge(c.UserContext(), secret.HashToken(token), cqrs.PasskeyLogin)
	if errors.Is(err, cqrs.ErrExpired) {
		return refused(fiber.StatusUnprocessableEntity, passkeyRequestOver)
	}
	if err != nil {
		return err
	}
	var sd webauthn.SessionData
	if json.Unmarshal(ch.Session, &sd) != nil {
		return refused(fiber.StatusUnprocessableEntity, passkeyRequestOver)
	}
	parsed, err := protocol.ParseCredentialRequestResponseBytes([]byte(c.FormValue("credential")))
	if err != nil || len(parsed.Response.UserHandle) != 8 {
		return refused(fiber.StatusUnauthorized, passkeyLoginFailed)
	}
	u, err := a.userAdmin.User(c.UserContext(), binary.BigEndian.Uint64(parsed.Response.UserHandle))
	if errors.Is(err, cqrs.ErrNotFound) {
		return refused(fiber.StatusUnauthorized, passkeyLoginFailed)
	}
	if err != nil {
		return err
	}
	// The account's turn, shared with its passwords and codes.
	release, err := a.signInQueue.wait(c.UserContext(), strings.ToLower(u.UserID), a.cfg.SignInQueueWait)
	if err != nil {
		return err
	}
	defer release()
	keys, err := a.secondFactor.Passkeys(c.UserContext(), u.ID)
	if err != nil {
		return err
	}
	session := secret.NewToken()
	attempt := cqrs.PasskeyAttempt{Kind: cqrs.PasskeyKindSignIn, UserID: u.ID, SessionHash: secret.HashToken(session), LockAfter: a.cfg.LockAfter,
		IP: c.IP(), LockNotice: a.lockedEmail(c.UserContext()), LinkTTL: a.cfg.ResetLinkTTL}
	attempt.Passkey.ID = parsed.RawID
	if old := c.Cookies(sessionCookie); old != "" {
		attempt.ReplacedSession = secret.HashToken(old)
	}
	wa, err := relyingPartyFor(a.passkeySite(c))
	if err != nil {
		return err
	}
	owner := newPasskeyUser(u.ID, u.UserID, u.FullName(), keys)
	_, cred, err := wa.ValidatePasskeyLogin(func(rawID, userHandle []byte) (webauthn.User, error) { return owner, nil }, sd, parsed)
	if err == nil {
		attempt.Verified, attempt.CloneWarning = true, cred.Authenticator.CloneWarning
		attempt.Passkey.Credential, err = json.Marshal(cred)
	}
	if err != nil {
		a.log.Info("passkey sign-in not accepted", "user_id", u.UserID, "err", err)
	}
	res, err := a.secondFactor.PasskeySignIn(c.UserContext(), attempt)
	if err != nil {
		return err
	}
	if res.LockedNow {
		a.wakeMailer()
	}
	if !res.SignedIn {
		return refused(fiber.StatusUnauthorized, passkeyLoginFailed)
	}
	a.activity.active(attempt.SessionHash, time.Time{}, a.cfg.Now(), a.cfg.SessionIdle)
	a.setSessionCookie(c, session)
	return redirect(c, a.landing(res.User, safeNext(c.FormValue("next"))))
}
