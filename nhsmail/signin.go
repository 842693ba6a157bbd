package nhsmail

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/cqrs-local/cqrs-signin/cqrs"
	"github.com/cqrs-local/cqrs-signin/secret"
	"github.com/cqrs-local/cqrs-signin/views"
)

// The messages of the sign-in page. The first is the documents' wording.
const (
	msgIncorrect = "Incorrect user ID or password. Type the correct user ID and password, and try again."
	msgLocked    = `Your NHSmail account is locked. Use "Unlock Account or Forgotten Password? Click here." below to unlock it.`
)

// authorizeRequest is a checked authorize request.
type authorizeRequest struct {
	client      *client
	redirectURI string
	state       string
	nonce       string
	challenge   string
	scopes      []string
	prompt      map[string]bool
	maxAge      time.Duration // -1: none asked
	// acr is the acr_values entry asking for multi-factor authentication,
	// "" when none does.
	acr string
}

// authorizeError is a refusal of an authorize request. Until the client and
// its redirect URI are established it is shown as a page (noRedirect);
// after that it goes back to the client, as OAuth says.
type authorizeError struct {
	code, description string
	noRedirect        bool
}

func (e *authorizeError) Error() string { return e.code + ": " + e.description }

func refusal(code, description string) *authorizeError {
	return &authorizeError{code: code, description: description}
}

