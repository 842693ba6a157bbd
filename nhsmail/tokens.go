package nhsmail

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/ory/fosite"
)

// tokenStore is fosite's storage for the one client, its codes and its
// access tokens, in memory: a code lives a minute and a token ten, so
// nothing here is worth keeping across a restart.
//
// It is written here rather than taken from fosite's storage package so
// that expiry follows the provider's clock (tests move it) and expired
// entries are swept: fosite's in-memory store keeps everything forever.
type tokenStore struct {
	mu        sync.Mutex
	now       func() time.Time
	client    fosite.Client
	codes     map[string]*codeEntry // by code signature
	oidc      map[string]entry      // by code
	pkce      map[string]entry      // by code signature
	access    map[string]entry      // by token signature
	byRequest map[string]string     // request ID → access token signature
	swept     time.Time
}

type entry struct {
	req     fosite.Requester
	created time.Time
}

type codeEntry struct {
	entry
	used bool
}

// sweepEvery limits sweeps to one a short while, so a burst of sign-ins
// does not walk the maps on every code.
const sweepEvery = 10 * time.Second

var errNoRefreshTokens = errors.New("nhsmail: refresh tokens are not issued")

func newTokenStore(now func() time.Time, client fosite.Client) *tokenStore {
	return &tokenStore{
		now:       now,
		client:    client,
		codes:     map[string]*codeEntry{},
		oidc:      map[string]entry{},
		pkce:      map[string]entry{},
		access:    map[string]entry{},
		byRequest: map[string]string{},
	}
}

// sweep drops what has expired; the caller holds mu. Used codes are kept
// until they expire so a replay is recognised (and its tokens revoked).
func (s *tokenStore) sweep(now time.Time) {
	if now.Sub(s.swept) < sweepEvery {
		return
	}
	s.swept = now
	for k, e := range s.codes {
		if now.Sub(e.created) >= CodeLifespan {
			delete(s.codes, k)
		}
	}
	for _, m := range []map[string]entry{s.oidc, s.pkce} {
		for k, e := range m {
			if now.Sub(e.created) >= CodeLifespan {
				delete(m, k)
			}
		}
	}
	for k, e := range s.access {
		if now.Sub(e.created) >= AccessTokenLifespan {
			delete(s.access, k)
			delete(s.byRequest, e.req.GetID())
		}
	}
}

func (s *tokenStore) put(m map[string]entry, key string, req fosite.Requester) {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	s.sweep(now)
	m[key] = entry{req: req, created: now}
}

func (s *tokenStore) get(m map[string]entry, key string, life time.Duration) (fosite.Requester, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	e, ok := m[key]
	if !ok {
		return nil, fosite.ErrNotFound
	}
	if s.now().Sub(e.created) >= life {
		return nil, fosite.ErrNotFound.WithHint("It has expired.")
	}
	return e.req, nil
}

func (s *tokenStore) remove(m map[string]entry, key string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(m, key)
}

// GetClient returns the registered client.
func (s *tokenStore) GetClient(_ context.Context, id string) (fosite.Client, error) {
	if id != s.client.GetID() {
		return nil, fosite.ErrNotFound
	}
	return s.client, nil
}

// ClientAssertionJWTValid is part of fosite's client storage; the client
// authenticates with its secret, never with a signed assertion.
func (s *tokenStore) ClientAssertionJWTValid(context.Context, string) error { return nil }

// SetClientAssertionJWT refuses: no client assertions are accepted.
func (s *tokenStore) SetClientAssertionJWT(context.Context, string, time.Time) error {
	return fosite.ErrJTIKnown
}

// CreateAuthorizeCodeSession stores a new code.
func (s *tokenStore) CreateAuthorizeCodeSession(_ context.Context, sig string, req fosite.Requester) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	s.sweep(now)
	s.codes[sig] = &codeEntry{entry: entry{req: req, created: now}}
	return nil
}

