package nhsmail

import (
	"context"
	"crypto"
	"crypto/rsa"
	"encoding/base64"
	"fmt"
	"sync"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/zitadel/oidc/v3/pkg/op"
)

// keyReload is how often the key ring is read again from the store, so a
// retired key leaves the JWKS in a long-running process too.
const keyReload = 10 * time.Minute

// keyRing is the key that signs ID tokens and the keys the JWKS publishes:
// the current one and those a rotation replaced, for a while.
type keyRing struct {
	load func(context.Context) (*rsa.PrivateKey, []*rsa.PrivateKey, error)

	mu     sync.RWMutex
	cur    signingKey
	pub    []op.Key
	loaded time.Time
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

func newKeyRing(ctx context.Context, load func(context.Context) (*rsa.PrivateKey, []*rsa.PrivateKey, error)) (*keyRing, error) {
	k := &keyRing{load: load}
	return k, k.reload(ctx)
}

// reload reads the keys from the store.
func (k *keyRing) reload(ctx context.Context) error {
	current, retired, err := k.load(ctx)
	if err != nil {
		return fmt.Errorf("nhsmail: signing keys: %w", err)
	}
	id, err := keyID(current)
	if err != nil {
		return err
	}
	cur := signingKey{id: id, key: current}
	pub := []op.Key{publicKey{cur}}
	for _, r := range retired {
		id, err := keyID(r)
		if err != nil {
			return err
		}
		pub = append(pub, publicKey{signingKey{id: id, key: r}})
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	k.cur, k.pub, k.loaded = cur, pub, time.Now()
	return nil
}

func (k *keyRing) fresh(ctx context.Context) {
	k.mu.RLock()
	stale := time.Since(k.loaded) > keyReload
	k.mu.RUnlock()
	if stale {
		// On a failed read the keys already loaded go on serving.
		_ = k.reload(ctx)
	}
}

func (k *keyRing) current(ctx context.Context) signingKey {
	k.fresh(ctx)
	k.mu.RLock()
	defer k.mu.RUnlock()
	return k.cur
}

func (k *keyRing) published(ctx context.Context) []op.Key {
	k.fresh(ctx)
	k.mu.RLock()
	defer k.mu.RUnlock()
	return append([]op.Key(nil), k.pub...)
}
