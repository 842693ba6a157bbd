// Package nhsmail is the embedded NHSmail simulator: a standard OpenID
// Connect provider (discovery, JWKS, authorize, token, userinfo) with its own
// directory of NHSmail accounts, so CQRS single sign-on works on one
// computer with no identity provider installed.
//
// The protocol is ory/fosite's: the authorization code flow with PKCE (S256)
// required, client authentication at the token endpoint, and RS256 ID tokens
// signed with a key the store keeps across restarts. This package adds the
// sign-in, consent and help pages, the provider's own sign-in sessions and
// the claims Entra ID (which NHSmail runs on) puts in its tokens.
package nhsmail

import (
	"context"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/ory/fosite"
	"github.com/ory/fosite/compose"
	"github.com/ory/fosite/token/jwt"

	"github.com/cqrs-local/cqrs-signin/store"
)

// Lifetimes of what the provider hands out.
const (
	// CodeLifespan is how long an authorization code can be exchanged.
	CodeLifespan = time.Minute
	// AccessTokenLifespan is how long an access token opens /userinfo.
	AccessTokenLifespan = 10 * time.Minute
	// IDTokenLifespan is the ID token's exp; CQRS reads it once at sign-in.
	IDTokenLifespan = 10 * time.Minute
	// SessionLifespan is how long a browser stays signed in to the
	// simulator (a cookie that outlives the browser only when "This is a
	// private computer" is ticked).
	SessionLifespan = 12 * time.Hour
	// consentLifespan bounds how long a consent page can be answered.
	consentLifespan = 10 * time.Minute
)

// Cookie names. Both are scoped to the issuer's path, so the CQRS pages
// never see them.
const (
	SessionCookie = "nhsmail_session"
	CSRFCookie    = "nhsmail_csrf"
)

// Scopes the simulator grants.
var supportedScopes = []string{"openid", "email", "profile"}

// Claims the simulator can put in ID tokens and userinfo answers.
var supportedClaims = []string{
	"iss", "sub", "aud", "exp", "iat", "auth_time", "nonce", "rat", "jti", "at_hash",
	"tid", "oid", "email", "email_verified", "preferred_username", "name", "given_name", "family_name",
}

// Config is what the provider needs to know about where it runs and the one
// client it serves.
type Config struct {
	// Issuer is the provider's URL, e.g. "http://127.0.0.1:8420/nhsmail";
	// every endpoint is Issuer + "/...", and ServeHTTP answers the paths
	// that begin with its path.
	Issuer string
	// ClientID, ClientSecret and RedirectURIs register CQRS, the only
	// relying party.
	ClientID     string
	ClientSecret string
	RedirectURIs []string
	// Secure marks cookies Secure; set it when the issuer is served over TLS.
	Secure bool
	// JobAid shows, in training mode, which step of the documents the
	// sign-in page is (the CQRS pages have their own job aid panel).
	JobAid bool
	// Now is the clock for sign-in sessions, consent pages and the
	// provider's own expiry checks of codes and access tokens; nil means
	// time.Now. (fosite stamps iat, exp and auth_time from the wall clock,
	// and checks its own expiries against it as well.)
	Now func() time.Time
}

// Directory is the store's NHSmail directory, as the provider uses it.
type Directory interface {
	NHSmailAccountByEmail(email string) (store.NHSmailAccount, error)
	NHSmailAccount(id uint64) (store.NHSmailAccount, error)
	NHSmailSigningKey() (*rsa.PrivateKey, error)
	NHSmailTenantID() (string, error)
	CreateNHSmailSession(hash []byte, accountID uint64, expires time.Time) error
	NHSmailSession(hash []byte) (accountID uint64, err error)
	DeleteNHSmailSession(hash []byte) error
}

// Hasher checks NHSmail passwords; *secret.Hasher satisfies it.
type Hasher interface {
	Hash(ctx context.Context, password string) (string, error)
	// Verify with an empty encoded hash must cost the same as a real check
	// and answer false: unknown emails are checked that way.
	Verify(ctx context.Context, password, encoded string) (bool, error)
}

