package handlers

import (
	"context"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/coreos/go-oidc/v3/oidc"
	"github.com/gofiber/fiber/v2"
	"golang.org/x/oauth2"

	"github.com/cqrs-local/cqrs-signin/cqrs"
	"github.com/cqrs-local/cqrs-signin/secret"
	"github.com/cqrs-local/cqrs-signin/views"
)

// SSOStore is what NHSmail single sign-on needs from the store.
type SSOStore interface {
	LinkSSOSubject(ctx context.Context, userID uint64, subject string, notify *cqrs.Email, events ...cqrs.AuditEvent) (cqrs.User, error)
	PutSSOPending(ctx context.Context, stateHash []byte, p cqrs.SSOPending) error
	SSOStateUsed(ctx context.Context, stateHash []byte) (bool, error)
	TakeSSOPending(ctx context.Context, stateHash []byte) (cqrs.SSOPending, error)
	UserByEmail(ctx context.Context, email string) (cqrs.User, error)
	UserBySSOSubject(ctx context.Context, subject string) (cqrs.User, error)
}

// SSOConfig is the OpenID Connect relying party's configuration. With no
// Issuer the Sign In button explains that NHSmail sign-in is not set up.
type SSOConfig struct {
	Issuer       string // for Entra ID the tenant-specific issuer, never "common"
	ClientID     string
	ClientSecret string
	RedirectURL  string // this app's /sso/callback as the provider knows it
	Scopes       []string
	// ProviderName is shown on pages ("NHSmail").
	ProviderName string
	// HTTPClient reaches the provider; nil means a client with a timeout.
	HTTPClient *http.Client
	// Now checks ID token lifetimes: the provider's clock, which is the
	// real one even when a training clock has moved the app's. nil: time.Now.
	Now func() time.Time
	// SkipIssuerCheck lets tokens carry an issuer that differs from the
	// discovery URL; never set it for real providers.
	SkipIssuerCheck bool
	// EmailOnly finds the account of a first sign-in by the email claim
	// alone, never by preferred_username or upn: Microsoft advises against
	// authorising on those, and other providers give them other meanings.
	// main sets it except for the simulator and an Entra ID issuer.
	EmailOnly bool
	// LinkNamespace names the provider in account links instead of the
	// issuer: EmbeddedNHSmailNamespace for the embedded simulator, whose
	// issuer changes with the address. Empty: the issuer.
	LinkNamespace string
}

const (
	ssoCookie     = "cqrs_sso"
	ssoPendingTTL = 10 * time.Minute
)

// relyingParty discovers the provider lazily (the embedded simulator is
// served by this same process, which is not listening yet at start-up) and
// keeps it once found.
type relyingParty struct {
	mu       sync.Mutex
	provider *oidc.Provider
}

func (a *app) ssoClient() *http.Client {
	if a.cfg.SSO.HTTPClient != nil {
		return a.cfg.SSO.HTTPClient
	}
	return &http.Client{Timeout: 10 * time.Second}
}

func (a *app) oidcProvider(ctx context.Context) (*oidc.Provider, error) {
	a.rp.mu.Lock()
	defer a.rp.mu.Unlock()
	if a.rp.provider != nil {
		return a.rp.provider, nil
	}
	ctx = oidc.ClientContext(ctx, a.ssoClient())
	if a.cfg.SSO.SkipIssuerCheck {
		ctx = oidc.InsecureIssuerURLContext(ctx, a.cfg.SSO.Issuer)
	}
	p, err := oidc.NewProvider(ctx, a.cfg.SSO.Issuer)
	if err != nil {
		return nil, err
	}
	a.rp.provider = p
	return p, nil
}

func (a *app) oauthConfig(p *oidc.Provider) oauth2.Config {
	scopes := append([]string{oidc.ScopeOpenID, "email", "profile"}, a.cfg.SSO.Scopes...)
	return oauth2.Config{ClientID: a.cfg.SSO.ClientID, ClientSecret: a.cfg.SSO.ClientSecret,
		Endpoint: p.Endpoint(), RedirectURL: a.cfg.SSO.RedirectURL, Scopes: scopes}
}

func (a *app) providerName() string {
	if a.cfg.SSO.ProviderName != "" {
		return a.cfg.SSO.ProviderName
	}
	return "NHSmail"
}

