// Package nhsmail is the embedded NHSmail simulator: a standard OpenID
// Connect provider (discovery, JWKS, authorize, token, userinfo) with its own
// directory of NHSmail accounts, so CQRS single sign-on works on one
// computer with no identity provider installed.
//
// The protocol is zitadel/oidc's op package (OpenID Foundation certified):
// its token endpoint authenticates the client, checks the code, the redirect
// URI and the PKCE verifier and signs the ID token; its userinfo and JWKS
// endpoints answer from this package's storage. This package adds the
// authorize endpoint with the sign-in, consent and help pages, the
// provider's own sign-in sessions, the claims Entra ID (which NHSmail runs
// on) puts in its tokens, and keeps every piece of state in the bbolt file,
// so a restart in the middle of a sign-in loses nothing.
package nhsmail

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/zitadel/oidc/v3/pkg/op"

	"github.com/cqrs-local/cqrs-signin/cqrs"
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

// Default cookie names. Both are scoped to the issuer's path, so the CQRS
// pages never see them; Config can name them per instance.
const (
	SessionCookie = "nhsmail_session"
	CSRFCookie    = "nhsmail_csrf"
)

// Scopes the simulator grants.
var supportedScopes = []string{"openid", "email", "profile"}

// Claims the simulator can put in ID tokens and userinfo answers.
var supportedClaims = []string{
	"iss", "sub", "aud", "exp", "iat", "auth_time", "nonce", "amr", "acr", "azp", "at_hash", "c_hash",
	"tid", "oid", "upn", "email", "email_verified", "preferred_username", "name", "given_name", "family_name",
}

// Config is what the provider needs to know about where it runs and the
// client it serves.
type Config struct {
	// Issuer is the provider's URL, e.g. "http://127.0.0.1:8420/nhsmail";
	// every endpoint is Issuer + "/...", and ServeHTTP answers the paths
	// that begin with its path.
	Issuer string
	// ClientID, ClientSecret and RedirectURIs register CQRS.
	ClientID     string
	ClientSecret string
	RedirectURIs []string
	// Secure marks cookies Secure; set it when the issuer is served over TLS.
	Secure bool
	// JobAid shows, in training mode, which step of the documents the
	// sign-in page is (the CQRS pages have their own job aid panel).
	JobAid bool
	// SessionCookie and CSRFCookie name the provider's cookies; empty means
	// the package's defaults. Two instances on one computer share cookies
	// (they ignore the port) unless each names its own.
	SessionCookie, CSRFCookie string
	// Now is the clock for sign-in sessions, consent pages, codes and access
	// tokens; nil means time.Now. (ID tokens' iat and exp come from the
	// wall clock, which relying parties check them against.)
	Now func() time.Time
	// Unavailable reports whether a store's error is the database out of
	// reach for a moment (PostgreSQL restarting): such a request gets a
	// 503 "try again in a moment" page, as the app's own pages do, not a
	// fault. Nil means no error is.
	Unavailable func(error) bool
}

