package cqrs

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"fmt"
	"time"
)

// RetiredKeyLifespan is how long a replaced NHSmail signing key stays
// published: long enough for every token it signed to expire and for
// relying parties that cached the old key set to fetch the new one.
const RetiredKeyLifespan = 24 * time.Hour

// RetiredKey is an NHSmail signing key replaced by a rotation, as both
// engines keep it.
type RetiredKey struct {
	DER     []byte    `json:"der"`
	Retired time.Time `json:"retired"`
}

// NewSigningKey makes a signing key for the NHSmail simulator (RSA 2048,
// PKCS #8 DER). It takes a noticeable moment: engines make it outside
// their write transactions.
func NewSigningKey() ([]byte, error) {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return nil, fmt.Errorf("NHSmail signing key: %w", err)
	}
	return x509.MarshalPKCS8PrivateKey(key)
}

// ParseSigningKey reads a key NewSigningKey made.
func ParseSigningKey(der []byte) (*rsa.PrivateKey, error) {
	parsed, err := x509.ParsePKCS8PrivateKey(der)
	if err != nil {
		return nil, fmt.Errorf("NHSmail signing key: %w", err)
	}
	key, ok := parsed.(*rsa.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("NHSmail signing key is a %T, not RSA", parsed)
	}
	return key, nil
}

// PublishedRetiredKeys are the replaced keys still published at now.
func PublishedRetiredKeys(retired []RetiredKey, now time.Time) ([]*rsa.PrivateKey, error) {
	var out []*rsa.PrivateKey
	for _, r := range retired {
		if now.Sub(r.Retired) >= RetiredKeyLifespan {
			continue
		}
		key, err := ParseSigningKey(r.DER)
		if err != nil {
			return nil, err
		}
		out = append(out, key)
	}
	return out, nil
}

// RetireSigningKey is the list of replaced keys once current (nil when
// there is none yet) is replaced at now: current first, then those of
// retired still published.
func RetireSigningKey(current []byte, retired []RetiredKey, now time.Time) []RetiredKey {
	kept := []RetiredKey{}
	if current != nil {
		kept = append(kept, RetiredKey{DER: current, Retired: now})
	}
	for _, r := range retired {
		if now.Sub(r.Retired) < RetiredKeyLifespan {
			kept = append(kept, r)
		}
	}
	return kept
}
