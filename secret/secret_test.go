package secret

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"
)

// quick are real argon2id parameters, small enough for tests.
var quick = Params{MemoryKiB: 64, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32}

func TestHashAndVerify(t *testing.T) {
	h := NewHasher(quick, 1, time.Second)
	enc, err := h.Hash(context.Background(), "Riverside#2026q")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(enc, "$argon2id$v=19$m=64,t=1,p=1$") {
		t.Fatalf("encoded = %q", enc)
	}
	for _, tc := range []struct {
		password string
		want     bool
	}{{"Riverside#2026q", true}, {"riverside#2026q", false}, {"", false}} {
		if got, err := h.Verify(context.Background(), tc.password, enc); err != nil || got != tc.want {
			t.Errorf("Verify(%q) = %v, %v; want %v", tc.password, got, err, tc.want)
		}
	}
	if ok, err := h.Verify(context.Background(), "anything", ""); ok || err != nil {
		t.Errorf("empty hash: %v, %v", ok, err)
	}
}

func TestTokensAreDistinctAndHashedToSHA256(t *testing.T) {
	seen := map[string]bool{}
	for range 1000 {
		tok := NewToken()
		if len(tok) != 43 || seen[tok] {
			t.Fatalf("token %q (len %d, repeated %v)", tok, len(tok), seen[tok])
		}
		seen[tok] = true
	}
	if got := fmt.Sprintf("%x", HashToken("abc")); got != "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad" {
		t.Fatalf("HashToken(abc) = %s", got)
	}
}

func TestBusyWhenEverySlotStaysTaken(t *testing.T) {
	h := NewHasher(quick, 1, 10*time.Millisecond)
	h.slots <- struct{}{} // one long hash in flight
	if _, err := h.Hash(context.Background(), "x"); !errors.Is(err, ErrBusy) {
		t.Fatalf("err = %v, want ErrBusy", err)
	}
	<-h.slots
}

// FuzzHashToken: the stored form of any token is 32 bytes, the same every
// time, and different tokens do not collide.
func FuzzHashToken(f *testing.F) {
	f.Add("", "x")
	f.Add(NewToken(), NewToken())
	f.Add("\x00", "\x00\x00")
	f.Add(strings.Repeat("a", 10000), strings.Repeat("a", 10001))
	f.Fuzz(func(t *testing.T, a, b string) {
		ha, hb := HashToken(a), HashToken(b)
		if len(ha) != 32 || !bytes.Equal(ha, HashToken(a)) {
			t.Fatalf("HashToken(%q) = %x", a, ha)
		}
		if (a == b) != bytes.Equal(ha, hb) {
			t.Fatalf("HashToken(%q) = %x, HashToken(%q) = %x", a, ha, b, hb)
		}
	})
}

type panicked struct{ v any }

func (p panicked) Error() string { return fmt.Sprint("panic: ", p.v) }

func verifyRecovering(h *Hasher, password, encoded string) (ok bool, err error) {
	defer func() {
		if v := recover(); v != nil {
			ok, err = false, panicked{v}
		}
	}()
	return h.Verify(context.Background(), password, encoded)
}

// paramsIn reads the cost parameters out of an encoded hash, as decode does.
func paramsIn(encoded string) (m, t, p int64, ok bool) {
	parts := strings.Split(encoded, "$")
	if len(parts) != 6 {
		return 0, 0, 0, false
	}
	_, err := fmt.Sscanf(parts[3], "m=%d,t=%d,p=%d", &m, &t, &p)
	return m, t, p, err == nil
}

// costly reports parameters that decode accepts but that would make each
// fuzz run slow (up to 76 MiB and t=10); they are not tried here.
func costly(encoded string) bool {
	m, t, p, ok := paramsIn(encoded)
	return ok && (m > 64*1024 || t > 4 || p > 4 || len(encoded) > 8192)
}

// FuzzVerify: any stored string either verifies or is refused with an
// error; it never panics. A good hash of the fuzzed password still matches.
func FuzzVerify(f *testing.F) {
	h := NewHasher(quick, 2, time.Second)
	good, _ := h.Hash(context.Background(), "Riverside#2026q")
	f.Add("Riverside#2026q", good)
	f.Add("x", "")
	f.Add("x", "$argon2id$v=19$m=64,t=1,p=1$c2FsdHNhbHQ$")
	f.Add("x", "$argon2id$v=19$m=64,t=1,p=1$!!$AAAA")
	f.Add("x", "$argon2i$v=19$m=64,t=1,p=1$c2FsdA$AAAA")
	f.Add("x", "$argon2id$v=18$m=64,t=1,p=1$c2FsdA$AAAA")
	f.Add("x", "$argon2id$v=19$m=-1,t=1,p=1$c2FsdA$AAAA")
	f.Add("x", "$argon2id$v=19$m=64,t=1,p=1$$AAAA")
	f.Add("x", "$argon2id$v=19$m=64,t=1,p=1,extra$c2FsdA$AAAA")
	f.Add("x", "$$$$$")
	f.Fuzz(func(t *testing.T, password, encoded string) {
		if costly(encoded) {
			t.Skip("parameters argon2 would run unbounded on")
		}
		ok, err := verifyRecovering(h, password, encoded)
		if pe, isPanic := err.(panicked); isPanic {
			t.Fatalf("Verify(%q) panicked: %v", encoded, pe.v)
		}
		if ok && err != nil {
			t.Fatalf("Verify = true with error %v", err)
		}
		if len(password) > 64 {
			return
		}
		enc, err := h.Hash(context.Background(), password)
		if err != nil {
			t.Fatal(err)
		}
		if ok, err := h.Verify(context.Background(), password, enc); !ok || err != nil {
			t.Fatalf("Verify of a fresh hash of %q = %v, %v", password, ok, err)
		}
	})
}