// ssoStart is the Sign In button: the authorization code flow with state,
// nonce and PKCE (S256), bound to this browser by a cookie and to the
// server by a single-use pending record.
func (a *app) ssoStart(c *fiber.Ctx) error {
	if a.cfg.SSO.Issuer == "" {
		return refuse(fiber.StatusServiceUnavailable, "NHSmail sign-in is not configured",
			"This CQRS system has no NHSmail single sign-on set up.",
			"If you do not have an NHSmail account, or until NHSmail sign-in is set up, please use your legacy login: your User ID and password on the CQRS Login page.")
	}
	// The callback comes back to the configured address; start there too so
	// the state cookie is on the same host (a classroom may type another name).
	if home, err := url.Parse(a.cfg.SSO.RedirectURL); err == nil && home.Host != "" && a.origin(c) != home.Scheme+"://"+home.Host {
		return c.Redirect(home.Scheme+"://"+home.Host+c.OriginalURL(), fiber.StatusSeeOther)
	}
	p, err := a.oidcProvider(c.UserContext())
	if err != nil {
		a.log.Warn("single sign-on provider unavailable", "issuer", a.cfg.SSO.Issuer, "err", err)
		return refuse(fiber.StatusBadGateway, a.providerName()+" sign-in is not available",
			"CQRS could not reach the "+a.providerName()+" sign-in service. Please try again later, or use your legacy login.")
	}
	state, nonce, verifier := secret.NewToken(), secret.NewToken(), oauth2.GenerateVerifier()
	err = a.sso.PutSSOPending(c.UserContext(), secret.HashToken(state), cqrs.SSOPending{Nonce: nonce, Verifier: verifier,
		Next: safeNext(c.Query("next")), Expires: a.cfg.Now().Add(ssoPendingTTL)})
	if err != nil {
		return err
	}
	a.setTokenCookie(c, ssoCookie, "/sso", state, ssoPendingTTL)
	cfg := a.oauthConfig(p)
	opts := []oauth2.AuthCodeOption{oidc.Nonce(nonce), oauth2.S256ChallengeOption(verifier)}
	// "Sign in with a different NHSmail account": a browser still signed
	// in to NHSmail as someone else would otherwise be signed in as them
	// again without a word.
	if c.Query("prompt") == "select_account" {
		opts = append(opts, oauth2.SetAuthURLParam("prompt", "select_account"))
	}
	return c.Redirect(cfg.AuthCodeURL(state, opts...), fiber.StatusSeeOther)
}

// ssoClaims are the identity claims used to find the account; Entra ID
// (which NHSmail uses) sends preferred_username / upn and tid + oid.
type ssoClaims struct {
	Email             string `json:"email"`
	EmailVerified     *bool  `json:"email_verified"`
	PreferredUsername string `json:"preferred_username"`
	UPN               string `json:"upn"`
	TenantID          string `json:"tid"`
	ObjectID          string `json:"oid"`
	Name              string `json:"name"`
	AuthorizedParty   string `json:"azp"`
}

// withProfile is the ID token's claims with the userinfo profile's taking
// their place where it has them; an email keeps its own email_verified.
func (cl ssoClaims) withProfile(p ssoClaims) ssoClaims {
	if p.Email != "" {
		cl.Email, cl.EmailVerified = p.Email, p.EmailVerified
	}
	cl.PreferredUsername = firstNonEmpty(p.PreferredUsername, cl.PreferredUsername)
	cl.UPN = firstNonEmpty(p.UPN, cl.UPN)
	cl.Name = firstNonEmpty(p.Name, cl.Name)
	return cl
}

// ssoRefused ends a callback with a page and an audit entry, never a session.
func (a *app) ssoRefused(c *fiber.Ctx, detail string, err error) error {
	if aerr := a.audit(c, cqrs.AuditEvent{Type: evSSORefused, Method: "nhsmail", Detail: detail}); aerr != nil {
		return aerr
	}
	return err
}

func (a *app) ssoFailed(detail string) error {
	return refuse(fiber.StatusBadRequest, a.providerName()+" sign-in did not complete",
		"The answer from the "+a.providerName()+" sign-in service could not be accepted ("+detail+"). Nothing was signed in.",
		"Go back to the CQRS Login page and select Sign In to try again.")
}