// pkceChallenge is an S256 challenge: 32 bytes of SHA-256 in unpadded
// base64url.
var pkceChallenge = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^[A-Za-z0-9_-]{43}$`) }) // on first use, not at start

// allowFormAction lets the sign-in and consent forms of a client's request
// be answered with a redirect to that client (browsers apply form-action
// to the redirect that follows a form).
func (p *Provider) allowFormAction(w http.ResponseWriter, ar *authorizeRequest) {
	if ar != nil && ar.client != nil {
		w.Header().Set("Content-Security-Policy", contentSecurity(p.origin, ar.client.redirectURIs))
	}
}

// parseAuthorize checks an authorize request's query. The request is
// parsed afresh from the query each time it arrives (the sign-in form and
// the consent ticket carry the query), so nothing the browser changed is
// trusted.
func (p *Provider) parseAuthorize(ctx context.Context, query string) (*authorizeRequest, *authorizeError) {
	q, err := url.ParseQuery(query)
	if err != nil {
		return nil, &authorizeError{code: "invalid_request", description: "The request could not be read.", noRedirect: true}
	}
	for k, v := range q {
		if len(v) > 1 {
			return nil, &authorizeError{code: "invalid_request", description: "The parameter " + k + " was sent more than once.", noRedirect: true}
		}
	}
	c, ok := p.client(ctx, q.Get("client_id"))
	if !ok {
		return nil, &authorizeError{code: "invalid_client", description: "The application is not registered with NHSmail.", noRedirect: true}
	}
	ar := &authorizeRequest{client: c, redirectURI: q.Get("redirect_uri"), state: q.Get("state"), nonce: q.Get("nonce"),
		challenge: q.Get("code_challenge"), scopes: strings.Fields(q.Get("scope")), prompt: map[string]bool{}, maxAge: -1}
	if !c.redirectRegistered(ar.redirectURI) {
		return ar, &authorizeError{code: "invalid_request", description: "The redirect_uri is not registered for this application.", noRedirect: true}
	}
	if mode := q.Get("response_mode"); mode != "" && mode != "query" {
		return ar, &authorizeError{code: "invalid_request", description: "Only response_mode=query is supported.", noRedirect: true}
	}
	if q.Has("request") {
		return ar, refusal("request_not_supported", "Request objects are not supported.")
	}
	if q.Has("request_uri") {
		return ar, refusal("request_uri_not_supported", "Request objects are not supported.")
	}
	if q.Get("response_type") != "code" {
		return ar, refusal("unsupported_response_type", "Only the authorization code flow (response_type=code) is supported.")
	}
	if !slices.Contains(ar.scopes, "openid") {
		return ar, refusal("invalid_scope", "The openid scope is required.")
	}
	for _, s := range ar.scopes {
		if !c.IsScopeAllowed(s) {
			return ar, refusal("invalid_scope", "The scope "+s+" is not supported.")
		}
	}
	if q.Get("code_challenge_method") != "S256" || !pkceChallenge().MatchString(ar.challenge) {
		return ar, refusal("invalid_request", "A PKCE code_challenge with code_challenge_method S256 is required.")
	}
	for _, v := range strings.Fields(q.Get("prompt")) {
		switch v {
		case "none", "login", "consent", "select_account":
			ar.prompt[v] = true
		default:
			return ar, refusal("invalid_request", "The prompt value "+v+" is not supported.")
		}
	}
	if ar.prompt["none"] && len(ar.prompt) > 1 {
		return ar, refusal("invalid_request", "prompt=none cannot be combined with other values.")
	}
	// acr_values are voluntary (Core 3.1.2.1): only a value naming MFA
	// changes anything; others are ignored.
	for _, v := range strings.Fields(q.Get("acr_values")) {
		if slices.Contains(mfaACRValues, v) && ar.acr == "" {
			ar.acr = v
		}
	}
	if v := q.Get("max_age"); v != "" {
		n, err := strconv.ParseUint(v, 10, 31)
		if err != nil {
			return ar, refusal("invalid_request", "max_age must be a number of seconds.")
		}
		ar.maxAge = time.Duration(n) * time.Second
	}
	return ar, nil
}

// authorize is GET /authorize. A browser already signed in to the
// simulator (recently enough for max_age, and not asked to sign in again
// with prompt=login or select_account) gets its code at once, anyone else
// the sign-in page.
func (p *Provider) authorize(w http.ResponseWriter, r *http.Request) {
	ar, aerr := p.parseAuthorize(r.Context(), r.URL.RawQuery)
	p.allowFormAction(w, ar)
	if aerr != nil {
		p.authorizeError(w, r, ar, aerr)
		return
	}
	// select_account is Entra ID's account picker; here, the sign-in page.
	if !ar.prompt["login"] && !ar.prompt["select_account"] {
		acct, started, ok, err := p.signedInAccount(w, r)
		if err != nil {
			p.serverError(w, r, "session", err)
			return
		}
		amr := p.sessionAMR(r)
		if ok && ar.acr != "" && acct.MFAMethod == cqrs.MFANone {
			p.authorizeError(w, r, ar, errMFAEnrolmentRequired)
			return
		}
		// A session from the password alone does not answer a request for MFA.
		if ok && (ar.maxAge < 0 || p.cfg.Now().Sub(started) <= ar.maxAge) && (ar.acr == "" || slices.Contains(amr, "mfa")) {
			if acct.ConsentRequired {
				if ar.prompt["none"] {
					p.authorizeError(w, r, ar, refusal("consent_required", "The user has not agreed to sign in to this application."))
					return
				}
				p.askConsent(w, r, ar, r.URL.RawQuery, acct, started, amr)
				return
			}
			p.issueCode(w, r, ar, acct, started, amr)
			return
		}
	}
	if ar.prompt["none"] {
		p.authorizeError(w, r, ar, refusal("login_required", "The user is not signed in to NHSmail."))
		return
	}
	p.render(w, r, http.StatusOK, views.NHSmailSignInPage(p.signInModel(w, r, r.URL.RawQuery)))
}

// signIn is POST /authorize: the sign-in form. The authorize request rides
// along in a hidden field, bound to the form by its CSRF token, and is
// checked again here.
func (p *Provider) signIn(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	if !p.sameOrigin(r) {
		p.crossSite(w, r)
		return
	}
	query := r.PostForm.Get("query")
	if !p.csrfValid(r, "sign-in", query) {
		p.formExpired(w, r, query)
		return
	}
	ar, aerr := p.parseAuthorize(ctx, query)
	p.allowFormAction(w, ar)
	if aerr != nil {
		p.authorizeError(w, r, ar, aerr)
		return
	}
	model := p.signInModel(w, r, query)
	model.Email = strings.TrimSpace(r.PostForm.Get("email"))
	model.Private = r.PostForm.Get("private") != ""
	password := r.PostForm.Get("password")

	acct, err := p.dir.NHSmailAccountByEmail(ctx, model.Email)
	if err != nil && !errors.Is(err, cqrs.ErrNotFound) {
		p.serverError(w, r, "account by email", err)
		return
	}
	// An unknown email is checked against a dummy hash (acct.PasswordHash
	// is empty), so it takes as long as a known one.
	ok, err := p.hasher.Verify(ctx, password, acct.PasswordHash)
	switch {
	case errors.Is(err, secret.ErrBusy):
		p.message(w, r, http.StatusServiceUnavailable, "NHSmail is busy",
			"Too many people are signing in at once. Wait a moment, then go back and try again.")
		return
	case errors.Is(err, secret.ErrMalformedHash):
		p.log.Error("nhsmail: stored password hash is malformed", "account", acct.ID)
		ok = false
	case err != nil:
		p.serverError(w, r, "verify password", err)
		return
	}
	if !ok || acct.Disabled {
		model.Error = msgIncorrect
		p.render(w, r, http.StatusUnauthorized, views.NHSmailSignInPage(model))
		return
	}
	if acct.Locked {
		model.Error = msgLocked
		p.render(w, r, http.StatusForbidden, views.NHSmailSignInPage(model))
		return
	}
	// The trainer's control for this account's next sign-in, spent now.
	drill, err := p.takeDrill(r.Context(), acct.ID)
	if err != nil {
		p.serverError(w, r, "MFA control", err)
		return
	}
	if ar.acr != "" && acct.MFAMethod == cqrs.MFANone && drill != cqrs.MFADrillPhoneChanged {
		p.authorizeError(w, r, ar, errMFAEnrolmentRequired)
		return
	}
	if acct.MFAMethod != cqrs.MFANone || drill != "" {
		p.startMFA(w, r, query, acct, model.Private, drill)
		return
	}
	started := p.cfg.Now()
	if err := p.startSession(w, r, acct.ID, model.Private, amrPassword); err != nil {
		p.serverError(w, r, "start session", err)
		return
	}
	if acct.ConsentRequired {
		p.askConsent(w, r, ar, query, acct, started, amrPassword)
		return
	}
	p.issueCode(w, r, ar, acct, started, amrPassword)
}

// consent is POST /consent: the answer to the consent page.
func (p *Provider) consent(w http.ResponseWriter, r *http.Request) {
	if !p.sameOrigin(r) {
		p.crossSite(w, r)
		return
	}
	ticket := r.PostForm.Get("ticket")
	if !p.csrfValid(r, "consent", ticket) {
		p.formExpired(w, r, "")
		return
	}
	pending, ok, err := p.takeConsent(r.Context(), ticket)
	if err != nil {
		p.serverError(w, r, "consent", err)
		return
	}
	if !ok {
		p.message(w, r, http.StatusBadRequest, "This sign-in request has expired",
			"Go back to CQRS and select Sign In again.")
		return
	}
	ar, aerr := p.parseAuthorize(r.Context(), pending.Query)
	p.allowFormAction(w, ar)
	if aerr != nil {
		p.authorizeError(w, r, ar, aerr)
		return
	}
	acct, err := p.dir.NHSmailAccount(r.Context(), pending.AccountID)
	if err != nil && !errors.Is(err, cqrs.ErrNotFound) {
		p.serverError(w, r, "account", err)
		return
	}
	if err != nil || acct.Disabled || acct.Locked {
		p.authorizeError(w, r, ar, refusal("access_denied", "The account can no longer sign in."))
		return
	}
	switch r.PostForm.Get("decision") {
	case "accept":
		p.issueCode(w, r, ar, acct, pending.AuthTime, pending.AMR)
	case "cancel":
		p.authorizeError(w, r, ar, refusal("access_denied", "The user cancelled the sign-in."))
	default:
		p.message(w, r, http.StatusBadRequest, "The request could not be read", "Select Accept or Cancel.")
	}
}

// help is the "Unlock Account or Forgotten Password? Click here." page.
func (p *Provider) help(w http.ResponseWriter, r *http.Request) {
	var back *views.NHSmailLink
	if r.URL.RawQuery != "" {
		back = &views.NHSmailLink{URL: p.prefix + "/authorize?" + r.URL.RawQuery, Text: "Back to sign in"}
	}
	p.messageWithLink(w, r, http.StatusOK, "Unlock Account or Forgotten Password", back,
		"NHSmail accounts are unlocked, and forgotten passwords reset, through the NHSmail portal or by your organisation's NHSmail Local Administrator.",
		"This is the NHSmail simulator inside this CQRS system: here the CQRS system administrator manages NHSmail accounts. Ask them to unlock your account or to set a new password.",
	)
}

// issueCode stores the signed-in request with a new code and sends the
// browser back to the client with the code and state. started is when the
// password was checked (the provider's clock); the ID token's auth_time is
// that moment on the wall clock, which iat and exp are stamped from.
func (p *Provider) issueCode(w http.ResponseWriter, r *http.Request, ar *authorizeRequest, acct cqrs.NHSmailAccount, started time.Time, amr []string) {
	authTime := time.Now().Add(-p.cfg.Now().Sub(started)).UTC().Truncate(time.Second)
	req := &authRequest{
		ClientID: ar.client.id, RedirectURI: ar.redirectURI, State: ar.state, Nonce: ar.nonce,
		Scopes: ar.scopes, CodeChallenge: ar.challenge, AccountID: acct.ID, Subject: acct.ObjectID, AuthTime: authTime, AMR: amr,
	}
	if slices.Contains(amr, "mfa") {
		req.ACR = ar.acr
	}
	code, err := storage{p: p}.issue(r.Context(), req)
	if err != nil {
		p.serverError(w, r, "issue code", err)
		return
	}
	p.log.Info("nhsmail: signed in", "account", acct.ID, "client", ar.client.id)
	p.redirectToClient(w, r, ar, url.Values{"code": {code}})
}

// redirectToClient answers the client at its registered redirect URI.
func (p *Provider) redirectToClient(w http.ResponseWriter, r *http.Request, ar *authorizeRequest, params url.Values) {
	u, err := url.Parse(ar.redirectURI)
	if err != nil { // registered URIs parse; this is a broken registration
		p.serverError(w, r, "redirect URI", err)
		return
	}
	q := u.Query()
	for k, v := range params {
		q[k] = v
	}
	if ar.state != "" {
		q.Set("state", ar.state)
	}
	u.RawQuery = q.Encode()
	http.Redirect(w, r, u.String(), http.StatusSeeOther)
}

// authorizeError sends an error back to the client once its redirect URI
// is known to be registered; anything else (an unknown client, a redirect
// URI that is not registered) gets a page and no redirect.
func (p *Provider) authorizeError(w http.ResponseWriter, r *http.Request, ar *authorizeRequest, e *authorizeError) {
	p.log.Debug("nhsmail: authorize refused", "error", e.code, "description", e.description)
	if ar == nil || e.noRedirect {
		p.message(w, r, http.StatusBadRequest, "The sign-in request was not accepted",
			"NHSmail could not accept the request from the application that sent you here ("+e.code+"): "+e.description,
			"Go back to the application and try again.")
		return
	}
	p.redirectToClient(w, r, ar, url.Values{"error": {e.code}, "error_description": {e.description}})
}

func (p *Provider) signInModel(w http.ResponseWriter, r *http.Request, query string) views.NHSmailSignInModel {
	help := p.prefix + "/help"
	if query != "" {
		help += "?" + query
	}
	return views.NHSmailSignInModel{
		Action:    p.prefix + "/authorize",
		Query:     query,
		CSRFToken: p.csrfToken(p.csrfSeed(w, r), "sign-in", query),
		HelpURL:   help,
		JobAid:    p.cfg.JobAid,
	}
}

// askConsent shows the consent page for an account that has signed in.
// The page's ticket is kept in the store, so it can be answered after a
// restart.
func (p *Provider) askConsent(w http.ResponseWriter, r *http.Request, ar *authorizeRequest, query string, acct cqrs.NHSmailAccount, started time.Time, amr []string) {
	ticket := secret.NewToken()
	err := p.dir.UpdateNHSmailState(r.Context(), func(tx cqrs.NHSmailStateTx) error {
		return tx.Put(stateConsent, secret.HashToken(ticket), pendingConsent{AccountID: acct.ID, Query: query, AuthTime: started, AMR: amr},
			tx.Now().Add(consentLifespan))
	})
	if err != nil {
		p.serverError(w, r, "consent", err)
		return
	}
	p.render(w, r, http.StatusOK, views.NHSmailConsentPage(views.NHSmailConsentModel{
		Action:     p.prefix + "/consent",
		CSRFToken:  p.csrfToken(p.csrfSeed(w, r), "consent", ticket),
		Ticket:     ticket,
		Email:      acct.Email,
		Name:       acct.FullName(),
		ClientName: ar.client.name,
	}))
}

// takeConsent spends a consent ticket.
func (p *Provider) takeConsent(ctx context.Context, ticket string) (pendingConsent, bool, error) {
	var pc pendingConsent
	if ticket == "" {
		return pc, false, nil
	}
	found := false
	err := p.dir.UpdateNHSmailState(ctx, func(tx cqrs.NHSmailStateTx) error {
		key := secret.HashToken(ticket)
		err := tx.Get(stateConsent, key, &pc)
		if errors.Is(err, cqrs.ErrNotFound) {
			return nil
		}
		if err != nil {
			return err
		}
		found = true
		return tx.Delete(stateConsent, key)
	})
	return pc, found, err
}

// Sessions

// signedInAccount returns the account of the browser's simulator session,
// if it has a live one whose account may still sign in, and when the
// session began.
func (p *Provider) signedInAccount(w http.ResponseWriter, r *http.Request) (cqrs.NHSmailAccount, time.Time, bool, error) {
	c, err := r.Cookie(p.cfg.SessionCookie)
	if err != nil || c.Value == "" {
		return cqrs.NHSmailAccount{}, time.Time{}, false, nil
	}
	hash := secret.HashToken(c.Value)
	id, started, err := p.dir.NHSmailSessionStarted(r.Context(), hash)
	if errors.Is(err, cqrs.ErrNotFound) || errors.Is(err, cqrs.ErrExpired) {
		p.clearSessionCookie(w)
		return cqrs.NHSmailAccount{}, time.Time{}, false, nil
	}
	if err != nil {
		return cqrs.NHSmailAccount{}, time.Time{}, false, err
	}
	acct, err := p.dir.NHSmailAccount(r.Context(), id)
	if err != nil && !errors.Is(err, cqrs.ErrNotFound) {
		return cqrs.NHSmailAccount{}, time.Time{}, false, err
	}
	if err != nil || acct.Disabled || acct.Locked {
		if err := p.dir.DeleteNHSmailSession(r.Context(), hash); err != nil {
			return cqrs.NHSmailAccount{}, time.Time{}, false, err
		}
		p.clearSessionCookie(w)
		return cqrs.NHSmailAccount{}, time.Time{}, false, nil
	}
	return acct, started, true, nil
}

// startSession signs the browser in to the simulator, replacing any
// session it had. The server record lasts SessionLifespan either way; only
// on a private computer does the cookie outlive the browser.
func (p *Provider) startSession(w http.ResponseWriter, r *http.Request, accountID uint64, private bool, amr []string) error {
	if old, err := r.Cookie(p.cfg.SessionCookie); err == nil && old.Value != "" {
		if err := p.dir.DeleteNHSmailSession(r.Context(), secret.HashToken(old.Value)); err != nil {
			return err
		}
	}
	token := secret.NewToken()
	expires := p.cfg.Now().Add(SessionLifespan)
	if err := p.dir.CreateNHSmailSession(r.Context(), secret.HashToken(token), accountID, expires); err != nil {
		return err
	}
	// How the session was signed in, for the amr of the ID tokens it gives.
	err := p.dir.UpdateNHSmailState(r.Context(), func(tx cqrs.NHSmailStateTx) error {
		return tx.Put(stateSessionAMR, secret.HashToken(token), amr, expires)
	})
	if err != nil {
		return err
	}
	c := p.cookie(p.cfg.SessionCookie, token)
	if private {
		// Max-Age rather than Expires: the browser's clock, not ours, counts.
		c.MaxAge = int(SessionLifespan / time.Second)
	}
	http.SetCookie(w, c)
	return nil
}

func (p *Provider) clearSessionCookie(w http.ResponseWriter) {
	c := p.cookie(p.cfg.SessionCookie, "")
	c.MaxAge = -1
	http.SetCookie(w, c)
}

func (p *Provider) cookie(name, value string) *http.Cookie {
	return &http.Cookie{
		Name:     name,
		Value:    value,
		Path:     p.cookiePath,
		HttpOnly: true,
		Secure:   p.cfg.Secure,
		SameSite: http.SameSiteLaxMode,
	}
}

// Cross-site request defences. The app's CSRF middleware does not run for
// the provider (its token endpoint is called server to server), so the
// provider's forms carry their own: a random cookie, and in the form an
// HMAC of it bound to what the form is for (the authorize request or the
// consent ticket).

// csrfSeedLen is 16 random bytes in unpadded base64url.
const csrfSeedLen = 22

// csrfSeed returns the browser's CSRF cookie value, setting a new one when
// it has none.
func (p *Provider) csrfSeed(w http.ResponseWriter, r *http.Request) string {
	if c, err := r.Cookie(p.cfg.CSRFCookie); err == nil && len(c.Value) == csrfSeedLen {
		return c.Value
	}
	seed := base64.RawURLEncoding.EncodeToString(randomBytes(16))
	http.SetCookie(w, p.cookie(p.cfg.CSRFCookie, seed))
	return seed
}

func (p *Provider) csrfToken(seed, purpose, binding string) string {
	mac := hmac.New(sha256.New, p.csrfKey)
	mac.Write([]byte("nhsmail\x00" + purpose + "\x00" + seed + "\x00" + binding))
	return base64.RawURLEncoding.EncodeToString(mac.Sum(nil))
}

func (p *Provider) csrfValid(r *http.Request, purpose, binding string) bool {
	c, err := r.Cookie(p.cfg.CSRFCookie)
	if err != nil || len(c.Value) != csrfSeedLen {
		return false
	}
	got := r.PostForm.Get("csrf_token")
	return got != "" && hmac.Equal([]byte(got), []byte(p.csrfToken(c.Value, purpose, binding)))
}

// sameOrigin refuses form posts from other sites: an Origin header, when
// the browser sends one, must be the issuer's, and Fetch Metadata must not
// say cross-site (other ports on localhost are "same-site" but are other
// people's apps).
func (p *Provider) sameOrigin(r *http.Request) bool {
	switch r.Header.Get("Sec-Fetch-Site") {
	case "cross-site", "same-site":
		return false
	}
	o := r.Header.Get("Origin")
	return o == "" || o == p.origin
}

func (p *Provider) crossSite(w http.ResponseWriter, r *http.Request) {
	p.message(w, r, http.StatusForbidden, "This request came from another site",
		"You were not signed in. Use the NHSmail sign-in page itself.")
}

func (p *Provider) formExpired(w http.ResponseWriter, r *http.Request, query string) {
	var link *views.NHSmailLink
	if query != "" {
		link = &views.NHSmailLink{URL: p.prefix + "/authorize?" + query, Text: "Sign in again"}
	}
	p.messageWithLink(w, r, http.StatusForbidden, "Your sign-in page has expired", link,
		"For your security the form could not be accepted and you were not signed in.",
		"Go back to CQRS and select Sign In again.")
}
