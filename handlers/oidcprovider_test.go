package handlers

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"maps"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
)

// testOPKeys are made once for the package: RSA key generation is the
// slowest thing these tests do. The first is published in /jwks, the second
// never is.
var testOPKeys = sync.OnceValue(func() [2]*rsa.PrivateKey {
	var keys [2]*rsa.PrivateKey
	for i := range keys {
		k, err := rsa.GenerateKey(rand.Reader, 2048)
		if err != nil {
			panic(err)
		}
		keys[i] = k
	}
	return keys
})

const testOPKeyID = "op-key-1"

// testOP is an OpenID provider written for these tests, independent of the
// app's NHSmail simulator: discovery, JWKS, the authorization endpoint and
// the token endpoint, strict about what a relying party must send, with a
// login each test sets to make it answer well or badly.
type testOP struct {
	t            *testing.T
	srv          *httptest.Server
	URL          string
	clientID     string
	clientSecret string
	redirectURI  string
	key, other   *rsa.PrivateKey

	mu          sync.Mutex
	now         func() time.Time
	authMethods []string // token endpoint client authentication accepted
	next        opLogin
	grants      map[string]*opGrant
	authorizes  []opAuthorize
	tokens      []opTokenRequest
	// accessTokens are the logins /userinfo answers for.
	accessTokens map[string]opLogin
}

// opLogin is who signs in at the provider next, and how the provider
// answers the app.
type opLogin struct {
	Claims map[string]any // identity claims: sub, email, email_verified, tid, oid …
	Deny   string         // answer /authorize with this error instead of a code

	RefuseExchange   bool           // the token endpoint answers invalid_grant
	NoIDToken        bool           // the token answer has an access token only
	SignWithOtherKey bool           // signed by a key not in /jwks (same kid)
	Unsigned         bool           // alg "none"
	Issuer           string         // iss instead of the provider's
	Audience         any            // aud instead of the client ID
	ExpiresIn        time.Duration  // exp from now (default an hour; negative: expired)
	Nonce            string         // nonce instead of the one the app sent
	NoSub, NoIat     bool           // leave sub / iat out of the ID token
	NoKid            bool           // no kid in the ID token's header
	ExtraKeys        bool           // /jwks publishes a second key beside the signing one
	UserinfoSub      string         // /userinfo answers this sub instead of the ID token's
	UserinfoOnly     map[string]any // claims only /userinfo answers (Core 5.4), never the ID token
}

// opAuthorize is what the app sent to /authorize.
type opAuthorize struct {
	ClientID, RedirectURI, ResponseType, Scope   string
	State, Nonce, CodeChallenge, ChallengeMethod string
}

// opTokenRequest is what the app sent to /token, and the provider's verdict.
type opTokenRequest struct {
	AuthMethod   string // client_secret_basic or client_secret_post
	Code         string
	CodeVerifier string
	RedirectURI  string
	Refused      string // the OAuth error returned; "" when tokens were issued
	Reason       string
}

type opGrant struct {
	authorize opAuthorize
	login     opLogin
	used      bool
}

func newTestOP(t *testing.T, clientID, clientSecret, redirectURI string) *testOP {
	t.Helper()
	keys := testOPKeys()
	op := &testOP{t: t, clientID: clientID, clientSecret: clientSecret, redirectURI: redirectURI,
		key: keys[0], other: keys[1], now: time.Now, grants: map[string]*opGrant{}, accessTokens: map[string]opLogin{},
		authMethods: []string{"client_secret_basic", "client_secret_post"}}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /.well-known/openid-configuration", op.discovery)
	mux.HandleFunc("GET /jwks", op.jwks)
	mux.HandleFunc("GET /authorize", op.authorize)
	mux.HandleFunc("POST /token", op.token)
	mux.HandleFunc("GET /userinfo", op.userinfo)
	op.srv = httptest.NewServer(mux)
	op.URL = op.srv.URL
	t.Cleanup(op.srv.Close)
	return op
}

// login sets who signs in next and how the provider behaves.
func (op *testOP) login(l opLogin) {
	op.mu.Lock()
	defer op.mu.Unlock()
	op.next = l
}

func (op *testOP) setClock(now func() time.Time) {
	op.mu.Lock()
	defer op.mu.Unlock()
	op.now = now
}

func (op *testOP) acceptAuth(methods ...string) {
	op.mu.Lock()
	defer op.mu.Unlock()
	op.authMethods = methods
}

// lastAuthorize and tokenRequests are what the provider has seen.
func (op *testOP) lastAuthorize() opAuthorize {
	op.mu.Lock()
	defer op.mu.Unlock()
	if len(op.authorizes) == 0 {
		op.t.Fatal("the provider's /authorize was never reached")
	}
	return op.authorizes[len(op.authorizes)-1]
}

