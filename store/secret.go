package store

import (
	"crypto/subtle"

	bolt "go.etcd.io/bbolt"
)

func constantTimeEqual(a, b []byte) bool {
	return len(a) > 0 && subtle.ConstantTimeCompare(a, b) == 1
}

// hasAny is O(1), unlike Stats().KeyN which walks every page.
func hasAny(b *bolt.Bucket) bool {
	k, _ := b.Cursor().First()
	return k != nil
}