// GetAuthorizeCodeSession returns a code's request. A used code answers
// ErrInvalidatedAuthorizeCode with its request, as fosite needs to revoke
// the tokens the first exchange issued; an expired one is not found.
func (s *tokenStore) GetAuthorizeCodeSession(_ context.Context, sig string, _ fosite.Session) (fosite.Requester, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	e, ok := s.codes[sig]
	if !ok {
		return nil, fosite.ErrNotFound
	}
	if e.used {
		return e.req, fosite.ErrInvalidatedAuthorizeCode
	}
	if s.now().Sub(e.created) >= CodeLifespan {
		return nil, fosite.ErrNotFound.WithHint("The authorization code has expired.")
	}
	return e.req, nil
}

// InvalidateAuthorizeCodeSession marks a code used.
func (s *tokenStore) InvalidateAuthorizeCodeSession(_ context.Context, sig string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	e, ok := s.codes[sig]
	if !ok {
		return fosite.ErrNotFound
	}
	e.used = true
	return nil
}

// CreateOpenIDConnectSession keeps the ID token's session with the code.
func (s *tokenStore) CreateOpenIDConnectSession(_ context.Context, code string, req fosite.Requester) error {
	s.put(s.oidc, code, req)
	return nil
}

// GetOpenIDConnectSession returns the ID token's session of a code.
func (s *tokenStore) GetOpenIDConnectSession(_ context.Context, code string, _ fosite.Requester) (fosite.Requester, error) {
	return s.get(s.oidc, code, CodeLifespan)
}

// DeleteOpenIDConnectSession forgets it once the ID token is issued.
func (s *tokenStore) DeleteOpenIDConnectSession(_ context.Context, code string) error {
	s.remove(s.oidc, code)
	return nil
}

// CreatePKCERequestSession keeps a code's challenge.
func (s *tokenStore) CreatePKCERequestSession(_ context.Context, sig string, req fosite.Requester) error {
	s.put(s.pkce, sig, req)
	return nil
}

// GetPKCERequestSession returns a code's challenge.
func (s *tokenStore) GetPKCERequestSession(_ context.Context, sig string, _ fosite.Session) (fosite.Requester, error) {
	return s.get(s.pkce, sig, CodeLifespan)
}

// DeletePKCERequestSession forgets a code's challenge.
func (s *tokenStore) DeletePKCERequestSession(_ context.Context, sig string) error {
	s.remove(s.pkce, sig)
	return nil
}

// CreateAccessTokenSession stores a new access token.
func (s *tokenStore) CreateAccessTokenSession(_ context.Context, sig string, req fosite.Requester) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	s.sweep(now)
	s.access[sig] = entry{req: req, created: now}
	s.byRequest[req.GetID()] = sig
	return nil
}

// GetAccessTokenSession returns an access token's request while it lasts.
func (s *tokenStore) GetAccessTokenSession(_ context.Context, sig string, _ fosite.Session) (fosite.Requester, error) {
	return s.get(s.access, sig, AccessTokenLifespan)
}

// DeleteAccessTokenSession forgets an access token.
func (s *tokenStore) DeleteAccessTokenSession(_ context.Context, sig string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if e, ok := s.access[sig]; ok {
		delete(s.byRequest, e.req.GetID())
		delete(s.access, sig)
	}
	return nil
}

// RevokeAccessToken forgets the access token of a request: fosite calls it
// when a code is replayed.
func (s *tokenStore) RevokeAccessToken(_ context.Context, requestID string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if sig, ok := s.byRequest[requestID]; ok {
		delete(s.access, sig)
		delete(s.byRequest, requestID)
	}
	return nil
}

// The client may not use the refresh_token grant, so no refresh token is
// ever made; these complete the storage fosite's handlers expect.

// CreateRefreshTokenSession is never reached.
func (s *tokenStore) CreateRefreshTokenSession(context.Context, string, string, fosite.Requester) error {
	return errNoRefreshTokens
}

// GetRefreshTokenSession finds nothing.
func (s *tokenStore) GetRefreshTokenSession(context.Context, string, fosite.Session) (fosite.Requester, error) {
	return nil, fosite.ErrNotFound
}

// DeleteRefreshTokenSession has nothing to delete.
func (s *tokenStore) DeleteRefreshTokenSession(context.Context, string) error { return nil }

// RotateRefreshToken has nothing to rotate.
func (s *tokenStore) RotateRefreshToken(context.Context, string, string) error { return nil }

// RevokeRefreshToken has nothing to revoke.
func (s *tokenStore) RevokeRefreshToken(context.Context, string) error { return nil }
