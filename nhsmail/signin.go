package nhsmail

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/ory/fosite"

	"github.com/cqrs-local/cqrs-signin/secret"
	"github.com/cqrs-local/cqrs-signin/store"
	"github.com/cqrs-local/cqrs-signin/views"
)

// The messages of the sign-in page. The first is the documents' wording.
const (
	msgIncorrect = "Incorrect user ID or password. Type the correct user ID and password, and try again."
	msgLocked    = `Your NHSmail account is locked. Use "Unlock Account or Forgotten Password? Click here." below to unlock it.`
)

// authorize is GET /authorize. fosite validates the request (client,
// redirect URI, PKCE challenge, scopes, state); a browser already signed in
// to the simulator gets its code at once, anyone else the sign-in page.
func (p *Provider) authorize(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	ar, err := p.oauth.NewAuthorizeRequest(ctx, r)
	if err == nil {
		err = checkAuthorizeRequest(ar)
	}
	if err != nil {
		p.authorizeError(w, r, ar, err)
		return
	}
	prompt := promptValues(ar)
	// The simulator does not record when a session signed in, so max_age
	// is honoured the only safe way: by asking for the password again.
	mustSignIn := prompt["login"] || ar.GetRequestForm().Get("max_age") != ""
	if !mustSignIn {
		acct, ok, err := p.signedInAccount(w, r)
		if err != nil {
			p.serverError(w, r, "session", err)
			return
		}
		if ok {
			// The browser signed in earlier; fosite needs an auth_time no
			// later than now, and the request's own time is that.
			at := ar.GetRequestedAt()
			if acct.ConsentRequired {
				if prompt["none"] {
					p.authorizeError(w, r, ar, fosite.ErrConsentRequired)
					return
				}
				p.askConsent(w, r, r.URL.RawQuery, acct, at, at)
				return
			}
			p.issueCode(w, r, ar, acct, at, at)
			return
		}
	}
	if prompt["none"] {
		p.authorizeError(w, r, ar, fosite.ErrLoginRequired)
		return
	}
	p.render(w, r, http.StatusOK, views.NHSmailSignInPage(p.signInModel(w, r, r.URL.RawQuery)))
}

// signIn is POST /authorize: the sign-in form. The authorize request rides
// along in a hidden field and fosite validates it again here, so nothing
// the browser changed in it is trusted.
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
	ar, err := p.authorizeRequestFrom(r, query)
	if err == nil {
		err = checkAuthorizeRequest(ar)
	}
	if err != nil {
		p.authorizeError(w, r, ar, err)
		return
	}
	model := p.signInModel(w, r, query)
	model.Email = strings.TrimSpace(r.PostForm.Get("email"))
	model.Private = r.PostForm.Get("private") != ""
	password := r.PostForm.Get("password")

	acct, err := p.dir.NHSmailAccountByEmail(model.Email)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
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
	authTime := time.Now()
	if err := p.startSession(w, r, acct.ID, model.Private); err != nil {
		p.serverError(w, r, "start session", err)
		return
	}
	if acct.ConsentRequired {
		p.askConsent(w, r, query, acct, authTime, ar.GetRequestedAt())
		return
	}
	p.issueCode(w, r, ar, acct, authTime, ar.GetRequestedAt())
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
	pending, ok := p.consents.take(ticket)
	if !ok {
		p.message(w, r, http.StatusBadRequest, "This sign-in request has expired",
			"Go back to CQRS and select Sign In again.")
		return
	}
	ar, err := p.authorizeRequestFrom(r, pending.query)
	if err == nil {
		err = checkAuthorizeRequest(ar)
	}
	if err != nil {
		p.authorizeError(w, r, ar, err)
		return
	}
	acct, err := p.dir.NHSmailAccount(pending.accountID)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		p.serverError(w, r, "account", err)
		return
	}
	if err != nil || acct.Disabled || acct.Locked {
		p.authorizeError(w, r, ar, fosite.ErrAccessDenied.WithHint("The account can no longer sign in."))
		return
	}
	switch r.PostForm.Get("decision") {
	case "accept":
		p.issueCode(w, r, ar, acct, pending.authTime, pending.requestedAt)
	case "cancel":
		p.authorizeError(w, r, ar, fosite.ErrAccessDenied.WithHint("The user cancelled the sign-in."))
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
		"This is the NHSmail simulator inside the CQRS training system: here the CQRS system administrator manages NHSmail accounts. Ask them to unlock your account or to set a new password.",
	)
}

