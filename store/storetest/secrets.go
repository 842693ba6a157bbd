package storetest

import (
	"bytes"
	"fmt"
	"maps"
	"sync"
	"testing"
	"time"
)

// The installation's own secrets and keys: made once, kept across a
// restart, the same for every instance that asks at once.

func init() {
	register(
		Case{"the installation's secrets are made once and kept", []string{"CSRFKey", "InstanceID", "NHSmailClientSecret", "NHSmailTenantID", "NHSmailProviderKey"}, testSecrets},
		Case{"the NHSmail signing key: made once, rotated, the old one published for a day", []string{"NHSmailSigningKeys", "RotateNHSmailSigningKey"}, testSigningKeys},
	)
}

// secrets reads every secret the installation keeps, as strings.
func secrets(t *testing.T, e Engine) map[string]string {
	t.Helper()
	out := map[string]string{}
	add := func(name string, v []byte, err error) {
		if err != nil || len(v) == 0 {
			t.Fatalf("%s: %q, %v", name, v, err)
		}
		out[name] = string(v)
	}
	csrf, err := e.CSRFKey(t.Context())
	add("CSRF key", csrf, err)
	id, err := e.InstanceID(t.Context())
	add("instance ID", []byte(id), err)
	cs, err := e.NHSmailClientSecret(t.Context())
	add("client secret", []byte(cs), err)
	tenant, err := e.NHSmailTenantID(t.Context())
	add("tenant ID", []byte(tenant), err)
	for _, name := range []string{"csrf", "access-token"} {
		k, err := e.NHSmailProviderKey(t.Context(), name)
		add("provider key "+name, k, err)
	}
	return out
}

func testSecrets(t *testing.T, cfg Config) {
	v := newEnv(t, cfg)
	// Instances starting together each make a key; all keep the first stored.
	keys := atOnce(t, 6, func() ([]byte, error) { return v.e.NHSmailProviderKey(t.Context(), "racing") })
	for _, k := range keys {
		if len(k) != 32 || !bytes.Equal(k, keys[0]) {
			t.Fatalf("keys made at once differ: %x", keys)
		}
	}
	first := secrets(t, v.e)
	seen := map[string]string{}
	for name, value := range first {
		if other, dup := seen[value]; dup {
			t.Errorf("%s and %s are the same secret", name, other)
		}
		seen[value] = name
	}
	if again := secrets(t, v.e); !maps.Equal(again, first) {
		t.Errorf("read again: %q\nfirst: %q", again, first)
	}
	reopened := cfg.Reopen(t, v.e)
	if again := secrets(t, reopened); !maps.Equal(again, first) {
		t.Errorf("after a restart: %q\nbefore: %q", again, first)
	}
	if k, _ := reopened.NHSmailProviderKey(t.Context(), "racing"); !bytes.Equal(k, keys[0]) {
		t.Error("the raced key changed across a restart")
	}
}

// atOnce calls f from n goroutines at once, as n instances starting
// together, and returns what the calls that succeeded returned.
func atOnce(t *testing.T, n int, f func() ([]byte, error)) [][]byte {
	var (
		wg  sync.WaitGroup
		mu  sync.Mutex
		out [][]byte
	)
	for range n {
		wg.Go(func() {
			v, err := f()
			if err != nil {
				t.Error(err)
				return
			}
			mu.Lock()
			out = append(out, v)
			mu.Unlock()
		})
	}
	wg.Wait()
	if len(out) == 0 {
		t.FailNow()
	}
	return out
}

func testSigningKeys(t *testing.T, cfg Config) {
	v := newEnv(t, cfg)
	moduli := atOnce(t, 3, func() ([]byte, error) {
		current, retired, err := v.e.NHSmailSigningKeys(t.Context())
		if err == nil && len(retired) != 0 {
			err = fmt.Errorf("%d retired keys before any rotation", len(retired))
		}
		if err != nil {
			return nil, err
		}
		return current.N.Bytes(), nil
	})
	for _, n := range moduli {
		if !bytes.Equal(n, moduli[0]) {
			t.Fatal("instances asking at once were given different signing keys")
		}
	}
	first, _, _ := v.e.NHSmailSigningKeys(t.Context())
	if err := v.e.RotateNHSmailSigningKey(t.Context()); err != nil {
		t.Fatal(err)
	}
	current, retired, err := v.e.NHSmailSigningKeys(t.Context())
	if err != nil || current.Equal(first) || len(retired) != 1 || !retired[0].Equal(first) {
		t.Fatalf("after rotation: new %v, %d retired (the old one: %v), %v", !current.Equal(first), len(retired), len(retired) == 1 && retired[0].Equal(first), err)
	}
	reopened := cfg.Reopen(t, v.e)
	if again, retired, err := reopened.NHSmailSigningKeys(t.Context()); err != nil || !again.Equal(current) || len(retired) != 1 {
		t.Errorf("after a restart: same %v, %d retired, %v", again.Equal(current), len(retired), err)
	}
	v.clock.Advance(24*time.Hour + time.Minute)
	if again, retired, err := reopened.NHSmailSigningKeys(t.Context()); err != nil || !again.Equal(current) || len(retired) != 0 {
		t.Errorf("a day later: same %v, %d retired still published, %v; want 0", again.Equal(current), len(retired), err)
	}
}