// Directory is the store's NHSmail directory and the provider's state, as
// the provider uses them.
type Directory interface {
	NHSmailAccountByEmail(ctx context.Context, email string) (cqrs.NHSmailAccount, error)
	NHSmailAccount(ctx context.Context, id uint64) (cqrs.NHSmailAccount, error)
	NHSmailSigningKeys(ctx context.Context) (current *rsa.PrivateKey, retired []*rsa.PrivateKey, err error)
	RotateNHSmailSigningKey(ctx context.Context) error
	NHSmailTenantID(ctx context.Context) (string, error)
	CreateNHSmailSession(ctx context.Context, hash []byte, accountID uint64, expires time.Time) error
	NHSmailSessionStarted(ctx context.Context, hash []byte) (accountID uint64, started time.Time, err error)
	DeleteNHSmailSession(ctx context.Context, hash []byte) error
	UpdateNHSmailState(ctx context.Context, fn func(cqrs.NHSmailStateTx) error) error
	ViewNHSmailState(ctx context.Context, fn func(cqrs.NHSmailStateTx) error) error
	NHSmailProviderKey(ctx context.Context, name string) ([]byte, error)
	NHSmailApplication(ctx context.Context, clientID string) (cqrs.NHSmailApplication, error)
	// SetNHSmailMFA records Authenticator set up after "More information
	// required".
	SetNHSmailMFA(ctx context.Context, id uint64, method string) error
	// Audit records a sign-in prompt reported as "No, it's not me".
	Audit(ctx context.Context, e cqrs.AuditEvent) error
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
	dir    Directory // the directory and the provider's state
	hasher Hasher

	op      http.Handler // zitadel's token, userinfo and JWKS endpoints
	clients map[string]*client
	keys    *keyRing

	prefix     string // the issuer's path, e.g. "/nhsmail"
	cookiePath string
	origin     string // the issuer's scheme://host, for the Origin check
	tenantID   string
	discovery  []byte
	csrfKey    []byte
	csp        string
}

// New builds the provider: it loads (or makes) the signing key, the tenant
// ID and the keys that outlive restarts from the directory, and registers
// the CQRS client.
func New(ctx context.Context, logger *slog.Logger, cfg Config, dir Directory, hasher Hasher) (*Provider, error) {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.SessionCookie == "" {
		cfg.SessionCookie = SessionCookie
	}
	if cfg.CSRFCookie == "" {
		cfg.CSRFCookie = CSRFCookie
	}
	cfg.Issuer = strings.TrimSuffix(cfg.Issuer, "/")
	iss, err := url.Parse(cfg.Issuer)
	if err != nil || (iss.Scheme != "http" && iss.Scheme != "https") || iss.Host == "" || iss.User != nil || iss.RawQuery != "" || iss.Fragment != "" {
		return nil, fmt.Errorf("nhsmail: issuer %q is not an http(s) URL without userinfo, query or fragment", cfg.Issuer)
	}
	if cfg.ClientID == "" || cfg.ClientSecret == "" || len(cfg.RedirectURIs) == 0 {
		return nil, errors.New("nhsmail: the client ID, client secret and redirect URIs are required")
	}
	if dir == nil || hasher == nil {
		return nil, errors.New("nhsmail: a directory and a hasher are required")
	}

	tenantID, err := dir.NHSmailTenantID(ctx)
	if err != nil {
		return nil, fmt.Errorf("nhsmail: tenant: %w", err)
	}
	// The form key must survive a restart, or a sign-in page served before
	// it could not be submitted after it.
	csrfKey, err := dir.NHSmailProviderKey(ctx, "csrf")
	if err != nil {
		return nil, err
	}
	tokenKey, err := dir.NHSmailProviderKey(ctx, "access-token")
	if err != nil {
		return nil, err
	}

	p := &Provider{
		log:        logger,
		cfg:        cfg,
		dir:        dir,
		hasher:     hasher,
		prefix:     strings.TrimSuffix(iss.EscapedPath(), "/"),
		origin:     iss.Scheme + "://" + iss.Host,
		tenantID:   tenantID,
		csrfKey:    csrfKey,
		cookiePath: iss.Path,
		clients: map[string]*client{cfg.ClientID: {id: cfg.ClientID, name: "CQRS",
			secretHash: hashClientSecret(cfg.ClientSecret), redirectURIs: append([]string(nil), cfg.RedirectURIs...)}},
	}
	p.csp = contentSecurity(p.origin, cfg.RedirectURIs)
	if p.cookiePath == "" {
		p.cookiePath = "/"
	}
	if p.keys, err = newKeyRing(ctx, dir.NHSmailSigningKeys); err != nil {
		return nil, err
	}
	if p.discovery, err = json.Marshal(p.discoveryDocument()); err != nil {
		return nil, err
	}

	opCfg := &op.Config{
		CodeMethodS256:  true,
		AuthMethodPost:  true,
		SupportedScopes: supportedScopes,
		SupportedClaims: supportedClaims,
	}
	copy(opCfg.CryptoKey[:], tokenKey)
	opts := []op.Option{
		op.WithCustomTokenEndpoint(op.NewEndpoint("token")),
		op.WithCustomUserinfoEndpoint(op.NewEndpoint("userinfo")),
		op.WithCustomKeysEndpoint(op.NewEndpoint("jwks")),
	}
	if iss.Scheme == "http" {
		// The app serves plain HTTP on loopback (or on a LAN it was told
		// to); the issuer is then http too.
		opts = append(opts, op.WithAllowInsecure())
	}
	zop, err := op.NewProvider(opCfg, storage{p: p}, op.StaticIssuer(cfg.Issuer), opts...)
	if err != nil {
		return nil, fmt.Errorf("nhsmail: provider: %w", err)
	}
	p.op = http.StripPrefix(p.prefix, zop)
	return p, nil
}