// issueCode grants the requested scopes (fosite has checked them against
// the client's) and redirects to CQRS with the code and state.
func (p *Provider) issueCode(w http.ResponseWriter, r *http.Request, ar fosite.AuthorizeRequester, acct store.NHSmailAccount, authTime, requestedAt time.Time) {
	ctx := r.Context()
	for _, scope := range ar.GetRequestedScopes() {
		ar.GrantScope(scope)
	}
	resp, err := p.oauth.NewAuthorizeResponse(ctx, ar, p.sessionFor(acct, ar.GetGrantedScopes(), authTime, requestedAt))
	if err != nil {
		p.authorizeError(w, r, ar, err)
		return
	}
	p.log.Info("nhsmail: signed in", "account", acct.ID)
	p.oauth.WriteAuthorizeResponse(ctx, w, ar, resp)
}

// authorizeError sends an error back to CQRS when fosite has established
// that the redirect URI is registered; anything else (an unknown client, a
// redirect URI that is not registered) gets a page and no redirect.
func (p *Provider) authorizeError(w http.ResponseWriter, r *http.Request, ar fosite.AuthorizeRequester, err error) {
	p.logOAuthError(r, err)
	mode := fosite.ResponseModeDefault
	if ar != nil {
		mode = ar.GetResponseMode()
	}
	if ar == nil || !ar.IsRedirectURIValid() || (mode != fosite.ResponseModeDefault && mode != fosite.ResponseModeQuery) {
		rfc := fosite.ErrorToRFC6749Error(err)
		status := rfc.CodeField
		if status < 400 || status > 599 {
			status = http.StatusBadRequest
		}
		if status >= 500 {
			p.message(w, r, status, "Sorry, there is a problem with NHSmail", "Nothing was changed. Try again later.")
			return
		}
		p.message(w, r, status, "The sign-in request was not accepted",
			"NHSmail could not accept the request from the application that sent you here ("+rfc.ErrorField+"): "+rfc.GetDescription(),
			"Go back to the application and try again.")
		return
	}
	p.oauth.WriteAuthorizeError(r.Context(), w, ar, err)
}

// checkAuthorizeRequest adds the simulator's own rules to fosite's: this
// is an OpenID provider, so the openid scope is required; and the PKCE
// challenge, which fosite checks only when it issues the code, is checked
// before anyone is asked for a password.
func checkAuthorizeRequest(ar fosite.AuthorizeRequester) error {
	if !ar.GetRequestedScopes().Has("openid") {
		return fosite.ErrInvalidScope.WithHint("The openid scope is required.")
	}
	form := ar.GetRequestForm()
	if form.Get("code_challenge") == "" || form.Get("code_challenge_method") != "S256" {
		return fosite.ErrInvalidRequest.WithHint("A PKCE code_challenge with code_challenge_method S256 is required.")
	}
	return nil
}

func promptValues(ar fosite.AuthorizeRequester) map[string]bool {
	out := map[string]bool{}
	for _, v := range strings.Fields(ar.GetRequestForm().Get("prompt")) {
		out[v] = true
	}
	return out
}

// authorizeRequestFrom re-parses an authorize request from its query string,
// as fosite would on the original GET.
func (p *Provider) authorizeRequestFrom(r *http.Request, query string) (fosite.AuthorizeRequester, error) {
	get := r.Clone(r.Context())
	get.Method = http.MethodGet
	u := *r.URL
	u.RawQuery = query
	get.URL = &u
	get.Body = http.NoBody
	get.ContentLength = 0
	get.Header.Del("Content-Type")
	get.Form, get.PostForm, get.MultipartForm = nil, nil, nil
	return p.oauth.NewAuthorizeRequest(r.Context(), get)
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
func (p *Provider) askConsent(w http.ResponseWriter, r *http.Request, query string, acct store.NHSmailAccount, authTime, requestedAt time.Time) {
	ticket := p.consents.add(pendingConsent{
		accountID:   acct.ID,
		query:       query,
		authTime:    authTime,
		requestedAt: requestedAt,
	})
	p.render(w, r, http.StatusOK, views.NHSmailConsentPage(views.NHSmailConsentModel{
		Action:    p.prefix + "/consent",
		CSRFToken: p.csrfToken(p.csrfSeed(w, r), "consent", ticket),
		Ticket:    ticket,
		Email:     acct.Email,
		Name:      acct.FullName(),
	}))
}

// Sessions

// signedInAccount returns the account of the browser's simulator session,
// if it has a live one whose account may still sign in.
func (p *Provider) signedInAccount(w http.ResponseWriter, r *http.Request) (store.NHSmailAccount, bool, error) {
	c, err := r.Cookie(SessionCookie)
	if err != nil || c.Value == "" {
		return store.NHSmailAccount{}, false, nil
	}
	hash := secret.HashToken(c.Value)
	id, err := p.dir.NHSmailSession(hash)
	if errors.Is(err, store.ErrNotFound) || errors.Is(err, store.ErrExpired) {
		p.clearSessionCookie(w)
		return store.NHSmailAccount{}, false, nil
	}
	if err != nil {
		return store.NHSmailAccount{}, false, err
	}
	acct, err := p.dir.NHSmailAccount(id)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return store.NHSmailAccount{}, false, err
	}
	if err != nil || acct.Disabled || acct.Locked {
		if err := p.dir.DeleteNHSmailSession(hash); err != nil {
			return store.NHSmailAccount{}, false, err
		}
		p.clearSessionCookie(w)
		return store.NHSmailAccount{}, false, nil
	}
	return acct, true, nil
}

