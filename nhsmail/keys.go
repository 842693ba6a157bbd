package nhsmail

import (
	"crypto"
	"crypto/rsa"
	"encoding/base64"
	"fmt"
	"sync"

	"github.com/go-jose/go-jose/v4"
	"github.com/zitadel/oidc/v3/pkg/op"
)

// keyRing is the key that signs ID tokens and the keys the JWKS publishes.
type keyRing struct {
	mu  sync.RWMutex
	cur signingKey
	pub []op.Key
}

// keyID is the RFC 7638 thumbprint of a key's public half, so a key keeps
// its kid for as long as the store keeps the key.
func keyID(key *rsa.PrivateKey) (string, error) {
	thumb, err := (&jose.JSONWebKey{Key: &key.PublicKey}).Thumbprint(crypto.SHA256)
	if err != nil {
		return "", fmt.Errorf("nhsmail: key thumbprint: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(thumb), nil
}

func newKeyRing(key *rsa.PrivateKey) (*keyRing, error) {
	id, err := keyID(key)
	if err != nil {
		return nil, err
	}
	cur := signingKey{id: id, key: key}
	return &keyRing{cur: cur, pub: []op.Key{publicKey{cur}}}, nil
}

func (k *keyRing) current() signingKey {
	k.mu.RLock()
	defer k.mu.RUnlock()
	return k.cur
}

func (k *keyRing) published() []op.Key {
	k.mu.RLock()
	defer k.mu.RUnlock()
	return append([]op.Key(nil), k.pub...)
}
