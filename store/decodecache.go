package store

import (
	"bytes"
	"cmp"
	"encoding/json"
	"sync"
)

// decodeCache keeps the last decoded copy of each record beside the bytes
// it came from. Every signed-in page reads its session, the user, their
// organisation and their messages;
// comparing the stored bytes with the cached ones is far cheaper than
// decoding the JSON again, and it can never serve a stale copy: any change
// to a record changes its bytes.
type decodeCache[K comparable, T any] struct {
	mu sync.Mutex
	m  map[K]decoded[T]
	// max bounds the entries (0: maxDecoded); past it the cache starts
	// again empty.
	max int
}

type decoded[T any] struct {
	raw []byte
	v   T
}

// maxDecoded bounds each cache; past it the cache starts again empty.
const maxDecoded = 20000

// maxDecodedMessages bounds the messages' cache lower: a body can be
// 4,000 characters, kept twice (bytes and decoded), so 500 of them stay
// within about 4 MiB.
const maxDecodedMessages = 500

// get decodes raw, the stored bytes of record id (valid only inside the
// reading transaction), through the cache. T must hold no pointers or
// slices the caller could change: copies are shared.
func (c *decodeCache[K, T]) get(id K, raw []byte) (T, error) {
	c.mu.Lock()
	d, ok := c.m[id]
	c.mu.Unlock()
	if ok && bytes.Equal(d.raw, raw) {
		return d.v, nil
	}
	var v T
	if err := json.Unmarshal(raw, &v); err != nil {
		return v, err
	}
	c.mu.Lock()
	if c.m == nil || len(c.m) >= cmp.Or(c.max, maxDecoded) {
		c.m = map[K]decoded[T]{}
	}
	c.m[id] = decoded[T]{raw: bytes.Clone(raw), v: v}
	c.mu.Unlock()
	return v, nil
}