// Provider is the NHSmail simulator's OpenID provider, an http.Handler.
type Provider struct {
	log    *slog.Logger
	cfg    Config
	dir    Directory
	hasher Hasher

	oauth    fosite.OAuth2Provider
	tokens   *tokenStore
	consents *consentTickets

	prefix     string // the issuer's path, e.g. "/nhsmail"
	cookiePath string
	origin     string // the issuer's scheme://host, for the Origin check
	tenantID   string
	kid        string
	jwks       []byte
	discovery  []byte
	csrfKey    []byte
	csp        string
}

// New builds the provider: it loads (or makes) the signing key and tenant
// ID from the directory and registers the CQRS client.
func New(logger *slog.Logger, cfg Config, dir Directory, hasher Hasher) (*Provider, error) {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	cfg.Issuer = strings.TrimSuffix(cfg.Issuer, "/")
	iss, err := url.Parse(cfg.Issuer)
	if err != nil || (iss.Scheme != "http" && iss.Scheme != "https") || iss.Host == "" || iss.RawQuery != "" || iss.Fragment != "" {
		return nil, fmt.Errorf("nhsmail: issuer %q is not an http(s) URL without query or fragment", cfg.Issuer)
	}
	if cfg.ClientID == "" || cfg.ClientSecret == "" || len(cfg.RedirectURIs) == 0 {
		return nil, errors.New("nhsmail: the client ID, client secret and redirect URIs are required")
	}
	if dir == nil || hasher == nil {
		return nil, errors.New("nhsmail: a directory and a hasher are required")
	}

	key, err := dir.NHSmailSigningKey()
	if err != nil {
		return nil, fmt.Errorf("nhsmail: signing key: %w", err)
	}
	tenantID, err := dir.NHSmailTenantID()
	if err != nil {
		return nil, fmt.Errorf("nhsmail: tenant: %w", err)
	}

	p := &Provider{
		log:        logger,
		cfg:        cfg,
		dir:        dir,
		hasher:     hasher,
		prefix:     strings.TrimSuffix(iss.EscapedPath(), "/"),
		origin:     iss.Scheme + "://" + iss.Host,
		tenantID:   tenantID,
		consents:   newConsentTickets(cfg.Now),
		csrfKey:    randomBytes(32),
		cookiePath: iss.Path,
	}
	p.csp = contentSecurity(p.origin, cfg.RedirectURIs)
	if p.cookiePath == "" {
		p.cookiePath = "/"
	}
	if err := p.buildKeys(key); err != nil {
		return nil, err
	}
	if p.discovery, err = json.Marshal(p.discoveryDocument()); err != nil {
		return nil, err
	}
	p.buildOAuth(key)
	return p, nil
}

// buildKeys publishes the signing key's public half. Its kid is the RFC 7638
// thumbprint, so it stays the same for as long as the stored key does.
func (p *Provider) buildKeys(key *rsa.PrivateKey) error {
	pub := jose.JSONWebKey{Key: &key.PublicKey, Algorithm: string(jose.RS256), Use: "sig"}
	thumb, err := pub.Thumbprint(crypto.SHA256)
	if err != nil {
		return fmt.Errorf("nhsmail: key thumbprint: %w", err)
	}
	pub.KeyID = base64.RawURLEncoding.EncodeToString(thumb)
	p.kid = pub.KeyID
	p.jwks, err = json.Marshal(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{pub}})
	if err != nil {
		return fmt.Errorf("nhsmail: JWKS: %w", err)
	}
	return nil
}

