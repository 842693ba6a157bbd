// Package secret makes and checks the application's secrets: random tokens
// for links and sessions (stored only as SHA-256 hashes) and argon2id
// password hashes in PHC string form.
package secret

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"runtime"
	"strings"
	"time"

	"golang.org/x/crypto/argon2"
)

// TokenBytes is the size of every random token: 128 bits of entropy is the
// floor the design sets; 32 bytes leaves a wide margin.
const TokenBytes = 32

// NewToken returns a URL-safe random token.
func NewToken() string {
	b := make([]byte, TokenBytes)
	if _, err := rand.Read(b); err != nil {
		// crypto/rand never fails on supported platforms; if it does,
		// carrying on would hand out guessable tokens.
		panic(fmt.Sprintf("secret: crypto/rand failed: %v", err))
	}
	return base64.RawURLEncoding.EncodeToString(b)
}

// HashToken is the form a token is stored in.
func HashToken(token string) []byte {
	sum := sha256.Sum256([]byte(token))
	return sum[:]
}

// Params are argon2id's cost parameters.
type Params struct {
	MemoryKiB uint32
	Time      uint32
	Threads   uint8
	SaltLen   int
	KeyLen    uint32
}

// OWASP is the OWASP-recommended minimum for argon2id: 19 MiB, t=2, p=1.
var OWASP = Params{MemoryKiB: 19 * 1024, Time: 2, Threads: 1, SaltLen: 16, KeyLen: 32}

// ErrBusy means every hashing slot stayed taken for the whole wait.
var ErrBusy = errors.New("secret: too many password checks in progress")

// Bounds on parameters read from a stored hash.
const (
	maxTime      = 10
	maxMemoryKiB = 4 * 19 * 1024
)

// ErrMalformedHash means a stored hash is not an argon2id PHC string.
var ErrMalformedHash = errors.New("secret: malformed password hash")

// Hasher computes argon2id with a bounded number of hashes in flight, so a
// burst of sign-ins costs at most Slots × MemoryKiB of memory.
type Hasher struct {
	params Params
	slots  chan struct{}
	wait   time.Duration
	dummy  string
}

// NewHasher returns a Hasher with slots concurrent hashes (0 means the number
// of CPUs) that waits up to wait for a slot before answering ErrBusy.
func NewHasher(p Params, slots int, wait time.Duration) *Hasher {
	if slots <= 0 {
		slots = runtime.NumCPU()
	}
	h := &Hasher{params: p, slots: make(chan struct{}, slots), wait: wait}
	// The dummy only has to cost a real verification; its key matches no
	// password, so it is made without hashing (which kept start-up slow).
	h.dummy = h.encode(make([]byte, p.SaltLen), make([]byte, p.KeyLen), p)
	return h
}

func (h *Hasher) acquire(ctx context.Context) error {
	select { // a free slot is taken at once, whatever the wait
	case h.slots <- struct{}{}:
		return nil
	default:
	}
	timer := time.NewTimer(h.wait)
	defer timer.Stop()
	select {
	case h.slots <- struct{}{}:
		return nil
	case <-timer.C:
		return ErrBusy
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (h *Hasher) release() { <-h.slots }

// Do runs work in one of the hasher's slots, or answers ErrBusy as Hash
// would: other CPU-heavy work on a password (the hardened policy's strength
// estimate, up to a second for a crafted 64-character password) shares the
// bound, so a burst of it cannot starve sign-ins or the machine.
func (h *Hasher) Do(ctx context.Context, work func()) error {
	if err := h.acquire(ctx); err != nil {
		return err
	}
	defer h.release()
	work()
	return nil
}

// Hash returns the PHC string for password with a fresh salt.
func (h *Hasher) Hash(ctx context.Context, password string) (string, error) {
	if err := h.acquire(ctx); err != nil {
		return "", err
	}
	defer h.release()
	salt := make([]byte, h.params.SaltLen)
	if _, err := rand.Read(salt); err != nil {
		return "", err
	}
	p := h.params
	return h.encode(salt, argon2.IDKey([]byte(password), salt, p.Time, p.MemoryKiB, p.Threads, p.KeyLen), p), nil
}

func (h *Hasher) encode(salt, key []byte, p Params) string {
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s", argon2.Version, p.MemoryKiB, p.Time, p.Threads,
		base64.RawStdEncoding.EncodeToString(salt), base64.RawStdEncoding.EncodeToString(key))
}

// Verify reports whether password matches the PHC string encoded. An empty
// encoded hash is checked against a dummy hash so that an unknown account
// costs the same time as a known one.
func (h *Hasher) Verify(ctx context.Context, password, encoded string) (bool, error) {
	if encoded == "" {
		_, err := h.Verify(ctx, password, h.dummy)
		return false, err
	}
	p, salt, key, err := decode(encoded)
	if err != nil {
		return false, err
	}
	if err := h.acquire(ctx); err != nil {
		return false, err
	}
	defer h.release()
	got := argon2.IDKey([]byte(password), salt, p.Time, p.MemoryKiB, p.Threads, uint32(len(key)))
	return subtle.ConstantTimeCompare(got, key) == 1, nil
}

// VerifyAny reports whether password matches any of the encoded hashes,
// checking every one so the time does not depend on which matched.
func (h *Hasher) VerifyAny(ctx context.Context, password string, encoded []string) (bool, error) {
	match := false
	for _, e := range encoded {
		ok, err := h.Verify(ctx, password, e)
		if err != nil {
			return false, err
		}
		match = match || ok
	}
	return match, nil
}

func decode(encoded string) (Params, []byte, []byte, error) {
	parts := strings.Split(encoded, "$")
	if len(parts) != 6 || parts[1] != "argon2id" {
		return Params{}, nil, nil, ErrMalformedHash
	}
	var version int
	if _, err := fmt.Sscanf(parts[2], "v=%d", &version); err != nil || version != argon2.Version {
		return Params{}, nil, nil, ErrMalformedHash
	}
	var p Params
	if _, err := fmt.Sscanf(parts[3], "m=%d,t=%d,p=%d", &p.MemoryKiB, &p.Time, &p.Threads); err != nil {
		return Params{}, nil, nil, ErrMalformedHash
	}
	// Stored hashes come from the database; a damaged or tampered one must
	// not make argon2 panic (t or p of 0) or allocate without bound.
	if p.Time < 1 || p.Time > maxTime || p.Threads < 1 || p.MemoryKiB < 8*uint32(p.Threads) || p.MemoryKiB > maxMemoryKiB {
		return Params{}, nil, nil, ErrMalformedHash
	}
	salt, err := base64.RawStdEncoding.DecodeString(parts[4])
	if err != nil || len(salt) < 8 {
		return Params{}, nil, nil, ErrMalformedHash
	}
	key, err := base64.RawStdEncoding.DecodeString(parts[5])
	if err != nil || len(key) < 16 || len(key) > 64 {
		return Params{}, nil, nil, ErrMalformedHash
	}
	return p, salt, key, nil
}
