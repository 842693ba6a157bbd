package nhsmail

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"time"

	"github.com/ory/fosite"
	"github.com/ory/fosite/handler/openid"
	"github.com/ory/fosite/token/jwt"

	"github.com/cqrs-local/cqrs-signin/store"
)

// session is what fosite keeps with a code and its tokens: the ID token's
// claims plus the account they describe, so /userinfo can read it afresh.
type session struct {
	*openid.DefaultSession
	AccountID uint64 `json:"account_id"`
}

func newSession() *session {
	return &session{DefaultSession: openid.NewDefaultSession()}
}

// Clone is called by fosite before it stores a session; the embedded
// DefaultSession's Clone would drop AccountID.
func (s *session) Clone() fosite.Session {
	if s == nil {
		return nil
	}
	return &session{DefaultSession: s.DefaultSession.Clone().(*openid.DefaultSession), AccountID: s.AccountID}
}

// sessionFor builds the session of a signed-in account. authTime is when
// the password was checked and requestedAt when the authorize request
// arrived, both from the wall clock fosite compares them with.
func (p *Provider) sessionFor(acct store.NHSmailAccount, scopes fosite.Arguments, authTime, requestedAt time.Time) *session {
	claims := p.profileClaims(acct, scopes)
	return &session{
		AccountID: acct.ID,
		DefaultSession: &openid.DefaultSession{
			Claims: &jwt.IDTokenClaims{
				Subject:     acct.ObjectID,
				AuthTime:    authTime.UTC().Truncate(time.Second),
				RequestedAt: requestedAt.UTC().Truncate(time.Second),
				Extra:       claims,
			},
			Headers:  &jwt.Headers{Extra: map[string]any{"kid": p.kid}},
			Subject:  acct.ObjectID,
			Username: acct.Email,
		},
	}
}

// profileClaims are the Entra ID-shaped claims of an account: always the
// tenant and object IDs, and the email and profile claims when those scopes
// were granted.
func (p *Provider) profileClaims(acct store.NHSmailAccount, scopes fosite.Arguments) map[string]any {
	claims := map[string]any{
		"tid": p.tenantID,
		"oid": acct.ObjectID,
	}
	if scopes.Has("email") {
		claims["email"] = acct.Email
		claims["email_verified"] = true
	}
	if scopes.Has("profile") {
		claims["preferred_username"] = acct.Email
		claims["name"] = acct.FullName()
		claims["given_name"] = acct.FirstName
		claims["family_name"] = acct.LastName
	}
	return claims
}

// clientSecretHasher compares client secrets by SHA-256. The secret is 256
// random bits, so a slow password hash would only add latency to every
// token request without adding strength.
type clientSecretHasher struct{}

var errClientSecret = errors.New("nhsmail: client secret does not match")

func hashClientSecret(secret string) []byte {
	sum := sha256.Sum256([]byte(secret))
	return sum[:]
}

func (clientSecretHasher) Hash(_ context.Context, data []byte) ([]byte, error) {
	return hashClientSecret(string(data)), nil
}

func (clientSecretHasher) Compare(_ context.Context, hash, data []byte) error {
	if subtle.ConstantTimeCompare(hash, hashClientSecret(string(data))) != 1 {
		return errClientSecret
	}
	return nil
}