// buildOAuth composes fosite: the authorization code flow, OpenID Connect on
// top of it, PKCE, and the access-token validator /userinfo relies on.
func (p *Provider) buildOAuth(key *rsa.PrivateKey) {
	registered := make(map[string]bool, len(p.cfg.RedirectURIs))
	for _, u := range p.cfg.RedirectURIs {
		registered[u] = true
	}
	fc := &fosite.Config{
		AuthorizeCodeLifespan:          CodeLifespan,
		AccessTokenLifespan:            AccessTokenLifespan,
		IDTokenLifespan:                IDTokenLifespan,
		RefreshTokenLifespan:           -1,
		IDTokenIssuer:                  p.cfg.Issuer,
		AccessTokenIssuer:              p.cfg.Issuer,
		TokenURL:                       p.cfg.Issuer + "/token",
		GlobalSecret:                   randomBytes(32), // codes and tokens live in memory, so they die with the process anyway
		EnforcePKCE:                    true,
		EnablePKCEPlainChallengeMethod: false,
		ScopeStrategy:                  fosite.ExactScopeStrategy,
		ClientSecretsHasher:            clientSecretHasher{},
		SendDebugMessagesToClients:     false,
		// fosite refuses plain-http redirect URIs other than loopback ones;
		// the app registers its own callback, so a LAN address over http
		// that the operator chose is allowed too.
		RedirectSecureChecker: func(ctx context.Context, u *url.URL) bool {
			return registered[u.String()] || fosite.IsRedirectURISecureStrict(ctx, u)
		},
	}
	client := &fosite.DefaultResponseModeClient{
		DefaultClient: &fosite.DefaultClient{
			ID:            p.cfg.ClientID,
			Secret:        hashClientSecret(p.cfg.ClientSecret),
			RedirectURIs:  append([]string(nil), p.cfg.RedirectURIs...),
			GrantTypes:    []string{"authorization_code"},
			ResponseTypes: []string{"code"},
			Scopes:        supportedScopes,
		},
		ResponseModes: []fosite.ResponseModeType{fosite.ResponseModeQuery},
	}
	p.tokens = newTokenStore(p.cfg.Now, client)
	getKey := func(context.Context) (interface{}, error) { return key, nil }
	strategy := &compose.CommonStrategy{
		CoreStrategy:               compose.NewOAuth2HMACStrategy(fc),
		OpenIDConnectTokenStrategy: compose.NewOpenIDConnectStrategy(getKey, fc),
		Signer:                     &jwt.DefaultSigner{GetPrivateKey: getKey},
	}
	p.oauth = compose.Compose(fc, p.tokens, strategy,
		compose.OAuth2AuthorizeExplicitFactory,
		compose.OpenIDConnectExplicitFactory,
		compose.OAuth2PKCEFactory,
		compose.OAuth2TokenIntrospectionFactory,
	)
}

// Issuer is the provider's issuer URL.
func (p *Provider) Issuer() string { return p.cfg.Issuer }

// KeyID is the kid of the key that signs ID tokens.
func (p *Provider) KeyID() string { return p.kid }

// ServeHTTP answers the provider's endpoints under the issuer's path.
func (p *Provider) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	p.setSecurityHeaders(w)
	rest, ok := strings.CutPrefix(r.URL.Path, p.prefix)
	if !ok || (rest != "" && rest[0] != '/') {
		p.notFound(w, r)
		return
	}
	if r.Body != nil && r.Method == http.MethodPost {
		r.Body = http.MaxBytesReader(w, r.Body, maxBody)
	}
	api := rest == "/token" || rest == "/userinfo"
	if status, msg := readableRequest(r); status != 0 {
		if api {
			writeJSONError(w, status, "invalid_request", msg)
		} else {
			p.message(w, r, status, "The request could not be read", msg)
		}
		return
	}
	switch rest {
	case "/.well-known/openid-configuration":
		p.document(w, r, p.discovery)
	case "/jwks":
		p.document(w, r, p.jwks)
	case "/authorize":
		switch r.Method {
		case http.MethodGet: // not HEAD: a signed-in browser gets a code
			p.authorize(w, r)
		case http.MethodPost:
			p.signIn(w, r)
		default:
			methodNotAllowed(w, "GET, POST")
		}
	case "/consent":
		if r.Method != http.MethodPost {
			methodNotAllowed(w, "POST")
			return
		}
		p.consent(w, r)
	case "/token":
		if r.Method != http.MethodPost {
			methodNotAllowed(w, "POST")
			return
		}
		p.token(w, r)
	case "/userinfo":
		if r.Method != http.MethodGet && r.Method != http.MethodPost {
			methodNotAllowed(w, "GET, POST")
			return
		}
		p.userinfo(w, r)
	case "/help":
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			methodNotAllowed(w, "GET, HEAD")
			return
		}
		p.help(w, r)
	default:
		p.notFound(w, r)
	}
}

