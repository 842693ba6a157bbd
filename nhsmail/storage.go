package nhsmail

import (
	"context"
	"crypto/rsa"
	"errors"
	"fmt"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/zitadel/oidc/v3/pkg/oidc"
	"github.com/zitadel/oidc/v3/pkg/op"

	"github.com/cqrs-local/cqrs-signin/cqrs"
	"github.com/cqrs-local/cqrs-signin/secret"
)

// The kinds of state the provider keeps in the store.
const (
	stateAuthRequest = "auth-request"           // by request ID
	stateCode        = "code"                   // by SHA-256 of the code
	stateToken       = cqrs.NHSmailAccessTokens // by token ID
	stateConsent     = "consent"                // by SHA-256 of the consent ticket
	stateSessionAMR  = "session-amr"            // by SHA-256 of the session token
	stateMFA         = "mfa"                    // by SHA-256 of the browser's MFA cookie
	stateMFAPhone    = "mfa-phone"              // by SHA-256 of the phone link's token
	stateMFAAccount  = "mfa-account"            // by account ID: its latest pending second step's key
	stateMFADrill    = "mfa-drill"              // by account ID: the trainer's control for its next sign-in
)

// replayWindow is how long a spent code is remembered, so that a replay is
// recognised and revokes what the first exchange issued: as long as those
// tokens live.
const replayWindow = AccessTokenLifespan

// authRequest is an authorize request whose user has signed in (and, where
// asked, consented): what the token endpoint needs to answer its code.
type authRequest struct {
	ID            string    `json:"id"`
	ClientID      string    `json:"client_id"`
	RedirectURI   string    `json:"redirect_uri"`
	State         string    `json:"state"`
	Nonce         string    `json:"nonce"`
	Scopes        []string  `json:"scopes"`
	CodeChallenge string    `json:"code_challenge"`
	AccountID     uint64    `json:"account_id"`
	Subject       string    `json:"subject"`
	AuthTime      time.Time `json:"auth_time"`
	AMR           []string  `json:"amr,omitempty"` // how the person signed in
	ACR           string    `json:"acr,omitempty"` // the acr_values entry the sign-in met
	Created       time.Time `json:"created"`
	// Exchanged is set when the code's tokens are made; a later
	// presentation sets Revoked and deletes TokenIDs.
	Exchanged bool     `json:"exchanged"`
	Revoked   bool     `json:"revoked"`
	TokenIDs  []string `json:"token_ids,omitempty"`
}

func (a *authRequest) GetID() string  { return a.ID }
func (a *authRequest) GetACR() string { return a.ACR }
func (a *authRequest) GetAMR() []string {
	if len(a.AMR) == 0 {
		return amrPassword
	}
	return a.AMR
}
func (a *authRequest) GetAudience() []string { return []string{a.ClientID} }
func (a *authRequest) GetAuthTime() time.Time {
	return a.AuthTime
}
func (a *authRequest) GetClientID() string { return a.ClientID }
func (a *authRequest) GetCodeChallenge() *oidc.CodeChallenge {
	return &oidc.CodeChallenge{Challenge: a.CodeChallenge, Method: oidc.CodeChallengeMethodS256}
}
func (a *authRequest) GetNonce() string                   { return a.Nonce }
func (a *authRequest) GetRedirectURI() string             { return a.RedirectURI }
func (a *authRequest) GetResponseType() oidc.ResponseType { return oidc.ResponseTypeCode }
func (a *authRequest) GetResponseMode() oidc.ResponseMode { return oidc.ResponseModeQuery }
func (a *authRequest) GetScopes() []string                { return a.Scopes }
func (a *authRequest) GetState() string                   { return a.State }
func (a *authRequest) GetSubject() string                 { return a.Subject }
func (a *authRequest) Done() bool                         { return true }

// accessToken is an issued access token: what /userinfo may answer.
type accessToken struct {
	RequestID string    `json:"request_id"`
	ClientID  string    `json:"client_id"`
	AccountID uint64    `json:"account_id"`
	Subject   string    `json:"subject"`
	Scopes    []string  `json:"scopes"`
	Expires   time.Time `json:"expires"`
}

// pendingConsent is a signed-in account waiting at the consent page.
type pendingConsent struct {
	AccountID uint64    `json:"account_id"`
	Query     string    `json:"query"`
	AuthTime  time.Time `json:"auth_time"`
	AMR       []string  `json:"amr,omitempty"`
}

