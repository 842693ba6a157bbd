package store

import (
	"bytes"
	"encoding/json"
	"sync"

	bolt "go.etcd.io/bbolt"
)

// decodedUsers keeps the last decoded copy of each user record beside the
// bytes it came from. Every signed-in page reads the user; comparing the
// stored bytes with the cached ones is far cheaper than decoding the JSON
// again, and it can never serve a stale copy: any change to the record
// changes its bytes.
type decodedUsers struct {
	mu sync.Mutex
	m  map[uint64]decodedUser
}

type decodedUser struct {
	raw []byte
	u   User
}

// maxDecodedUsers bounds the cache; past it the cache starts again empty.
const maxDecodedUsers = 20000

// cachedUser is getUser through the cache, for the per-request reads.
func (s *Store) cachedUser(tx *bolt.Tx, id uint64) (User, error) {
	raw := tx.Bucket(bucketUsers).Get(itob(id))
	if raw == nil {
		return User{}, ErrNotFound
	}
	s.users.mu.Lock()
	d, ok := s.users.m[id]
	s.users.mu.Unlock()
	if ok && bytes.Equal(d.raw, raw) {
		return d.u, nil
	}
	var u User
	if err := json.Unmarshal(raw, &u); err != nil {
		return User{}, err
	}
	s.users.mu.Lock()
	if len(s.users.m) >= maxDecodedUsers {
		s.users.m = map[uint64]decodedUser{}
	}
	s.users.m[id] = decodedUser{raw: bytes.Clone(raw), u: u}
	s.users.mu.Unlock()
	return u, nil
}