// ssoCallback takes the provider's answer: the state checked and consumed
// once, the code exchanged with the PKCE verifier, the ID token verified by
// go-oidc (issuer, audience, expiry, signature) and the nonce by us.
func (a *app) ssoCallback(c *fiber.Ctx) error {
	if a.cfg.SSO.Issuer == "" {
		return fiber.ErrNotFound
	}
	state := c.Query("state")
	cookie := c.Cookies(ssoCookie)
	a.clearCookie(c, ssoCookie, "/sso")
	if state == "" || cookie == "" || subtle.ConstantTimeCompare([]byte(state), []byte(cookie)) != 1 {
		// A reloaded answer has lost its cookie with the first use: say
		// what is true, that it was used, not that it started elsewhere.
		if used, err := a.sso.SSOStateUsed(c.UserContext(), secret.HashToken(state)); err == nil && used && state != "" {
			// Back (or a reload) onto an answer this browser has used: it
			// goes where the answer took it, while the browser still shows
			// that (signed in, or the refusal's page), not to an error.
			if _, ok := currentUser(c); ok {
				return c.Redirect("/messages", fiber.StatusSeeOther)
			}
			if path, _ := a.ssoLastResult(c); path != "" {
				return c.Redirect(path, fiber.StatusSeeOther)
			}
			return a.ssoRefused(c, "state replayed", a.ssoFailed("this sign-in answer was already used"))
		}
		return a.ssoRefused(c, "state missing or not this browser's", a.ssoFailed("the sign-in request did not start in this browser"))
	}
	pending, err := a.sso.TakeSSOPending(c.UserContext(), secret.HashToken(state))
	// The single sign-on failure page in the user guide's words, audited.
	switch {
	case errors.Is(err, cqrs.ErrNotFound):
		return a.ssoRefused(c, "state unknown or replayed", a.ssoFailed("this sign-in answer was already used"))
	case errors.Is(err, cqrs.ErrExpired):
		return a.ssoRefused(c, "state expired", a.ssoFailed("the sign-in took too long"))
	case err != nil:
		return err
	}
	if e := c.Query("error"); e != "" {
		detail := "provider error " + truncate(e, 40)
		if e == "access_denied" {
			return a.ssoRefused(c, detail, refuse(fiber.StatusForbidden, a.providerName()+" sign-in was cancelled",
				"You did not agree to sign in to CQRS with your "+a.providerName()+" account, so you have not been signed in.",
				"Go back to the CQRS Login page to try again, or use your legacy login."))
		}
		return a.ssoRefused(c, detail, a.ssoFailed("the sign-in service reported "+truncate(e, 40)))
	}
	code := c.Query("code")
	if code == "" {
		return a.ssoRefused(c, "no code", a.ssoFailed("no authorization code"))
	}
	p, err := a.oidcProvider(c.UserContext())
	if err != nil {
		return a.ssoRefused(c, "provider unavailable", a.ssoFailed("the sign-in service is unavailable"))
	}
	ctx := oidc.ClientContext(c.UserContext(), a.ssoClient())
	cfg := a.oauthConfig(p)
	tok, err := cfg.Exchange(ctx, code, oauth2.VerifierOption(pending.Verifier))
	if err != nil {
		a.log.Info("single sign-on code exchange refused", "err", err)
		return a.ssoRefused(c, "code exchange refused", a.ssoFailed("the authorization code was refused"))
	}
	raw, _ := tok.Extra("id_token").(string)
	if raw == "" {
		return a.ssoRefused(c, "no ID token", a.ssoFailed("no ID token"))
	}
	// p.Verifier shares the provider's cached key set across sign-ins.
	idToken, err := p.Verifier(&oidc.Config{ClientID: a.cfg.SSO.ClientID, Now: a.cfg.SSO.Now, SkipIssuerCheck: a.cfg.SSO.SkipIssuerCheck}).Verify(ctx, raw)
	if err != nil {
		a.log.Info("single sign-on ID token refused", "err", err)
		return a.ssoRefused(c, "ID token not valid", a.ssoFailed("the identity token was not valid"))
	}
	// go-oidc checks neither that sub and iat are there (OpenID Connect
	// Core 2 requires both) nor, when the header has no kid, that the
	// provider publishes only one key (Core 10.1); it tries them all.
	if idToken.Subject == "" || idToken.IssuedAt.IsZero() {
		return a.ssoRefused(c, "ID token not valid", a.ssoFailed("the identity token was not valid"))
	}
	if ok, err := a.kidAcceptable(ctx, p, raw); err != nil || !ok {
		a.log.Info("single sign-on ID token without kid from a provider with several keys", "err", err)
		return a.ssoRefused(c, "ID token not valid", a.ssoFailed("the identity token was not valid"))
	}
	// go-oidc leaves the nonce to the caller.
	if subtle.ConstantTimeCompare([]byte(idToken.Nonce), []byte(pending.Nonce)) != 1 {
		return a.ssoRefused(c, "nonce mismatch", a.ssoFailed("the identity token was not issued for this sign-in"))
	}
	var claims ssoClaims
	if err := idToken.Claims(&claims); err != nil {
		return a.ssoRefused(c, "claims unreadable", a.ssoFailed("the identity token could not be read"))
	}
	// The profile at /userinfo must be the same person (Core 5.3.2). A
	// provider may put the email there only (Core 5.4), so its claims are
	// the ones matched, the ID token's where it has none; a userinfo
	// endpoint that cannot be reached does not stop the sign-in.
	if p.UserInfoEndpoint() != "" {
		info, err := p.UserInfo(ctx, oauth2.StaticTokenSource(tok))
		if err != nil {
			a.log.Info("single sign-on userinfo unavailable", "err", err)
		} else if info.Subject != idToken.Subject {
			return a.ssoRefused(c, "userinfo subject differs", a.ssoFailed("the identity token and the profile describe different people"))
		} else {
			var profile ssoClaims
			if err := info.Claims(&profile); err != nil {
				return a.ssoRefused(c, "userinfo unreadable", a.ssoFailed("the profile could not be read"))
			}
			claims = claims.withProfile(profile)
		}
	}
	// A token for several audiences must name us as the party it was issued to.
	if (len(idToken.Audience) > 1 || claims.AuthorizedParty != "") && claims.AuthorizedParty != a.cfg.SSO.ClientID {
		return a.ssoRefused(c, "authorized party is another client", a.ssoFailed("the identity token was issued to another application"))
	}
	return a.ssoSignIn(c, idToken, claims, pending.Next)
}