// notFoundError satisfies zitadel's StorageNotFoundError.
type notFoundError struct{ what string }

func (e notFoundError) Error() string { return "nhsmail: " + e.what + " not found" }
func (notFoundError) IsNotFound()     {}

var errCodeReplayed = errors.New("nhsmail: the authorization code was already used")

// storage is zitadel's op.Storage on the bbolt store: the provider's state
// in flight, the directory for claims, and the signing keys.
type storage struct {
	p *Provider
}

var _ op.Storage = storage{}

// issue stores a signed-in request and returns a new code for it.
func (s storage) issue(ctx context.Context, req *authRequest) (string, error) {
	code := secret.NewToken()
	now := s.p.cfg.Now()
	req.ID = secret.NewToken()
	req.Created = now
	err := s.p.dir.UpdateNHSmailState(ctx, func(tx cqrs.NHSmailStateTx) error {
		if err := tx.Put(stateAuthRequest, []byte(req.ID), req, now.Add(replayWindow)); err != nil {
			return err
		}
		return tx.Put(stateCode, secret.HashToken(code), req.ID, now.Add(replayWindow))
	})
	if err != nil {
		return "", err
	}
	return code, nil
}

// CreateAuthRequest is not used: the provider's own authorize endpoint
// stores requests only once the user has signed in (issue).
func (storage) CreateAuthRequest(context.Context, *oidc.AuthRequest, string) (op.AuthRequest, error) {
	return nil, errors.New("nhsmail: auth requests are created by the sign-in page")
}

// AuthRequestByID returns a stored request.
func (s storage) AuthRequestByID(ctx context.Context, id string) (op.AuthRequest, error) {
	var req authRequest
	err := s.p.dir.ViewNHSmailState(ctx, func(tx cqrs.NHSmailStateTx) error {
		return tx.Get(stateAuthRequest, []byte(id), &req)
	})
	if errors.Is(err, cqrs.ErrNotFound) {
		return nil, notFoundError{"auth request"}
	}
	if err != nil {
		return nil, err
	}
	return &req, nil
}

// AuthRequestByCode finds a code's request. zitadel asks for it before it
// authenticates the client, so the code is spent only once the tokens are
// made (CreateAccessToken): a try with a wrong secret or verifier does not
// use it up. A code presented after it was spent is refused, and what its
// first use issued is revoked.
func (s storage) AuthRequestByCode(ctx context.Context, code string) (op.AuthRequest, error) {
	var req authRequest
	replayed := false
	err := s.p.dir.UpdateNHSmailState(ctx, func(tx cqrs.NHSmailStateTx) error {
		var id string
		if err := tx.Get(stateCode, secret.HashToken(code), &id); err != nil {
			return err
		}
		if err := tx.Get(stateAuthRequest, []byte(id), &req); err != nil {
			return err
		}
		if req.Exchanged {
			// Returned as nil so the revocation commits; the caller refuses.
			replayed = true
			return revoke(tx, &req)
		}
		if !tx.Now().Before(req.Created.Add(CodeLifespan)) {
			return fmt.Errorf("nhsmail: the authorization code has expired: %w", cqrs.ErrExpired)
		}
		return nil
	})
	if errors.Is(err, cqrs.ErrNotFound) {
		return nil, notFoundError{"code"}
	}
	if err != nil {
		return nil, err
	}
	if replayed {
		s.p.log.Warn("nhsmail: an authorization code was presented again; its tokens are revoked", "client", req.ClientID)
		return nil, errCodeReplayed
	}
	return &req, nil
}

// revoke deletes the tokens a spent code's request was given and marks it
// revoked, inside tx.
func revoke(tx cqrs.NHSmailStateTx, req *authRequest) error {
	for _, tokenID := range req.TokenIDs {
		if err := tx.Delete(stateToken, []byte(tokenID)); err != nil {
			return err
		}
	}
	req.Revoked, req.TokenIDs = true, nil
	return tx.Put(stateAuthRequest, []byte(req.ID), req, req.Created.Add(replayWindow))
}

// SaveAuthCode is not used: issue stores the code with its request.
func (storage) SaveAuthCode(context.Context, string, string) error {
	return errors.New("nhsmail: codes are issued by the sign-in page")
}