func (op *testOP) tokenRequests() []opTokenRequest {
	op.mu.Lock()
	defer op.mu.Unlock()
	return slices.Clone(op.tokens)
}

func (op *testOP) discovery(w http.ResponseWriter, r *http.Request) {
	op.mu.Lock()
	methods := slices.Clone(op.authMethods)
	op.mu.Unlock()
	writeJSON(w, http.StatusOK, map[string]any{
		"issuer":                                op.URL,
		"authorization_endpoint":                op.URL + "/authorize",
		"token_endpoint":                        op.URL + "/token",
		"jwks_uri":                              op.URL + "/jwks",
		"userinfo_endpoint":                     op.URL + "/userinfo",
		"response_types_supported":              []string{"code"},
		"subject_types_supported":               []string{"public"},
		"id_token_signing_alg_values_supported": []string{"RS256"},
		"code_challenge_methods_supported":      []string{"S256"},
		"token_endpoint_auth_methods_supported": methods,
		"scopes_supported":                      []string{"openid", "email", "profile"},
	})
}

func (op *testOP) jwks(w http.ResponseWriter, r *http.Request) {
	op.mu.Lock()
	extra := op.next.ExtraKeys
	op.mu.Unlock()
	set := jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: &op.key.PublicKey, KeyID: testOPKeyID, Algorithm: string(jose.RS256), Use: "sig"}}}
	if extra {
		set.Keys = append(set.Keys, jose.JSONWebKey{Key: &op.other.PublicKey, KeyID: "op-key-2", Algorithm: string(jose.RS256), Use: "sig"})
	}
	writeJSON(w, http.StatusOK, set)
}

// userinfo answers any bearer token issued by /token with the login's
// claims (its sub replaced when the login says so).
func (op *testOP) userinfo(w http.ResponseWriter, r *http.Request) {
	op.mu.Lock()
	token := strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")
	l, ok := op.accessTokens[token]
	op.mu.Unlock()
	if !ok {
		w.Header().Set("WWW-Authenticate", `Bearer error="invalid_token"`)
		writeJSON(w, http.StatusUnauthorized, map[string]string{"error": "invalid_token"})
		return
	}
	claims := maps.Clone(l.Claims)
	maps.Copy(claims, l.UserinfoOnly)
	if l.UserinfoSub != "" {
		claims["sub"] = l.UserinfoSub
	}
	writeJSON(w, http.StatusOK, claims)
}

// authorize signs the next login in at once and sends the browser back,
// as a provider does for a user who already has a session there.
func (op *testOP) authorize(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	req := opAuthorize{ClientID: q.Get("client_id"), RedirectURI: q.Get("redirect_uri"), ResponseType: q.Get("response_type"),
		Scope: q.Get("scope"), State: q.Get("state"), Nonce: q.Get("nonce"),
		CodeChallenge: q.Get("code_challenge"), ChallengeMethod: q.Get("code_challenge_method")}
	op.mu.Lock()
	op.authorizes = append(op.authorizes, req)
	login := op.next
	login.Claims = maps.Clone(op.next.Claims)
	op.mu.Unlock()

	// An unknown client or redirect URI is never redirected to.
	if req.ClientID != op.clientID || req.RedirectURI != op.redirectURI {
		http.Error(w, "unknown client or redirect_uri", http.StatusBadRequest)
		return
	}
	back := url.Values{}
	if req.State != "" {
		back.Set("state", req.State)
	}
	scopes := strings.Fields(req.Scope)
	switch {
	case req.ResponseType != "code":
		back.Set("error", "unsupported_response_type")
	case !slices.Contains(scopes, "openid"):
		back.Set("error", "invalid_scope")
	case req.ChallengeMethod != "S256" || req.CodeChallenge == "":
		back.Set("error", "invalid_request")
		back.Set("error_description", "PKCE with S256 is required")
	case login.Deny != "":
		back.Set("error", login.Deny)
	default:
		code := randomString()
		op.mu.Lock()
		op.grants[code] = &opGrant{authorize: req, login: login}
		op.mu.Unlock()
		back.Set("code", code)
	}
	http.Redirect(w, r, req.RedirectURI+"?"+back.Encode(), http.StatusFound)
}