// client returns a registered client: CQRS, or an application the system
// administrator registered (read afresh, so a deleted one stops at once).
func (p *Provider) client(ctx context.Context, id string) (*client, bool) {
	if c, ok := p.clients[id]; ok {
		return c, true
	}
	if id == "" {
		return nil, false
	}
	app, err := p.dir.NHSmailApplication(ctx, id)
	if err != nil {
		if !errors.Is(err, cqrs.ErrNotFound) {
			p.log.Error("nhsmail: application", "error", err)
		}
		return nil, false
	}
	return &client{id: app.ClientID, name: app.Name, secretHash: app.SecretHash, redirectURIs: app.RedirectURIs}, true
}

// RotateSigningKey makes a new key sign ID tokens from now on. The JWKS
// goes on publishing the key it replaces for a day, so tokens already
// signed still verify and relying parties that cached the old key set
// fetch the new one when they meet its kid.
func (p *Provider) RotateSigningKey(ctx context.Context) error {
	if err := p.dir.RotateNHSmailSigningKey(ctx); err != nil {
		return err
	}
	if err := p.keys.reload(ctx); err != nil {
		return err
	}
	p.log.Info("nhsmail: signing key rotated", "kid", p.KeyID(ctx))
	return nil
}

// Issuer is the provider's issuer URL.
func (p *Provider) Issuer() string { return p.cfg.Issuer }

// KeyID is the kid of the key that signs ID tokens.
func (p *Provider) KeyID(ctx context.Context) string { return p.keys.current(ctx).id }

// SessionCookieName names the cookie that keeps a browser signed in to the
// simulator (Config.SessionCookie, or the package's default).
func (p *Provider) SessionCookieName() string { return p.cfg.SessionCookie }

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
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			methodNotAllowed(w, "GET, HEAD")
			return
		}
		w.Header().Set("Cache-Control", "public, max-age=300")
		p.op.ServeHTTP(w, r)
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
		p.op.ServeHTTP(w, r)
	case "/userinfo":
		if r.Method != http.MethodGet && r.Method != http.MethodPost {
			methodNotAllowed(w, "GET, POST")
			return
		}
		p.userinfo(w, r)
	case "/mfa":
		switch r.Method {
		case http.MethodGet:
			p.mfaPage(w, r)
		case http.MethodPost:
			p.mfaAnswer(w, r)
		default:
			methodNotAllowed(w, "GET, POST")
		}
	case "/mfa/status":
		if r.Method != http.MethodGet {
			methodNotAllowed(w, "GET")
			return
		}
		p.mfaStatus(w, r)
	case "/mfa/setup":
		if r.Method != http.MethodPost {
			methodNotAllowed(w, "POST")
			return
		}
		p.mfaSetup(w, r)
	case "/mfa/stay":
		if r.Method != http.MethodPost {
			methodNotAllowed(w, "POST")
			return
		}
		p.mfaStay(w, r)
	case "/help":
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			methodNotAllowed(w, "GET, HEAD")
			return
		}
		p.help(w, r)
	default:
		if token, ok := strings.CutPrefix(rest, "/phone/"); ok && !strings.Contains(token, "/") {
			if r.Method != http.MethodGet && r.Method != http.MethodPost {
				methodNotAllowed(w, "GET, POST")
				return
			}
			p.phone(w, r, token)
			return
		}
		p.notFound(w, r)
	}
}