// DeleteAuthRequest is called once the tokens are issued. The request is
// kept (spent) until its replay window ends, to recognise a replay.
func (storage) DeleteAuthRequest(context.Context, string) error { return nil }

// CreateAccessToken records an access token for a request, linked to it so
// that a replayed code revokes it.
func (s storage) CreateAccessToken(ctx context.Context, request op.TokenRequest) (string, time.Time, error) {
	req, ok := request.(*authRequest)
	if !ok {
		return "", time.Time{}, errors.New("nhsmail: access tokens are issued only for authorization codes")
	}
	tokenID := secret.NewToken()
	replayed := false
	err := s.p.dir.UpdateNHSmailState(ctx, func(tx cqrs.NHSmailStateTx) error {
		var current authRequest
		if err := tx.Get(stateAuthRequest, []byte(req.ID), &current); err != nil {
			return err
		}
		if current.Exchanged {
			// Two exchanges of one code raced past AuthRequestByCode: the
			// later one is a replay, and revokes the earlier one's tokens.
			replayed = true
			return revoke(tx, &current)
		}
		current.Exchanged = true
		current.TokenIDs = append(current.TokenIDs, tokenID)
		if err := tx.Put(stateAuthRequest, []byte(current.ID), current, current.Created.Add(replayWindow)); err != nil {
			return err
		}
		expires := tx.Now().Add(AccessTokenLifespan)
		return tx.Put(stateToken, []byte(tokenID), accessToken{RequestID: req.ID, ClientID: req.ClientID, AccountID: req.AccountID,
			Subject: req.Subject, Scopes: req.Scopes, Expires: expires}, expires)
	})
	if err != nil {
		return "", time.Time{}, err
	}
	if replayed {
		return "", time.Time{}, oidc.ErrInvalidGrant().WithDescription("invalid code")
	}
	// zitadel computes expires_in from the wall clock.
	return tokenID, time.Now().Add(AccessTokenLifespan), nil
}

// CreateAccessAndRefreshTokens is never reached: no client may use the
// refresh_token grant, and offline_access is not a scope the provider has.
func (storage) CreateAccessAndRefreshTokens(context.Context, op.TokenRequest, string) (string, string, time.Time, error) {
	return "", "", time.Time{}, errors.New("nhsmail: refresh tokens are not issued")
}

// TokenRequestByRefreshToken finds nothing: no refresh token is issued.
func (storage) TokenRequestByRefreshToken(context.Context, string) (op.RefreshTokenRequest, error) {
	return nil, op.ErrInvalidRefreshToken
}

// TerminateSession is end_session's; the simulator has no sign-out endpoint.
func (storage) TerminateSession(context.Context, string, string) error { return nil }

// RevokeToken revokes an access token of the client.
func (s storage) RevokeToken(ctx context.Context, tokenID, _ string, clientID string) *oidc.Error {
	err := s.p.dir.UpdateNHSmailState(ctx, func(tx cqrs.NHSmailStateTx) error {
		var tok accessToken
		if err := tx.Get(stateToken, []byte(tokenID), &tok); err != nil {
			return nil // an unknown token is revoked already (RFC 7009)
		}
		if tok.ClientID != clientID {
			return errors.New("not this client's token")
		}
		return tx.Delete(stateToken, []byte(tokenID))
	})
	if err != nil {
		return oidc.ErrInvalidClient().WithDescription("the token belongs to another client")
	}
	return nil
}

// GetRefreshTokenInfo finds nothing: no refresh token is issued.
func (storage) GetRefreshTokenInfo(context.Context, string, string) (string, string, error) {
	return "", "", op.ErrInvalidRefreshToken
}

// SigningKey is the key ID tokens are signed with now.
func (s storage) SigningKey(ctx context.Context) (op.SigningKey, error) {
	return s.p.keys.current(ctx), nil
}

// SignatureAlgorithms is RS256 only.
func (storage) SignatureAlgorithms(context.Context) ([]jose.SignatureAlgorithm, error) {
	return []jose.SignatureAlgorithm{jose.RS256}, nil
}

// KeySet is the JWKS: the current key and any retired one still published.
func (s storage) KeySet(ctx context.Context) ([]op.Key, error) {
	return s.p.keys.published(ctx), nil
}

