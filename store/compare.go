package store

import (
	"crypto/subtle"

	bolt "go.etcd.io/bbolt"
)

// constantTimeEqual compares a stored hash with one given without
// telling, by its time, how much of it matched.
func constantTimeEqual(a, b []byte) bool {
	return len(a) > 0 && subtle.ConstantTimeCompare(a, b) == 1
}

// hasAny is O(1), unlike Stats().KeyN which walks every page.
func hasAny(b *bolt.Bucket) bool {
	k, _ := b.Cursor().First()
	return k != nil
}