// discoveryDocument is /.well-known/openid-configuration: this package's
// own, as its authorize endpoint (not zitadel's) decides what is supported.
func (p *Provider) discoveryDocument() map[string]any {
	return map[string]any{
		"issuer":                                         p.cfg.Issuer,
		"authorization_endpoint":                         p.cfg.Issuer + "/authorize",
		"token_endpoint":                                 p.cfg.Issuer + "/token",
		"userinfo_endpoint":                              p.cfg.Issuer + "/userinfo",
		"jwks_uri":                                       p.cfg.Issuer + "/jwks",
		"response_types_supported":                       []string{"code"},
		"response_modes_supported":                       []string{"query"},
		"grant_types_supported":                          []string{"authorization_code"},
		"subject_types_supported":                        []string{"public"},
		"id_token_signing_alg_values_supported":          []string{"RS256"},
		"scopes_supported":                               supportedScopes,
		"token_endpoint_auth_methods_supported":          []string{"client_secret_basic", "client_secret_post"},
		"code_challenge_methods_supported":               []string{"S256"},
		"claims_supported":                               supportedClaims,
		"prompt_values_supported":                        []string{"none", "login", "consent", "select_account"},
		"acr_values_supported":                           mfaACRValues,
		"claims_parameter_supported":                     false,
		"request_parameter_supported":                    false,
		"request_uri_parameter_supported":                false,
		"authorization_response_iss_parameter_supported": false,
	}
}

// document serves a public JSON document (discovery).
func (p *Provider) document(w http.ResponseWriter, r *http.Request, body []byte) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		methodNotAllowed(w, "GET, HEAD")
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "public, max-age=300")
	w.Write(body)
}

// userinfo refuses a request without an access token the way RFC 6750
// says (zitadel answers a bare 401), and hands the rest to zitadel, which
// decrypts the token and asks the storage for the account afresh, so a
// disabled account stops answering at once.
func (p *Provider) userinfo(w http.ResponseWriter, r *http.Request) {
	if r.Header.Get("Authorization") == "" && r.FormValue("access_token") == "" {
		w.Header().Set("WWW-Authenticate", `Bearer error="invalid_token", error_description="The access token is missing."`)
		writeJSONError(w, http.StatusUnauthorized, "invalid_token", "The access token is missing.")
		return
	}
	b := &bearerChallenge{ResponseWriter: w}
	p.op.ServeHTTP(b, r)
	if b.refused {
		writeJSONError(w, http.StatusUnauthorized, "invalid_token", "The access token is not valid, has expired or was revoked.")
	}
}

// bearerChallenge holds back zitadel's refusal of a token (a bare 401, or a
// 403 access_denied from the storage for an expired or revoked one) so it
// is answered as RFC 6750 section 3 says: 401, WWW-Authenticate naming the
// error, and the error code in the body.
type bearerChallenge struct {
	http.ResponseWriter
	refused bool
}

func (b *bearerChallenge) WriteHeader(status int) {
	if status == http.StatusUnauthorized || status == http.StatusForbidden {
		b.refused = true
		b.Header().Set("WWW-Authenticate", `Bearer error="invalid_token", error_description="The access token is not valid, has expired or was revoked."`)
		return
	}
	b.ResponseWriter.WriteHeader(status)
}

func (b *bearerChallenge) Write(p []byte) (int, error) {
	if b.refused {
		return len(p), nil
	}
	return b.ResponseWriter.Write(p)
}

func randomBytes(n int) []byte {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic(fmt.Sprintf("nhsmail: crypto/rand failed: %v", err))
	}
	return b
}