// discoveryDocument is /.well-known/openid-configuration.
func (p *Provider) discoveryDocument() map[string]any {
	return map[string]any{
		"issuer":                                p.cfg.Issuer,
		"authorization_endpoint":                p.cfg.Issuer + "/authorize",
		"token_endpoint":                        p.cfg.Issuer + "/token",
		"userinfo_endpoint":                     p.cfg.Issuer + "/userinfo",
		"jwks_uri":                              p.cfg.Issuer + "/jwks",
		"response_types_supported":              []string{"code"},
		"response_modes_supported":              []string{"query"},
		"grant_types_supported":                 []string{"authorization_code"},
		"subject_types_supported":               []string{"public"},
		"id_token_signing_alg_values_supported": []string{"RS256"},
		"scopes_supported":                      supportedScopes,
		"token_endpoint_auth_methods_supported": []string{"client_secret_basic", "client_secret_post"},
		"code_challenge_methods_supported":      []string{"S256"},
		"claims_supported":                      supportedClaims,
		"prompt_values_supported":               []string{"none", "login", "consent", "select_account"},
		"request_parameter_supported":           false,
		"request_uri_parameter_supported":       false,
	}
}

// document serves a public JSON document (discovery or JWKS).
func (p *Provider) document(w http.ResponseWriter, r *http.Request, body []byte) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		methodNotAllowed(w, "GET, HEAD")
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "public, max-age=300")
	w.Write(body)
}

// token is the token endpoint: fosite authenticates the client, checks the
// code, the redirect URI and the PKCE verifier, and issues the tokens.
func (p *Provider) token(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	ar, err := p.oauth.NewAccessRequest(ctx, r, newSession())
	if err != nil {
		p.logOAuthError(r, err)
		p.oauth.WriteAccessError(ctx, w, ar, err)
		return
	}
	resp, err := p.oauth.NewAccessResponse(ctx, ar)
	if err != nil {
		p.logOAuthError(r, err)
		p.oauth.WriteAccessError(ctx, w, ar, err)
		return
	}
	p.oauth.WriteAccessResponse(ctx, w, ar, resp)
}

// userinfo answers the profile of the account an access token was issued
// for, read afresh so a disabled account stops answering at once.
func (p *Provider) userinfo(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	token := fosite.AccessTokenFromRequest(r)
	refuse := func(desc string) {
		w.Header().Set("WWW-Authenticate", `Bearer error="invalid_token", error_description="`+desc+`"`)
		writeJSONError(w, http.StatusUnauthorized, "invalid_token", desc)
	}
	if token == "" {
		refuse("The access token is missing.")
		return
	}
	_, ar, err := p.oauth.IntrospectToken(ctx, token, fosite.AccessToken, newSession(), "openid")
	if err != nil {
		refuse("The access token is not valid.")
		return
	}
	sess, ok := ar.GetSession().(*session)
	if !ok {
		refuse("The access token is not valid.")
		return
	}
	acct, err := p.dir.NHSmailAccount(sess.AccountID)
	if err != nil || acct.Disabled {
		refuse("The account is no longer available.")
		return
	}
	claims := p.profileClaims(acct, ar.GetGrantedScopes())
	claims["sub"] = acct.ObjectID
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	json.NewEncoder(w).Encode(claims)
}

// logOAuthError logs what a client got wrong at debug level (it is the
// client's problem, and the answer tells it) and server faults as errors.
func (p *Provider) logOAuthError(r *http.Request, err error) {
	rfc := fosite.ErrorToRFC6749Error(err)
	level := slog.LevelDebug
	if rfc.CodeField >= 500 {
		level = slog.LevelError
	}
	p.log.Log(r.Context(), level, "nhsmail: oauth error", "path", r.URL.Path, "error", rfc.ErrorField, "hint", rfc.HintField, "debug", rfc.DebugField)
}

func randomBytes(n int) []byte {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic(fmt.Sprintf("nhsmail: crypto/rand failed: %v", err))
	}
	return b
}
