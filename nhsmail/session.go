package nhsmail

import (
	"crypto/sha256"
	"crypto/subtle"
	"slices"
	"time"

	"github.com/zitadel/oidc/v3/pkg/oidc"
	"github.com/zitadel/oidc/v3/pkg/op"

	"github.com/cqrs-local/cqrs-signin/cqrs"
)

// client is a relying party registered with the simulator: CQRS itself,
// or an application the system administrator registered.
type client struct {
	id   string
	name string
	// secretHash is the SHA-256 of a confidential client's secret; empty
	// for a public client, which proves itself with PKCE alone.
	secretHash   []byte
	redirectURIs []string
}

var _ op.Client = (*client)(nil)

// hashClientSecret is the SHA-256 of a client secret. The secret is 256
// random bits, so a slow password hash would add latency to every token
// request without adding strength.
func hashClientSecret(secret string) []byte {
	sum := sha256.Sum256([]byte(secret))
	return sum[:]
}

func (c *client) secretMatches(secret string) bool {
	return len(c.secretHash) != 0 && secret != "" &&
		subtle.ConstantTimeCompare(c.secretHash, hashClientSecret(secret)) == 1
}

// redirectRegistered is the exact match of RFC 9700 §4.1.3: scheme, host,
// port and path byte for byte, so neither another port on 127.0.0.1 nor
// userinfo in front of the host gets a code.
func (c *client) redirectRegistered(uri string) bool {
	return uri != "" && slices.Contains(c.redirectURIs, uri)
}

func (c *client) GetID() string                       { return c.id }
func (c *client) RedirectURIs() []string              { return c.redirectURIs }
func (c *client) PostLogoutRedirectURIs() []string    { return nil }
func (c *client) ApplicationType() op.ApplicationType { return op.ApplicationTypeWeb }
func (c *client) AuthMethod() oidc.AuthMethod {
	if len(c.secretHash) == 0 {
		return oidc.AuthMethodNone
	}
	return oidc.AuthMethodBasic
}
func (c *client) ResponseTypes() []oidc.ResponseType {
	return []oidc.ResponseType{oidc.ResponseTypeCode}
}
func (c *client) GrantTypes() []oidc.GrantType        { return []oidc.GrantType{oidc.GrantTypeCode} }
func (c *client) LoginURL(string) string              { return "" }
func (c *client) AccessTokenType() op.AccessTokenType { return op.AccessTokenTypeBearer }
func (c *client) IDTokenLifetime() time.Duration      { return IDTokenLifespan }
func (c *client) DevMode() bool                       { return false }
func (c *client) RestrictAdditionalIdTokenScopes() func([]string) []string {
	return func(scopes []string) []string { return scopes }
}
func (c *client) RestrictAdditionalAccessTokenScopes() func([]string) []string {
	return func(scopes []string) []string { return scopes }
}
func (c *client) IsScopeAllowed(scope string) bool { return slices.Contains(supportedScopes, scope) }

// IDTokenUserinfoClaimsAssertion puts the profile claims in the ID token
// as well as /userinfo, as Entra ID does.
func (c *client) IDTokenUserinfoClaimsAssertion() bool { return true }
func (c *client) ClockSkew() time.Duration             { return 0 }

// fillUserinfo sets the Entra ID-shaped claims of an account: always the
// tenant and object IDs, and the email and profile claims when those scopes
// were granted.
func (p *Provider) fillUserinfo(info *oidc.UserInfo, acct cqrs.NHSmailAccount, scopes []string) {
	info.Subject = acct.ObjectID
	info.AppendClaims("tid", p.tenantID)
	info.AppendClaims("oid", acct.ObjectID)
	if slices.Contains(scopes, "email") {
		info.Email = acct.Email
		info.EmailVerified = true
	}
	if slices.Contains(scopes, "profile") {
		info.PreferredUsername = acct.Email
		info.AppendClaims("upn", acct.Email)
		info.Name = acct.FullName()
		info.GivenName = acct.FirstName
		info.FamilyName = acct.LastName
	}
}