// kidAcceptable reports whether an ID token's header names its key, or
// the provider publishes only one key, so there is no doubt which key
// signed it. Only a token without a kid costs a fetch of the key set.
func (a *app) kidAcceptable(ctx context.Context, p *oidc.Provider, raw string) (bool, error) {
	header, err := base64.RawURLEncoding.DecodeString(strings.SplitN(raw, ".", 2)[0])
	if err != nil {
		return false, err
	}
	var h struct {
		Kid string `json:"kid"`
	}
	if err := json.Unmarshal(header, &h); err != nil {
		return false, err
	}
	if h.Kid != "" {
		return true, nil
	}
	var meta struct {
		JWKSURI string `json:"jwks_uri"`
	}
	if err := p.Claims(&meta); err != nil || meta.JWKSURI == "" {
		return false, errors.New("no jwks_uri")
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, meta.JWKSURI, nil)
	if err != nil {
		return false, err
	}
	resp, err := a.ssoClient().Do(req)
	if err != nil {
		return false, err
	}
	defer resp.Body.Close()
	var set struct {
		Keys []json.RawMessage `json:"keys"`
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&set); err != nil {
		return false, err
	}
	return len(set.Keys) == 1, nil
}

// subjectKey is the provider's stable identifier, namespaced by issuer so
// an identity from one provider never matches another's.
func subjectKey(issuer string, sub string, cl ssoClaims) string {
	if cl.TenantID != "" && cl.ObjectID != "" {
		return issuer + "|" + cl.TenantID + ":" + cl.ObjectID
	}
	return issuer + "|" + sub
}

// EmbeddedNHSmailNamespace names the embedded NHSmail simulator in account
// links instead of its issuer URL, which holds the address the app
// listens on: the same data file started on another port, or on the
// network address for a class, still finds everyone's link. Its tenant ID,
// made once and kept in the database, is part of every link after it.
const EmbeddedNHSmailNamespace = "urn:cqrs:embedded-nhsmail"

// linkNamespace is what namespaces account links for a token from issuer.
func (a *app) linkNamespace(issuer string) string {
	if a.cfg.SSO.LinkNamespace != "" {
		return a.cfg.SSO.LinkNamespace
	}
	return issuer
}

// earlierEmbeddedLink reports whether stored is key as the embedded
// simulator's links were written before they had a namespace of their
// own: its issuer URL at some address, ".../nhsmail", in place of the
// namespace. The tenant and object IDs after it are the same identity.
func (a *app) earlierEmbeddedLink(stored, key string) bool {
	if a.cfg.SSO.LinkNamespace != EmbeddedNHSmailNamespace {
		return false
	}
	issuer, id, ok := strings.Cut(stored, "|")
	_, keyID, _ := strings.Cut(key, "|")
	return ok && id == keyID && strings.Contains(id, ":") && strings.HasSuffix(issuer, "/nhsmail") &&
		(strings.HasPrefix(issuer, "http://") || strings.HasPrefix(issuer, "https://"))
}