// GetClientByClientID finds a registered client.
func (s storage) GetClientByClientID(ctx context.Context, clientID string) (op.Client, error) {
	c, ok := s.p.client(ctx, clientID)
	if !ok {
		return nil, notFoundError{"client"}
	}
	return c, nil
}

// AuthorizeClientIDSecret checks a confidential client's secret.
func (s storage) AuthorizeClientIDSecret(ctx context.Context, clientID, clientSecret string) error {
	c, ok := s.p.client(ctx, clientID)
	if !ok || !c.secretMatches(clientSecret) {
		return errors.New("nhsmail: client authentication failed")
	}
	return nil
}

// SetUserinfoFromScopes leaves the ID token's claims to
// SetUserinfoFromRequest, which knows the account.
func (storage) SetUserinfoFromScopes(context.Context, *oidc.UserInfo, string, string, []string) error {
	return nil
}

// SetUserinfoFromRequest fills the ID token's claims from the account the
// request signed in, read afresh.
func (s storage) SetUserinfoFromRequest(ctx context.Context, info *oidc.UserInfo, request op.IDTokenRequest, scopes []string) error {
	req, ok := request.(*authRequest)
	if !ok {
		return errors.New("nhsmail: ID tokens are issued only for authorization codes")
	}
	acct, err := s.p.dir.NHSmailAccount(ctx, req.AccountID)
	if err != nil {
		return err
	}
	if acct.ObjectID != req.Subject || acct.Disabled {
		return errors.New("nhsmail: the account can no longer sign in")
	}
	s.p.fillUserinfo(info, acct, scopes)
	return nil
}

// SetUserinfoFromToken answers /userinfo: the token must be live and its
// account still enabled.
func (s storage) SetUserinfoFromToken(ctx context.Context, info *oidc.UserInfo, tokenID, subject, _ string) error {
	var tok accessToken
	err := s.p.dir.ViewNHSmailState(ctx, func(tx cqrs.NHSmailStateTx) error {
		return tx.Get(stateToken, []byte(tokenID), &tok)
	})
	if err != nil || tok.Subject != subject {
		return oidc.ErrAccessDenied().WithDescription("The access token is not valid.")
	}
	acct, err := s.p.dir.NHSmailAccount(ctx, tok.AccountID)
	if err != nil || acct.Disabled || acct.ObjectID != tok.Subject {
		return oidc.ErrAccessDenied().WithDescription("The account is no longer available.")
	}
	s.p.fillUserinfo(info, acct, tok.Scopes)
	return nil
}

// SetIntrospectionFromToken is the introspection endpoint's, which no
// client is registered to use.
func (storage) SetIntrospectionFromToken(context.Context, *oidc.IntrospectionResponse, string, string, string) error {
	return errors.New("nhsmail: introspection is not offered")
}

// GetPrivateClaimsFromScopes adds nothing to JWT access tokens (which are
// not issued: access tokens are opaque).
func (storage) GetPrivateClaimsFromScopes(context.Context, string, string, []string) (map[string]any, error) {
	return nil, nil
}

// GetKeyByIDAndClientID is for private_key_jwt client authentication,
// which is not offered.
func (storage) GetKeyByIDAndClientID(context.Context, string, string) (*jose.JSONWebKey, error) {
	return nil, notFoundError{"client key"}
}

// ValidateJWTProfileScopes is for the JWT profile grant, not offered.
func (storage) ValidateJWTProfileScopes(context.Context, string, []string) ([]string, error) {
	return nil, errors.New("nhsmail: the JWT profile grant is not offered")
}

// Health answers the readiness probe.
func (storage) Health(context.Context) error { return nil }

// signingKey is an RSA key as zitadel signs and publishes with it.
type signingKey struct {
	id  string
	key *rsa.PrivateKey
}

func (k signingKey) SignatureAlgorithm() jose.SignatureAlgorithm { return jose.RS256 }
func (k signingKey) Algorithm() jose.SignatureAlgorithm          { return jose.RS256 }
func (k signingKey) ID() string                                  { return k.id }
func (k signingKey) Use() string                                 { return "sig" }

// publicKey is the published half of a signing key.
type publicKey struct{ signingKey }

func (k publicKey) Key() any { return &k.key.PublicKey }

// Key is the private key, for signing.
func (k signingKey) Key() any { return k.key }