// startSession signs the browser in to the simulator, replacing any
// session it had. The server record lasts SessionLifespan either way; only
// on a private computer does the cookie outlive the browser.
func (p *Provider) startSession(w http.ResponseWriter, r *http.Request, accountID uint64, private bool) error {
	if old, err := r.Cookie(SessionCookie); err == nil && old.Value != "" {
		if err := p.dir.DeleteNHSmailSession(secret.HashToken(old.Value)); err != nil {
			return err
		}
	}
	token := secret.NewToken()
	if err := p.dir.CreateNHSmailSession(secret.HashToken(token), accountID, p.cfg.Now().Add(SessionLifespan)); err != nil {
		return err
	}
	c := p.cookie(SessionCookie, token)
	if private {
		// Max-Age rather than Expires: the browser's clock, not ours, counts.
		c.MaxAge = int(SessionLifespan / time.Second)
	}
	http.SetCookie(w, c)
	return nil
}

func (p *Provider) clearSessionCookie(w http.ResponseWriter) {
	c := p.cookie(SessionCookie, "")
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
	if c, err := r.Cookie(CSRFCookie); err == nil && len(c.Value) == csrfSeedLen {
		return c.Value
	}
	seed := base64.RawURLEncoding.EncodeToString(randomBytes(16))
	http.SetCookie(w, p.cookie(CSRFCookie, seed))
	return seed
}

func (p *Provider) csrfToken(seed, purpose, binding string) string {
	mac := hmac.New(sha256.New, p.csrfKey)
	mac.Write([]byte("nhsmail\x00" + purpose + "\x00" + seed + "\x00" + binding))
	return base64.RawURLEncoding.EncodeToString(mac.Sum(nil))
}

func (p *Provider) csrfValid(r *http.Request, purpose, binding string) bool {
	c, err := r.Cookie(CSRFCookie)
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

// Consent tickets

// pendingConsent is a signed-in account waiting at the consent page.
type pendingConsent struct {
	accountID   uint64
	query       string
	authTime    time.Time
	requestedAt time.Time
	expires     time.Time
}

// consentTickets holds pending consents in memory, under the SHA-256 of
// their single-use ticket; a restart simply sends the user to sign in again.
type consentTickets struct {
	mu      sync.Mutex
	now     func() time.Time
	pending map[string]pendingConsent
}

func newConsentTickets(now func() time.Time) *consentTickets {
	return &consentTickets{now: now, pending: map[string]pendingConsent{}}
}

func (c *consentTickets) add(pc pendingConsent) string {
	ticket := secret.NewToken()
	c.mu.Lock()
	defer c.mu.Unlock()
	now := c.now()
	for k, old := range c.pending {
		if !now.Before(old.expires) {
			delete(c.pending, k)
		}
	}
	pc.expires = now.Add(consentLifespan)
	c.pending[string(secret.HashToken(ticket))] = pc
	return ticket
}

func (c *consentTickets) take(ticket string) (pendingConsent, bool) {
	if ticket == "" {
		return pendingConsent{}, false
	}
	key := string(secret.HashToken(ticket))
	c.mu.Lock()
	defer c.mu.Unlock()
	pc, ok := c.pending[key]
	delete(c.pending, key)
	if !ok || !c.now().Before(pc.expires) {
		return pendingConsent{}, false
	}
	return pc, true
}