// token is the code exchange: client authentication first (so a failed
// attempt does not use the code up), then the code, once, then PKCE.
func (op *testOP) token(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "invalid_request"})
		return
	}
	rec := opTokenRequest{Code: r.PostForm.Get("code"), CodeVerifier: r.PostForm.Get("code_verifier"), RedirectURI: r.PostForm.Get("redirect_uri")}
	refuse := func(status int, oauthErr, reason string) {
		rec.Refused, rec.Reason = oauthErr, reason
		op.mu.Lock()
		op.tokens = append(op.tokens, rec)
		op.mu.Unlock()
		writeJSON(w, status, map[string]string{"error": oauthErr, "error_description": reason})
	}

	id, secret, basic := r.BasicAuth()
	if basic {
		rec.AuthMethod = "client_secret_basic"
		// RFC 6749 section 2.3.1: form-encoded before Basic.
		id, _ = url.QueryUnescape(id)
		secret, _ = url.QueryUnescape(secret)
	} else if r.PostForm.Has("client_secret") {
		rec.AuthMethod = "client_secret_post"
		id, secret = r.PostForm.Get("client_id"), r.PostForm.Get("client_secret")
	}
	op.mu.Lock()
	methodOK := slices.Contains(op.authMethods, rec.AuthMethod)
	op.mu.Unlock()
	if !methodOK || id != op.clientID || subtle.ConstantTimeCompare([]byte(secret), []byte(op.clientSecret)) != 1 {
		w.Header().Set("WWW-Authenticate", `Basic realm="test-op"`)
		refuse(http.StatusUnauthorized, "invalid_client", "client authentication failed")
		return
	}
	if r.PostForm.Get("grant_type") != "authorization_code" {
		refuse(http.StatusBadRequest, "unsupported_grant_type", "authorization_code only")
		return
	}

	op.mu.Lock()
	g := op.grants[rec.Code]
	known, used := g != nil, g != nil && g.used
	if known {
		g.used = true
	}
	now := op.now()
	op.mu.Unlock()
	switch {
	case !known:
		refuse(http.StatusBadRequest, "invalid_grant", "unknown code")
		return
	case used:
		refuse(http.StatusBadRequest, "invalid_grant", "code already used")
		return
	case g.authorize.RedirectURI != rec.RedirectURI:
		refuse(http.StatusBadRequest, "invalid_grant", "redirect_uri differs")
		return
	case rec.CodeVerifier == "" || s256(rec.CodeVerifier) != g.authorize.CodeChallenge:
		refuse(http.StatusBadRequest, "invalid_grant", "PKCE verifier does not match the challenge")
		return
	case g.login.RefuseExchange:
		refuse(http.StatusBadRequest, "invalid_grant", "refused by the test")
		return
	}

	accessToken := randomString()
	answer := map[string]any{"access_token": accessToken, "token_type": "Bearer", "expires_in": 3600}
	if !g.login.NoIDToken {
		answer["id_token"] = op.idToken(g, now)
	}
	op.mu.Lock()
	op.tokens = append(op.tokens, rec)
	op.accessTokens[accessToken] = g.login
	op.mu.Unlock()
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, http.StatusOK, answer)
}

// idToken mints the ID token for a grant, with the login's faults.
func (op *testOP) idToken(g *opGrant, now time.Time) string {
	l := g.login
	claims := map[string]any{"iss": op.URL, "aud": op.clientID, "iat": now.Unix(), "exp": now.Add(time.Hour).Unix(),
		"nonce": g.authorize.Nonce}
	maps.Copy(claims, l.Claims)
	if l.Issuer != "" {
		claims["iss"] = l.Issuer
	}
	if l.Audience != nil {
		claims["aud"] = l.Audience
	}
	if l.ExpiresIn != 0 {
		claims["exp"] = now.Add(l.ExpiresIn).Unix()
	}
	if l.Nonce != "" {
		claims["nonce"] = l.Nonce
	}
	if l.NoSub {
		delete(claims, "sub")
	}
	if l.NoIat {
		delete(claims, "iat")
	}
	payload, err := json.Marshal(claims)
	if err != nil {
		op.t.Error(err)
		return ""
	}
	if l.Unsigned {
		enc := base64.RawURLEncoding.EncodeToString
		return enc([]byte(`{"alg":"none","typ":"JWT"}`)) + "." + enc(payload) + "."
	}
	key := op.key
	if l.SignWithOtherKey {
		key = op.other
	}
	var signingKey any = jose.JSONWebKey{Key: key, KeyID: testOPKeyID}
	if l.NoKid {
		signingKey = key
	}
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.RS256, Key: signingKey},
		(&jose.SignerOptions{}).WithType("JWT"))
	if err != nil {
		op.t.Error(err)
		return ""
	}
	jws, err := signer.Sign(payload)
	if err != nil {
		op.t.Error(err)
		return ""
	}
	raw, err := jws.CompactSerialize()
	if err != nil {
		op.t.Error(err)
	}
	return raw
}

// s256 is the PKCE S256 transform (RFC 7636 section 4.2), written here
// rather than taken from the OAuth library the app uses.
func s256(verifier string) string {
	sum := sha256.Sum256([]byte(verifier))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

func randomString() string {
	b := make([]byte, 24)
	rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}