// ssoSignIn finds the CQRS account: by the linked subject, or on first use
// by email (only when not marked unverified), preferred_username or upn,
// ignoring case, among active accounts; then links the subject.
func (a *app) ssoSignIn(c *fiber.Ctx, idToken *oidc.IDToken, cl ssoClaims, next string) error {
	key := subjectKey(a.linkNamespace(idToken.Issuer), idToken.Subject, cl)
	email := cl.Email
	if cl.EmailVerified != nil && !*cl.EmailVerified {
		email = ""
	}
	shown := firstNonEmpty(email, cl.PreferredUsername, cl.UPN)
	u, err := a.sso.UserBySSOSubject(c.UserContext(), key)
	matched := "linked subject"
	if errors.Is(err, cqrs.ErrNotFound) {
		if a.cfg.SSO.EmailOnly {
			u, matched, err = a.userByClaims(c.UserContext(), email)
		} else {
			u, matched, err = a.userByClaims(c.UserContext(), email, cl.PreferredUsername, cl.UPN)
		}
	}
	// Nothing to look an account up by: say so, rather than tell the
	// person they signed in with an address nobody saw.
	if errors.Is(err, cqrs.ErrNotFound) && !strings.Contains(cl.Email+cl.PreferredUsername+cl.UPN, "@") {
		return a.ssoRefused(c, "no email address from the provider", refuse(fiber.StatusBadRequest, a.providerName()+" sent no email address",
			"You signed in to "+a.providerName()+", but it did not tell CQRS your email address, so CQRS cannot find your account. Nothing was signed in.",
			"Contact the CQRS Help Desk, or use your legacy login."))
	}
	linkedElsewhere := err == nil && u.SSOSubject != "" && u.SSOSubject != key
	if linkedElsewhere && a.earlierEmbeddedLink(u.SSOSubject, key) {
		linkedElsewhere, matched = false, "linked subject (made at an earlier address)"
	}
	// The user guide's step 5 page, the same for no account and one not
	// active, audited.
	if errors.Is(err, cqrs.ErrNotFound) || (err == nil && u.Status != cqrs.StatusActive) {
		if err := a.audit(c, cqrs.AuditEvent{Type: evSSORefused, Subject: shown, OrgID: u.OrgID, Method: "nhsmail", Detail: "no active CQRS account for this NHSmail identity"}); err != nil {
			return err
		}
		return a.ssoResult(c, ssoNoAccountPath, shown)
	}
	if err != nil {
		return err
	}
	// The account is someone's, and another NHSmail identity signs in to
	// it: say so, and how to get in, rather than that there is no account.
	if linkedElsewhere {
		if err := a.audit(c, cqrs.AuditEvent{Type: evSSORefused, Subject: shown, OrgID: u.OrgID, Method: "nhsmail", Detail: "the matching CQRS account is linked to another NHSmail identity"}); err != nil {
			return err
		}
		return a.ssoResult(c, ssoLinkedElsewherePath, shown)
	}
	if !u.LockedAt.IsZero() {
		if err := a.audit(c, cqrs.AuditEvent{Type: evSignInLocked, Subject: u.UserID, OrgID: u.OrgID, Method: "nhsmail"}); err != nil {
			return err
		}
		return a.ssoResult(c, ssoLockedPath, shown)
	}
	if u.SSOSubject == "" {
		u, err = a.sso.LinkSSOSubject(c.UserContext(), u.ID, key, a.nhsmailLinkedEmail(c.UserContext(), u, shown))
		if errors.Is(err, cqrs.ErrConflict) { // linked meanwhile to another identity
			if err := a.audit(c, cqrs.AuditEvent{Type: evSSORefused, Subject: shown, OrgID: u.OrgID, Method: "nhsmail", Detail: "account already linked to another NHSmail identity"}); err != nil {
				return err
			}
			return a.ssoResult(c, ssoLinkedElsewherePath, shown)
		} else if err != nil {
			return err
		}
		a.wakeMailer()
	}
	signedIn := a.event(c, cqrs.AuditEvent{Type: evSignIn, Actor: u.UserID, Subject: u.UserID, OrgID: u.OrgID, Method: "nhsmail", Detail: "matched by " + matched})
	if _, err := a.startSession(c, u, signedIn); err != nil {
		return err
	}
	return c.Redirect(a.landing(u, next), fiber.StatusSeeOther)
}

