package secret

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"
)

// SealKeyBytes is the size of the key that seals second-factor secrets
// (AES-256).
const SealKeyBytes = 32

// ErrSealed means a sealed value does not open under this key: another
// installation's key, or a changed value.
var ErrSealed = errors.New("secret: sealed value does not open with this key")

// Sealer encrypts second-factor secrets at rest (AES-256-GCM), under a key
// kept outside the database, so the database and its backups never hold
// them in clear.
type Sealer struct{ aead cipher.AEAD }

// NewSealer makes a Sealer from a SealKeyBytes key.
func NewSealer(key []byte) (*Sealer, error) {
	if len(key) != SealKeyBytes {
		return nil, fmt.Errorf("secret: the sealing key must be %d bytes, not %d", SealKeyBytes, len(key))
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, err
	}
	return &Sealer{aead: aead}, nil
}

// Seal encrypts plain, bound to context (a sealed value moved to another
// context, such as another person's record, does not open).
func (s *Sealer) Seal(plain []byte, context string) []byte {
	nonce := make([]byte, s.aead.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		panic(fmt.Sprintf("secret: crypto/rand failed: %v", err))
	}
	return s.aead.Seal(nonce, nonce, plain, []byte(context))
}

// Open decrypts what Seal made for the same context.
func (s *Sealer) Open(sealed []byte, context string) ([]byte, error) {
	n := s.aead.NonceSize()
	if len(sealed) < n {
		return nil, ErrSealed
	}
	plain, err := s.aead.Open(nil, sealed[:n], sealed[n:], []byte(context))
	if err != nil {
		return nil, ErrSealed
	}
	return plain, nil
}

// TOTPPeriod is RFC 6238's time step, as every authenticator app uses it.
const TOTPPeriod = 30 * time.Second

// NewTOTPKey makes an authenticator key for account at issuer: its secret
// (base32, as people type it) and its otpauth:// address (for the QR code).
func NewTOTPKey(issuer, account string) (secretBase32, address string, err error) {
	key, err := totp.Generate(totp.GenerateOpts{Issuer: issuer, AccountName: account, Period: uint(TOTPPeriod / time.Second), SecretSize: 20})
	if err != nil {
		return "", "", err
	}
	return key.Secret(), key.URL(), nil
}

// TOTPStep returns the time step whose code code is, allowing one step of
// drift either way at now, or 0 when it is none of them. The caller
// refuses a step not later than the last one accepted, so each code
// works once.
func TOTPStep(secretBase32, code string, now time.Time) int64 {
	code = strings.Map(func(r rune) rune {
		if r == ' ' || r == '-' {
			return -1
		}
		return r
	}, code)
	if len(code) != 6 {
		return 0
	}
	step := now.Unix() / int64(TOTPPeriod/time.Second)
	var found int64
	for _, s := range []int64{step - 1, step, step + 1} {
		want, err := totp.GenerateCodeCustom(secretBase32, time.Unix(s*int64(TOTPPeriod/time.Second), 0),
			totp.ValidateOpts{Period: uint(TOTPPeriod / time.Second), Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1})
		if err == nil && subtle.ConstantTimeCompare([]byte(want), []byte(code)) == 1 {
			found = s // the latest matching step: no earlier step survives to be replayed
		}
	}
	return found
}

// TOTPCode is the code for secretBase32 at t: what an authenticator app
// shows (the tests and the training data's authenticator use it).
func TOTPCode(secretBase32 string, t time.Time) (string, error) {
	return totp.GenerateCodeCustom(secretBase32, t, totp.ValidateOpts{Period: uint(TOTPPeriod / time.Second), Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1})
}

// recoveryAlphabet leaves out letters and digits people confuse (0/O, 1/I/L).
const recoveryAlphabet = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"

// NewRecoveryCodes makes n recovery codes, each 10 characters from a
// 31-character alphabet (about 50 bits), shown as XXXXX-XXXXX.
func NewRecoveryCodes(n int) []string {
	codes := make([]string, n)
	for i := range codes {
		b := make([]byte, 10)
		for j := range b {
			b[j] = recoveryAlphabet[randIndex(len(recoveryAlphabet))]
		}
		codes[i] = string(b[:5]) + "-" + string(b[5:])
	}
	return codes
}

func randIndex(n int) int {
	// Rejection sampling keeps every character equally likely.
	limit := 256 - 256%n
	var b [1]byte
	for {
		if _, err := rand.Read(b[:]); err != nil {
			panic(fmt.Sprintf("secret: crypto/rand failed: %v", err))
		}
		if int(b[0]) < limit {
			return int(b[0]) % n
		}
	}
}

// IsRecoveryCode reports whether s has a recovery code's shape (any case,
// with or without the dash and spaces).
func IsRecoveryCode(s string) bool {
	n := normaliseRecoveryCode(s)
	if len(n) != 10 {
		return false
	}
	for _, r := range n {
		if !strings.ContainsRune(recoveryAlphabet, r) {
			return false
		}
	}
	return true
}

// HashRecoveryCode is the form a recovery code is stored in. The codes are
// random with about 50 bits each and tries count towards the lockout, so a
// plain SHA-256 is enough (a slow hash would let ten codes cost ten
// password checks at every use).
func HashRecoveryCode(code string) []byte {
	sum := sha256.Sum256([]byte("cqrs recovery code:" + normaliseRecoveryCode(code)))
	return sum[:]
}

func normaliseRecoveryCode(s string) string {
	return strings.Map(func(r rune) rune {
		if r == ' ' || r == '-' {
			return -1
		}
		return r
	}, strings.ToUpper(strings.TrimSpace(s)))
}