// The pages a callback that signed nobody in ends on. The callback
// redirects to them once its one-time code is used, so they can be
// reloaded, opened again after Back, and redrawn by the job aid's
// Hide/Show; the address it was refused for rides in a cookie of its own,
// not in the URL (or the browser's history).
const (
	ssoNoAccountPath = "/sso/no-account"
	ssoLockedPath    = "/sso/locked"
	// ssoLinkedElsewherePath: the account with that address signs in with
	// another NHSmail identity.
	ssoLinkedElsewherePath = "/sso/linked-elsewhere"
	ssoResultCookie        = "cqrs_sso_result"
	ssoResultTTL           = time.Hour
	ssoShownMax            = 320 // the longest address shown back
)

// ssoResult ends a refused callback on the result page at path, and
// remembers the page and the address in this browser.
func (a *app) ssoResult(c *fiber.Ctx, path, shown string) error {
	value := path + "\n" + truncate(shown, ssoShownMax)
	a.setTokenCookie(c, ssoResultCookie, "/sso", base64.RawURLEncoding.EncodeToString([]byte(value)), ssoResultTTL)
	return c.Redirect(path, fiber.StatusSeeOther)
}

// ssoLastResult is the result page and the address of this browser's last
// refused sign-in, or "" (another browser, or after an hour).
func (a *app) ssoLastResult(c *fiber.Ctx) (path, shown string) {
	b, err := base64.RawURLEncoding.DecodeString(c.Cookies(ssoResultCookie))
	if err != nil || len(b) > 4*ssoShownMax+64 || !utf8.Valid(b) {
		return "", ""
	}
	path, shown, _ = strings.Cut(string(b), "\n")
	switch path {
	case ssoNoAccountPath, ssoLockedPath, ssoLinkedElsewherePath:
		return path, shown
	}
	return "", ""
}

// ssoShown is the address the browser's last refused sign-in was for, or
// "": the page then names nobody.
func (a *app) ssoShown(c *fiber.Ctx) string {
	_, shown := a.ssoLastResult(c)
	return shown
}

// ssoNoAccountPage is the user guide's step 5: signed in to NHSmail, no
// CQRS account.
func (a *app) ssoNoAccountPage(c *fiber.Ctx) error {
	if a.cfg.SSO.Issuer == "" {
		return fiber.ErrNotFound
	}
	return render(c, fiber.StatusForbidden, views.NoCQRSAccountPage(a.page(c, "No CQRS account"), a.ssoShown(c), a.helpDesk(c.UserContext())))
}

// ssoLockedPage is an NHSmail sign-in to a locked CQRS account.
func (a *app) ssoLockedPage(c *fiber.Ctx) error {
	if a.cfg.SSO.Issuer == "" {
		return fiber.ErrNotFound
	}
	return render(c, fiber.StatusForbidden, views.LockedPage(a.page(c, "Your account is locked"), a.helpDesk(c.UserContext())))
}

// ssoLinkedElsewherePage is an NHSmail sign-in whose CQRS account is
// linked to a different NHSmail identity.
func (a *app) ssoLinkedElsewherePage(c *fiber.Ctx) error {
	if a.cfg.SSO.Issuer == "" {
		return fiber.ErrNotFound
	}
	return render(c, fiber.StatusForbidden, views.LinkedElsewherePage(a.page(c, "Linked to another NHSmail account"), a.ssoShown(c), a.helpDesk(c.UserContext())))
}

func (a *app) userByClaims(ctx context.Context, candidates ...string) (cqrs.User, string, error) {
	names := []string{"email", "preferred_username", "upn"}
	for i, v := range candidates {
		if v == "" || !strings.Contains(v, "@") {
			continue
		}
		u, err := a.sso.UserByEmail(ctx, v)
		if err == nil {
			return u, names[i], nil
		}
		if !errors.Is(err, cqrs.ErrNotFound) {
			return cqrs.User{}, "", err
		}
	}
	return cqrs.User{}, "", cqrs.ErrNotFound
}

func firstNonEmpty(vs ...string) string {
	for _, v := range vs {
		if v != "" {
			return v
		}
	}
	return ""
}

// truncate keeps at most n characters (runes, so none is cut in half).
func truncate(s string, n int) string {
	if r := []rune(s); len(r) > n {
		return string(r[:n])
	}
	return s
}
